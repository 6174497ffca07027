/**
 * `precompile(model)`: builds every WebGPU pipeline a GraphModel needs for
 * an input shape before its first inference, in parallel. It runs tfjs's
 * compile-only pass (flag WEBGPU_ENGINE_COMPILE_ONLY: each program's
 * pipeline is created with createComputePipelineAsync and nothing is
 * dispatched), which also uploads the weights, then waits for the compiles.
 * The first real inference then runs without shader compiles, which
 * otherwise happen one after another as each kernel is first dispatched.
 */

import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { GraphModel } from '@tensorflow/tfjs-converter';

const COMPILE_ONLY = 'WEBGPU_ENGINE_COMPILE_ONLY';

type CompilingBackend = WebGPUBackend & { checkCompileCompletionAsync(): Promise<void> };

function isCompilingBackend(backend: tf.KernelBackend): backend is CompilingBackend {
  return typeof (backend as Partial<CompilingBackend>).checkCompileCompletionAsync === 'function';
}

/**
 * The feeds of the compile pass: zeros of each input's shape, dynamic
 * dimensions (-1) taken from `inputShapes` (one shape per input, in
 * `model.inputs` order) or else 1.
 */
function compileFeeds(model: GraphModel, inputShapes?: number[][]): tf.NamedTensorMap {
  const feeds: tf.NamedTensorMap = {};
  model.inputs.forEach((input, i) => {
    const declared = input.shape ?? [];
    const given = inputShapes?.[i];
    if (given != null && given.length !== declared.length) {
      throw new Error(
        `precompile: input '${input.name}' has rank ${declared.length}, the given shape [${given}] has rank ${given.length}`,
      );
    }
    const shape = declared.map((d, axis) => (d >= 0 ? d : (given?.[axis] ?? 1)));
    feeds[input.name] = tf.zeros(shape, input.dtype);
  });
  return feeds;
}

/** Where a precompile's time went: the compile-only pass (encoding, uploads), then waiting for the compiles. */
export interface PrecompileTimings {
  passMs: number;
  compileWaitMs: number;
}

/**
 * Compiles `model`'s WebGPU pipelines for one input shape in parallel and
 * uploads its weights, so that the first inference runs without compiles.
 * Resolves at once (zero timings) on a backend without parallel compilation (cpu, wasm).
 * Models with control flow or dynamic output shapes (which need
 * `executeAsync`) are left to compile on first use.
 */
export async function precompile(model: GraphModel, inputShapes?: number[][]): Promise<PrecompileTimings> {
  const backend = tf.backend();
  if (!isCompilingBackend(backend)) return { passMs: 0, compileWaitMs: 0 };
  const start = performance.now();
  const feeds = compileFeeds(model, inputShapes);
  const previous = tf.env().getBool(COMPILE_ONLY);
  tf.env().set(COMPILE_ONLY, true);
  try {
    // Outputs of a compile-only pass hold no data; they are disposed at once.
    tf.dispose(model.execute(feeds));
  } catch (e) {
    // execute() refuses graphs that need executeAsync; those compile on first use.
    if (!/executeAsync/.test(String((e as Error)?.message))) throw e;
  } finally {
    tf.env().set(COMPILE_ONLY, previous);
    tf.dispose(feeds);
  }
  const passEnd = performance.now();
  await backend.checkCompileCompletionAsync();
  return { passMs: passEnd - start, compileWaitMs: performance.now() - passEnd };
}
