/**
 * The pointwise path of `webgpu-fused`'s Conv2D and FusedConv2D kernels: 1x1
 * convolutions at stride 1 (the expansion and projection layers of
 * MobileNets) run as PointwiseConv2DProgram with a tile chosen per shape;
 * everything else returns null and the caller runs tfjs's own kernel.
 */

import { env, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

import { reduceSplits } from './depthwise_pointwise_reduce_webgpu';
import {
  asPair,
  checkCommonAttrs,
  checkStage,
  epilogueUniformData,
  kernelLimitsOf,
  StageAttrs,
  stageEpilogueOf,
} from './fused_conv_util';
import { PointwiseConv2DProgram } from './pointwise_conv2d_webgpu';
import {
  defaultPointwiseTile,
  pointwiseBeatsStock,
  PointwiseProblem,
  PointwiseTile,
  pwSplits,
  pwTileFits,
} from './pointwise_tile';
import { KernelLimits, Support } from './types';

/** tfjs flag: run 1x1 convolutions with PointwiseConv2DProgram (default) or with tfjs's kernels. */
export const POINTWISE_FLAG = 'WEBGPU_FUSED_POINTWISE';
env().registerFlag(POINTWISE_FLAG, () => true);

export interface PointwiseConvAttrs {
  strides: number | [number, number];
  pad: unknown;
  dataFormat?: string;
  dilations?: number | [number, number];
}

/** 'same', 'valid', 0 and all-zero explicit pads are the same for a 1x1 window at stride 1. */
function noPadding(pad: unknown): boolean {
  if (pad === 'same' || pad === 'valid' || pad === 0) return true;
  return Array.isArray(pad) && pad.flat().every((p) => p === 0);
}

/** The problem when `x` ⊛ `filter` is a pointwise convolution the program runs, else why not. */
export function pointwiseProblem(
  x: TensorInfo,
  filter: TensorInfo,
  attrs: PointwiseConvAttrs,
): PointwiseProblem | { reason: string } {
  if (x.dtype !== 'float32' || filter.dtype !== 'float32') return { reason: 'not float32' };
  const common = checkCommonAttrs(x.shape, attrs.dataFormat, attrs.dilations, attrs.strides);
  if (common != null) return { reason: common };
  const [sh, sw] = asPair(attrs.strides, 1);
  if (sh !== 1 || sw !== 1) return { reason: 'stride ≠ 1' };
  if (filter.shape.length !== 4) return { reason: 'filter not rank 4' };
  const [kh, kw, inC, outC] = filter.shape;
  if (kh !== 1 || kw !== 1) return { reason: 'not a 1x1 filter' };
  if (!noPadding(attrs.pad)) return { reason: 'padded' };
  if (x.shape[3] !== inC) return { reason: 'channel mismatch' };
  if (inC % 4 !== 0) return { reason: 'input channels not a multiple of 4' };
  if (outC < 1) return { reason: 'no output channels' };
  return { pixels: x.shape[0] * x.shape[1] * x.shape[2], inChannels: inC, outChannels: outC };
}

const tiles = new WeakMap<KernelLimits, Map<string, PointwiseTile>>();

/** The default tile of `problem` on a device, computed once per shape. */
function tileOf(problem: PointwiseProblem, limits: KernelLimits): PointwiseTile {
  let perDevice = tiles.get(limits);
  if (perDevice == null) {
    perDevice = new Map();
    tiles.set(limits, perDevice);
  }
  const key = `${problem.pixels},${problem.inChannels},${problem.outChannels}`;
  let tile = perDevice.get(key);
  if (tile == null) {
    tile = Object.freeze(defaultPointwiseTile(problem, limits));
    perDevice.set(key, tile);
  }
  return tile;
}

/** Whether the tensors of `problem` (and its partial sums) fit the device's binding size. */
function fitsBindings(problem: PointwiseProblem, tile: PointwiseTile, limits: KernelLimits): Support {
  const largest = Math.max(
    problem.pixels * problem.inChannels,
    problem.pixels * problem.outChannels * pwSplits(tile),
  );
  if (4 * largest > limits.maxStorageBufferBindingSize) {
    return { supported: false, reason: 'a tensor exceeds the storage binding size' };
  }
  return pwTileFits(tile, limits);
}

/**
 * Runs x ⊛ filter (+ the stage's bias and activation) with the pointwise
 * program, or returns null when it does not apply (the caller falls back
 * to tfjs's kernel). `tile` overrides the default (benchmarks, tests).
 */
export function runPointwiseConv2D(
  backend: WebGPUBackend,
  x: TensorInfo,
  filter: TensorInfo,
  attrs: PointwiseConvAttrs,
  stage: StageAttrs,
  tile?: PointwiseTile,
): TensorInfo | null {
  if (!env().getBool(POINTWISE_FLAG)) return null;
  const problem = pointwiseProblem(x, filter, attrs);
  if ('reason' in problem) return null;
  // Shapes where tfjs's kernel measured faster stay with it, unless it cannot
  // run them: its vec4 matmul binds PReLU weights as vec4s, so weights of
  // fewer than 4 elements (e.g. one shared slope) fail to bind there.
  const tinyPreluWeights =
    stage.activation === 'prelu' &&
    stage.preluWeights != null &&
    stage.preluWeights.shape.reduce((a, b) => a * b, 1) < 4;
  if (tile == null && !tinyPreluWeights && !pointwiseBeatsStock(problem)) return null;
  const [n, h, w] = x.shape;
  const outC = problem.outChannels;
  if (!checkStage('pointwise', stage, h, w, outC).supported) return null;
  const limits = kernelLimitsOf(backend.device.limits);
  const chosen = tile ?? tileOf(problem, limits);
  if (!fitsBindings(problem, chosen, limits).supported) return null;
  const outputShape = [n, h, w, outC];
  const epilogue = stageEpilogueOf(stage);
  const epilogueInputs = [stage.bias, stage.activation === 'prelu' ? stage.preluWeights : undefined].filter(
    (t): t is TensorInfo => t != null,
  );
  const uniforms = epilogueUniformData(stage, h, w, outC);
  const splits = pwSplits(chosen);
  const programUniforms = [
    { type: 'int32' as const, data: [splits] },
    { type: 'int32' as const, data: [outC] },
    ...uniforms,
  ];
  const program = new PointwiseConv2DProgram({
    outputShape,
    inChannels: problem.inChannels,
    pw: epilogue,
    tile: chosen,
    maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
  });
  const inputs = [x, filter, ...(splits > 1 ? [] : epilogueInputs)];
  const out = backend.runWebGPUProgram(program, inputs, 'float32', programUniforms);
  if (splits === 1) return out;
  return reduceSplits(
    backend,
    out,
    splits,
    {
      outputShape,
      pw: epilogue,
      maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    },
    epilogueInputs,
    uniforms,
  );
}
