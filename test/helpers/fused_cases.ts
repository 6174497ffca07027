/**
 * Random fused-stage cases for the kernel specs and the reference they are
 * checked against: stock tfjs ops, computed independently of this package's
 * own fallback code.
 */

import * as tf from '@tensorflow/tfjs-core';

import { FUSED_ACTIVATIONS, FusedActivation, FusedPadding } from '../../src/kernels/types';
import { computeOn, Computed } from './backends';
import { expectAllClose, Tolerance } from './compare';
import { fusedBackend } from './describe';
import { withGpuErrorTrap } from './gpu_errors';
import { expectNoLeaks } from './leaks';
import { withPoisonedBuffers } from './poison';
import { Random } from './random';

export const ALL_ACTIVATIONS: FusedActivation[] = [...FUSED_ACTIVATIONS];

/** Data for one stage's epilogue (plain arrays, so each backend builds its own tensors). */
export interface StageCase {
  bias?: Float32Array;
  activation: FusedActivation;
  alphaShape?: number[];
  alpha?: Float32Array;
  leakyreluAlpha: number;
}

/** Shapes PReLU weights can take for a stage output of [outH, outW, channels]. */
export function preluShapes(outH: number, outW: number, channels: number): number[][] {
  return [[channels], [1, 1, channels], [outH, outW, channels], [1, outH, outW, channels], [1], [outH, 1, 1]];
}

export function randomStage(
  rng: Random,
  outH: number,
  outW: number,
  channels: number,
  activation?: FusedActivation,
): StageCase {
  const act = activation ?? rng.pick(ALL_ACTIVATIONS);
  const stage: StageCase = {
    activation: act,
    leakyreluAlpha: rng.uniform(0.05, 0.4),
    bias: rng.bool(0.7) ? rng.array(channels, -0.5, 0.5) : undefined,
  };
  if (act === 'prelu') {
    stage.alphaShape = rng.pick(preluShapes(outH, outW, channels));
    stage.alpha = rng.array(
      stage.alphaShape.reduce((a, b) => a * b, 1),
      0,
      0.5,
    );
  }
  return stage;
}

export interface StageTensors {
  bias?: tf.Tensor;
  activation: FusedActivation;
  preluWeights?: tf.Tensor;
  leakyreluAlpha: number;
}

export function stageTensors(stage: StageCase): StageTensors {
  return {
    bias: stage.bias && tf.tensor1d(stage.bias),
    activation: stage.activation,
    preluWeights: stage.alpha && tf.tensor(stage.alpha, stage.alphaShape),
    leakyreluAlpha: stage.leakyreluAlpha,
  };
}

/** bias + activation with plain tfjs ops (no fused op): the reference epilogue. */
export function referenceEpilogue(y: tf.Tensor4D, stage: StageTensors): tf.Tensor4D {
  let v: tf.Tensor4D = stage.bias ? tf.add(y, stage.bias) : y;
  switch (stage.activation) {
    case 'linear':
      return v;
    case 'relu':
      return tf.relu(v);
    case 'relu6':
      return tf.relu6(v);
    case 'elu':
      return tf.elu(v);
    case 'sigmoid':
      return tf.sigmoid(v);
    case 'leakyrelu':
      return tf.leakyRelu(v, stage.leakyreluAlpha);
    case 'prelu':
      return tf.prelu(v, stage.preluWeights!) as tf.Tensor4D;
    case 'swish':
      v = tf.mul(v, tf.sigmoid(v));
      return v;
    case 'hardswish':
      return tf.mul(v, tf.div(tf.clipByValue(tf.add(v, 3), 0, 6), 6));
  }
}

export function describePadding(pad: FusedPadding): string {
  return typeof pad === 'string' || typeof pad === 'number' ? String(pad) : JSON.stringify(pad.slice(1, 3));
}

/**
 * Runs `build` on a fused backend under the WebGPU error trap, with output
 * poisoning and the leak check.
 */
export async function computeFusedChecked(
  build: () => tf.Tensor,
  label: string,
  backendName = 'webgpu-fused',
): Promise<Computed> {
  await tf.setBackend(backendName);
  const backend = fusedBackend(backendName);
  return withGpuErrorTrap(backend.device, () =>
    withPoisonedBuffers(backend, () => expectNoLeaks(() => computeOn(backendName, build), label)),
  );
}

/** Fused result vs the stock-op reference on `webgpu` and on `cpu`. */
export async function expectFusedMatchesStock(
  fused: () => tf.Tensor,
  reference: () => tf.Tensor,
  label: string,
  tolerance: Tolerance = { atol: 1e-3, rtol: 1e-3 },
): Promise<Computed> {
  const result = await computeFusedChecked(fused, label);
  for (const backend of ['webgpu', 'cpu']) {
    const expected = await computeOn(backend, reference);
    expect(result.shape).withContext(label).toEqual(expected.shape);
    expectAllClose(result.values, expected.values, tolerance, `${label} vs ${backend}`);
  }
  return result;
}

/** Output size of a depthwise conv by tfjs's own rule (to shape random PReLU weights). */
export function depthwiseOutSize(
  shape: [number, number, number, number],
  k: number,
  stride: number,
  pad: FusedPadding,
): { outHeight: number; outWidth: number } {
  return tf.backend_util.computeConv2DInfo(
    shape,
    [k, k, shape[3], 1],
    stride,
    1,
    pad as 'same',
    undefined,
    true,
  );
}

export const PADDINGS: FusedPadding[] = [
  'same',
  'valid',
  1,
  [
    [0, 0],
    [0, 1],
    [2, 0],
    [0, 0],
  ],
];

export function stageLabel(name: string, s: StageCase): string {
  return `${name} ${s.bias ? 'bias+' : ''}${s.activation}${s.alphaShape ? JSON.stringify(s.alphaShape) : ''}`;
}
