import '../setup';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';

import { registerWebGPUFusedBackend } from '../../src/backend/register';
import { loadGraphModel } from '../../src/graph-rewrite';
import { expectAllClose } from '../helpers/compare';
import { OWN_SPEC_PREFIX, fusedBackend } from '../helpers/describe';
import { withGpuErrorTrap } from '../helpers/gpu_errors';
import { ModelBuilder, smoothImage } from './model_builder';

/**
 * tfjs-backend-webgpu's parallel shader compilation: with the flag
 * WEBGPU_ENGINE_COMPILE_ONLY an inference only creates pipelines
 * (createComputePipelineAsync) and dispatches nothing;
 * `checkCompileCompletionAsync()` awaits them; later inferences with the flag
 * off run on the compiled pipelines. The fused programs go through the same
 * path and must be correct afterwards.
 */

/** A fresh backend of its own, so no earlier spec has compiled these pipelines. */
const BACKEND = 'webgpu-fused-compile-only';
const INPUT = [1, 13, 11, 8];

/** x → DW 3x3 → PW 8→16 (a DW→PW site) → PW 16→24 relu6 → DW 3x3 s2 relu6 (a PW→DW site). */
function model(): tf.io.ModelArtifacts {
  const b = new ModelBuilder(7);
  const x = b.input('x', INPUT);
  const d1 = b.dw('dw1', x, 3, 8, { fused: ['BiasAdd', 'Relu6'] });
  const p1 = b.pw('pw1', d1, 8, 16, { fused: ['BiasAdd'] });
  const p2 = b.pw('pw2', p1, 16, 24, { fused: ['BiasAdd', 'Relu6'] });
  b.dw('dw2', p2, 3, 24, { fused: ['BiasAdd', 'Relu6'], stride: 2 });
  return b.artifacts(['x'], ['dw2']);
}

type PipelineCache = Record<string, GPUComputePipeline | Promise<GPUComputePipeline>>;
const fusedKeys = (cache: PipelineCache) => Object.keys(cache).filter((k) => /dwPw_|pwDw_/.test(k));

describe(`${OWN_SPEC_PREFIX} graph compile-only warm-up (WEBGPU_ENGINE_COMPILE_ONLY)`, () => {
  let reference: Float32Array;

  beforeAll(async () => {
    // The reference: the original graph on tfjs's cpu backend.
    await tf.setBackend('cpu');
    const original = await tfLoadGraphModel(tf.io.fromMemory(model()));
    const x = tf.tensor(smoothImage(INPUT), INPUT);
    const y = original.execute(x) as tf.Tensor;
    reference = (await y.data()) as Float32Array;
    tf.dispose([x, y]);
    original.dispose();
    registerWebGPUFusedBackend(BACKEND);
    expect(await tf.setBackend(BACKEND)).toBe(true);
  });

  afterAll(() => {
    tf.env().set('WEBGPU_ENGINE_COMPILE_ONLY', false);
    tf.removeBackend(BACKEND);
  });

  it('compiles the fused programs without running them, then runs them correctly', async () => {
    expect(await tf.setBackend(BACKEND)).toBe(true);
    const backend = fusedBackend(BACKEND);
    const cache = (backend as unknown as { pipelineCache: PipelineCache }).pipelineCache;
    const tensorsBefore = tf.memory().numTensors;
    const dataBefore = backend.numDataIds();
    // precompile: false, so that this spec drives tfjs's compile-only pass itself.
    const fused = await loadGraphModel(tf.io.fromMemory(model()), { plan: 'all', precompile: false });
    expect(fused.fusion.counts.dwpw.fused).toBe(1);
    expect(fused.fusion.counts.pwdw.fused).toBe(1);
    const x = tf.tensor(smoothImage(INPUT), INPUT);
    expect(fusedKeys(cache)).toEqual([]);

    await withGpuErrorTrap(backend.device, async () => {
      tf.env().set('WEBGPU_ENGINE_COMPILE_ONLY', true);
      try {
        const warm = fused.execute(x) as tf.Tensor;
        // Both fused programs are being compiled asynchronously; nothing was dispatched.
        const pending = fusedKeys(cache);
        expect(pending.length).toBe(2);
        expect(pending.every((k) => cache[k] instanceof Promise)).toBe(true);
        await backend.checkCompileCompletionAsync();
        warm.dispose();
      } finally {
        tf.env().set('WEBGPU_ENGINE_COMPILE_ONLY', false);
      }
      expect(fusedKeys(cache).every((k) => !(cache[k] instanceof Promise))).toBe(true);

      const compiled = Object.keys(cache).length;
      const profile = await tf.profile(async () => {
        const y = fused.execute(x) as tf.Tensor;
        expectAllClose(
          (await y.data()) as Float32Array,
          reference,
          { atol: 1e-4, rtol: 1e-4 },
          'after warm-up',
        );
        y.dispose();
      });
      // The fused kernels ran, on the pipelines compiled during the warm-up.
      expect(profile.kernelNames).toContain('FusedDepthwisePointwiseConv2D');
      expect(profile.kernelNames).toContain('FusedPointwiseDepthwiseConv2D');
      expect(Object.keys(cache).length).toBe(compiled);
    });
    x.dispose();
    fused.dispose();
    expect(tf.memory().numTensors).withContext('tensors left').toBe(tensorsBefore);
    expect(backend.numDataIds()).withContext('backend data left').toBe(dataBefore);
  });
});
