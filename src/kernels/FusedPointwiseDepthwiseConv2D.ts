/**
 * Kernel `FusedPointwiseDepthwiseConv2D` (PW→DW): a 1x1 convolution (+ bias,
 * activation) followed by a depthwise k×k convolution (+ bias, activation)
 * in one dispatch. Inputs: x [N,H,W,Cin], pwFilter [1,1,Cin,M] (or [Cin,M]),
 * dwFilter [k,k,M,1], optional pwBias [M], pwPreluActivationWeights, dwBias
 * [M], dwPreluActivationWeights. Output [N,Ho,Wo,M].
 */

import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { backend_util, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { CheckMemo, rememberCheck } from './check_cache';
import {
  asPair,
  checkBindings,
  checkCommonAttrs,
  checkDepthwiseFilter,
  checkStage,
  depthwiseConvInfo,
  epilogueUniformData,
  kernelLimitsOf,
  pointwiseFilterDims,
  StageAttrs,
  stageAttrsOf,
  stageEpilogueOf,
} from './fused_conv_util';
import { PointwiseDepthwiseProgram } from './pointwise_depthwise_webgpu';
import { defaultPwDwTile, pwDwTileFits } from './pointwise_depthwise_tile';
import { FusedActivation, FusedPadding, KernelLimits, PwDwProblem, PwDwTile, Support } from './types';

export const FusedPointwiseDepthwiseConv2D = 'FusedPointwiseDepthwiseConv2D';

export interface FusedPointwiseDepthwiseConv2DInputs {
  x: TensorInfo;
  pwFilter: TensorInfo;
  dwFilter: TensorInfo;
  pwBias?: TensorInfo;
  pwPreluActivationWeights?: TensorInfo;
  dwBias?: TensorInfo;
  dwPreluActivationWeights?: TensorInfo;
}

export interface FusedPointwiseDepthwiseConv2DAttrs {
  /** Depthwise strides, padding and rounding (the pointwise is 1x1, stride 1). */
  strides: number | [number, number];
  pad: FusedPadding;
  dilations?: number | [number, number];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  pwActivation: FusedActivation;
  pwLeakyreluAlpha?: number;
  dwActivation: FusedActivation;
  dwLeakyreluAlpha?: number;
  /** Tile parameters; missing fields take the defaults for the shapes. */
  tile?: Partial<PwDwTile>;
}

export interface PwDwShapes {
  x: readonly number[];
  pwFilter: readonly number[];
  dwFilter: readonly number[];
  pwBias?: readonly number[];
  pwPreluActivationWeights?: readonly number[];
  dwBias?: readonly number[];
  dwPreluActivationWeights?: readonly number[];
}

function stages(
  shapes: PwDwShapes,
  attrs: FusedPointwiseDepthwiseConv2DAttrs,
): { pw: StageAttrs; dw: StageAttrs } {
  return {
    pw: stageAttrsOf(
      shapes.pwBias,
      attrs.pwActivation,
      shapes.pwPreluActivationWeights,
      attrs.pwLeakyreluAlpha,
    ),
    dw: stageAttrsOf(
      shapes.dwBias,
      attrs.dwActivation,
      shapes.dwPreluActivationWeights,
      attrs.dwLeakyreluAlpha,
    ),
  };
}

/** Shapes of the site as the planner sees them, or why they are not a PW→DW site. */
export function pwDwProblem(
  shapes: PwDwShapes,
  attrs: FusedPointwiseDepthwiseConv2DAttrs,
): { problem: PwDwProblem; convInfo: backend_util.Conv2DInfo } | { error: string } {
  const { x, pwFilter, dwFilter } = shapes;
  const common = checkCommonAttrs(x, attrs.dataFormat, attrs.dilations, attrs.strides);
  if (common != null) return { error: common };
  const pwDims = pointwiseFilterDims(pwFilter);
  if ('error' in pwDims) return pwDims;
  const [pwIn, channels] = pwDims;
  if (pwIn !== x[3]) return { error: `pwFilter has ${pwIn} input channels, x has ${x[3]}` };
  if (!(Number.isInteger(channels) && channels >= 1))
    return { error: `invalid pointwise channels ${channels}` };
  const filterError = checkDepthwiseFilter(dwFilter, channels);
  if (filterError != null) return { error: filterError };
  const strides = asPair(attrs.strides, 1);
  const convInfo = depthwiseConvInfo(
    [x[0], x[1], x[2], channels],
    dwFilter,
    strides,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  if ('error' in convInfo) return convInfo;
  return {
    convInfo,
    problem: {
      batch: x[0],
      inHeight: x[1],
      inWidth: x[2],
      inChannels: x[3],
      channels,
      kernelSize: dwFilter[0],
      stride: Math.max(...strides),
      outHeight: convInfo.outHeight,
      outWidth: convInfo.outWidth,
    },
  };
}

/**
 * The tile the kernel runs: defaults for missing fields, and never taller or
 * wider than the output (a larger tile only adds halo work outside the image).
 */
export function resolvePwDwTile(
  problem: PwDwProblem,
  limits: KernelLimits,
  tile?: Partial<PwDwTile>,
): PwDwTile {
  const resolved = { ...defaultPwDwTile(problem, limits), ...tile };
  resolved.tileH = Math.min(resolved.tileH, problem.outHeight);
  resolved.tileW = Math.min(resolved.tileW, problem.outWidth);
  return resolved;
}

/** A site the kernel can run: everything the kernel function needs, computed once. */
interface CheckedSite {
  problem: PwDwProblem;
  convInfo: backend_util.Conv2DInfo;
  stages: { pw: StageAttrs; dw: StageAttrs };
  tile: PwDwTile;
}

const checkedSites = new CheckMemo<CheckedSite | { reason: string }>();

/**
 * The legality rules; on success also the geometry and tile the kernel uses.
 * Remembered per depthwise filter shape (the same array while the filter
 * tensor lives) and input.
 */
function checkSite(
  shapes: PwDwShapes,
  attrs: FusedPointwiseDepthwiseConv2DAttrs,
  limits: KernelLimits,
): CheckedSite | { reason: string } {
  return rememberCheck(checkedSites, shapes.dwFilter, [shapes, limits, attrs], () =>
    computeSite(shapes, attrs, limits),
  );
}

function computeSite(
  shapes: PwDwShapes,
  attrs: FusedPointwiseDepthwiseConv2DAttrs,
  limits: KernelLimits,
): CheckedSite | { reason: string } {
  const site = pwDwProblem(shapes, attrs);
  if ('error' in site) return { reason: site.error };
  const { problem, convInfo } = site;
  const stageAttrs = stages(shapes, attrs);
  const checks = [
    checkStage('pointwise', stageAttrs.pw, problem.inHeight, problem.inWidth, problem.channels),
    checkStage('depthwise', stageAttrs.dw, problem.outHeight, problem.outWidth, problem.channels),
  ];
  const optionalInputs = [
    shapes.pwBias,
    shapes.pwPreluActivationWeights,
    shapes.dwBias,
    shapes.dwPreluActivationWeights,
  ].filter((shape) => shape != null).length;
  const largest = Math.max(
    shapes.x.reduce((a, b) => a * b, 1),
    problem.batch * problem.outHeight * problem.outWidth * problem.channels,
  );
  checks.push(checkBindings(3 + optionalInputs, largest, limits));
  const tile = resolvePwDwTile(problem, limits, attrs.tile);
  checks.push(pwDwTileFits(tile, problem.kernelSize, [convInfo.strideHeight, convInfo.strideWidth], limits));
  const failed = checks.find((check) => !check.supported);
  if (failed != null) return { reason: failed.reason! };
  return { problem, convInfo, stages: stageAttrs, tile };
}

/** Whether the kernel can run these shapes and attributes on a device with `limits`. */
export function isSupported(
  shapes: PwDwShapes,
  attrs: FusedPointwiseDepthwiseConv2DAttrs,
  limits: KernelLimits,
): Support {
  const checked = checkSite(shapes, attrs, limits);
  return 'reason' in checked ? { supported: false, reason: checked.reason } : { supported: true };
}

export function fusedPointwiseDepthwiseConv2D(args: {
  inputs: FusedPointwiseDepthwiseConv2DInputs;
  attrs: FusedPointwiseDepthwiseConv2DAttrs;
  backend: WebGPUBackend;
}): TensorInfo {
  const { inputs, attrs, backend } = args;
  const limits = kernelLimitsOf(backend.device.limits);
  const shapes: PwDwShapes = {
    x: inputs.x.shape,
    pwFilter: inputs.pwFilter.shape,
    dwFilter: inputs.dwFilter.shape,
    pwBias: inputs.pwBias?.shape,
    pwPreluActivationWeights: inputs.pwPreluActivationWeights?.shape,
    dwBias: inputs.dwBias?.shape,
    dwPreluActivationWeights: inputs.dwPreluActivationWeights?.shape,
  };
  const checked = checkSite(shapes, attrs, limits);
  if ('reason' in checked) {
    throw new Error(`${FusedPointwiseDepthwiseConv2D}: ${checked.reason}`);
  }
  const { problem, convInfo, stages: stageAttrs, tile } = checked;
  const program = new PointwiseDepthwiseProgram({
    outputShape: [problem.batch, problem.outHeight, problem.outWidth, problem.channels],
    inChannels: problem.inChannels,
    channels: problem.channels,
    kernelSize: problem.kernelSize,
    strides: [convInfo.strideHeight, convInfo.strideWidth],
    pw: stageEpilogueOf(stageAttrs.pw),
    dw: stageEpilogueOf(stageAttrs.dw),
    tile,
    maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
  });
  const programInputs = [
    inputs.x,
    inputs.pwFilter,
    inputs.pwBias,
    stageAttrs.pw.activation === 'prelu' ? inputs.pwPreluActivationWeights : undefined,
    inputs.dwFilter,
    inputs.dwBias,
    stageAttrs.dw.activation === 'prelu' ? inputs.dwPreluActivationWeights : undefined,
  ].filter((t): t is TensorInfo => t != null);
  const uniforms = [
    { type: 'int32' as const, data: [convInfo.padInfo.top, convInfo.padInfo.left] },
    ...epilogueUniformData(stageAttrs.pw, problem.inHeight, problem.inWidth, problem.channels),
    ...epilogueUniformData(stageAttrs.dw, problem.outHeight, problem.outWidth, problem.channels),
  ];
  return backend.runWebGPUProgram(program, programInputs, 'float32', uniforms);
}

export const fusedPointwiseDepthwiseConv2DConfig: KernelConfig = {
  kernelName: FusedPointwiseDepthwiseConv2D,
  backendName: 'webgpu-fused',
  kernelFunc: fusedPointwiseDepthwiseConv2D as unknown as KernelFunc,
};
