/**
 * Running an original and a rewritten graph model side by side and
 * comparing named outputs (abs + rel tolerance, NaN/Inf rejected).
 */

import * as tf from '@tensorflow/tfjs-core';
import { GraphModel, loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';

import { FusedLoadOptions, FusionReport, loadGraphModel } from '../../src/graph-rewrite';
import { expectAllClose, findMismatches, Tolerance } from '../helpers/compare';
import { fusedBackend } from '../helpers/describe';
import { withPoisonedBuffers } from '../helpers/poison';

export interface NamedOutput {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface ModelRun {
  outputs: NamedOutput[];
  report?: FusionReport;
  /** Kernels the run dispatched (from tf.profile), when asked for. */
  kernels?: Set<string>;
}

/**
 * Loads `artifacts` on `backend` (original, or rewritten when `fuse` is
 * given), executes `outputs` for one input and reads them back. The model is
 * disposed afterwards.
 */
export async function runModel(
  artifacts: tf.io.ModelArtifacts,
  backend: string,
  input: { shape: number[]; values: Float32Array },
  outputs: string[],
  fuse?: FusedLoadOptions,
  profileKernels = false,
): Promise<ModelRun> {
  expect(await tf.setBackend(backend)).toBe(true);
  const before = tf.memory().numTensors;
  let model: GraphModel;
  let report: FusionReport | undefined;
  if (fuse != null) {
    const fused = await loadGraphModel(tf.io.fromMemory(artifacts), fuse);
    report = fused.fusion;
    model = fused;
  } else {
    model = await tfLoadGraphModel(tf.io.fromMemory(artifacts));
  }
  const execute = async () => {
    const x = tf.tensor(input.values, input.shape);
    const ys = model.execute(x, outputs);
    x.dispose();
    const list = Array.isArray(ys) ? ys : [ys];
    const result: NamedOutput[] = [];
    for (const [i, y] of list.entries()) {
      result.push({ name: outputs[i], shape: y.shape.slice(), values: (await y.data()) as Float32Array });
    }
    tf.dispose(list);
    return result;
  };
  try {
    const isFusedBackend = backend === 'webgpu-fused';
    const result = isFusedBackend
      ? await withPoisonedBuffers(fusedBackend(backend), execute)
      : await execute();
    if (!profileKernels) return { outputs: result, report };
    // A second run under tf.profile: which kernels actually ran (fused, or a stock fallback).
    const info = await tf.profile(async () => {
      await execute();
    });
    return { outputs: result, report, kernels: new Set(info.kernelNames) };
  } finally {
    model.dispose();
    expect(tf.memory().numTensors)
      .withContext(`tensors left after disposing the model on ${backend}`)
      .toBe(before);
  }
}

export interface Agreement {
  name: string;
  maxAbs: number;
  maxRel: number;
}

/** Compares two runs output by output; returns the largest abs / rel differences. */
export function expectSameOutputs(
  actual: ModelRun,
  expected: ModelRun,
  tolerance: Tolerance,
  label: string,
): Agreement[] {
  const agreements: Agreement[] = [];
  expect(actual.outputs.length).withContext(label).toBe(expected.outputs.length);
  for (const [i, e] of expected.outputs.entries()) {
    const a = actual.outputs[i];
    expect(a.shape).withContext(`${label} ${e.name} shape`).toEqual(e.shape);
    expectAllClose(a.values, e.values, tolerance, `${label} ${e.name}`);
    let maxAbs = 0;
    let maxRel = 0;
    for (let k = 0; k < e.values.length; k++) {
      const d = Math.abs(a.values[k] - e.values[k]);
      maxAbs = Math.max(maxAbs, d);
      maxRel = Math.max(maxRel, d / Math.max(Math.abs(e.values[k]), 1e-3));
    }
    agreements.push({ name: e.name, maxAbs, maxRel });
  }
  return agreements;
}

/** Every value finite (a reference full of NaN would otherwise "agree"). */
export function expectFinite(run: ModelRun, label: string): void {
  for (const o of run.outputs) {
    const bad = findMismatches(o.values, o.values, { atol: Infinity, rtol: 0 }).length;
    expect(bad).withContext(`${label} ${o.name}: non-finite values`).toBe(0);
  }
}
