/**
 * Kernel `FusedDepthwisePointwiseConv2D` (DW→PW): depthwise k×k convolution
 * (+ bias, activation) followed by a 1x1 convolution (+ bias, activation) in
 * one dispatch. Inputs: x [N,H,W,C], dwFilter [k,k,C,1], pwFilter [1,1,C,F]
 * (or [C,F]), optional dwBias [C], dwPreluActivationWeights, pwBias [F],
 * pwPreluActivationWeights. Output [N,Ho,Wo,F].
 */

import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { backend_util, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { DepthwisePointwiseProgram } from './depthwise_pointwise_webgpu';
import { reduceSplits } from './depthwise_pointwise_reduce_webgpu';
import {
  defaultDwPwTile,
  dwPwPartialsBytes,
  dwPwTileFits,
  dwPwWorkgroupSplits,
} from './depthwise_pointwise_tile';
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
import { DwPwProblem, DwPwTile, FusedActivation, FusedPadding, KernelLimits, Support } from './types';

export const FusedDepthwisePointwiseConv2D = 'FusedDepthwisePointwiseConv2D';

export interface FusedDepthwisePointwiseConv2DInputs {
  x: TensorInfo;
  dwFilter: TensorInfo;
  pwFilter: TensorInfo;
  dwBias?: TensorInfo;
  dwPreluActivationWeights?: TensorInfo;
  pwBias?: TensorInfo;
  pwPreluActivationWeights?: TensorInfo;
}

export interface FusedDepthwisePointwiseConv2DAttrs {
  strides: number | [number, number];
  pad: FusedPadding;
  dilations?: number | [number, number];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dwActivation: FusedActivation;
  dwLeakyreluAlpha?: number;
  pwActivation: FusedActivation;
  pwLeakyreluAlpha?: number;
  /** Tile parameters; missing fields take the defaults for the shapes. */
  tile?: Partial<DwPwTile>;
}

/** The shapes `isSupported` needs (tensors or plain shapes). */
export interface DwPwShapes {
  x: readonly number[];
  dwFilter: readonly number[];
  pwFilter: readonly number[];
  dwBias?: readonly number[];
  dwPreluActivationWeights?: readonly number[];
  pwBias?: readonly number[];
  pwPreluActivationWeights?: readonly number[];
}

function stages(
  shapes: DwPwShapes,
  attrs: FusedDepthwisePointwiseConv2DAttrs,
): { dw: StageAttrs; pw: StageAttrs } {
  return {
    dw: stageAttrsOf(
      shapes.dwBias,
      attrs.dwActivation,
      shapes.dwPreluActivationWeights,
      attrs.dwLeakyreluAlpha,
    ),
    pw: stageAttrsOf(
      shapes.pwBias,
      attrs.pwActivation,
      shapes.pwPreluActivationWeights,
      attrs.pwLeakyreluAlpha,
    ),
  };
}

/** Shapes of the site as the planner sees them, or why they are not a DW→PW site. */
export function dwPwProblem(
  shapes: DwPwShapes,
  attrs: FusedDepthwisePointwiseConv2DAttrs,
): { problem: DwPwProblem; convInfo: backend_util.Conv2DInfo } | { error: string } {
  const { x, dwFilter, pwFilter } = shapes;
  const common = checkCommonAttrs(x, attrs.dataFormat, attrs.dilations, attrs.strides);
  if (common != null) return { error: common };
  const filterError = checkDepthwiseFilter(dwFilter, x[3]);
  if (filterError != null) return { error: filterError };
  const pwDims = pointwiseFilterDims(pwFilter);
  if ('error' in pwDims) return pwDims;
  const [pwIn, outChannels] = pwDims;
  if (pwIn !== x[3]) return { error: `pwFilter has ${pwIn} input channels, depthwise gives ${x[3]}` };
  if (!(Number.isInteger(outChannels) && outChannels >= 1))
    return { error: `invalid output channels ${outChannels}` };
  const strides = asPair(attrs.strides, 1);
  const convInfo = depthwiseConvInfo(x, dwFilter, strides, attrs.pad, attrs.dimRoundingMode);
  if ('error' in convInfo) return convInfo;
  return {
    convInfo,
    problem: {
      batch: x[0],
      inHeight: x[1],
      inWidth: x[2],
      channels: x[3],
      outChannels,
      kernelSize: dwFilter[0],
      stride: Math.max(...strides),
      outHeight: convInfo.outHeight,
      outWidth: convInfo.outWidth,
    },
  };
}

/**
 * The tile the kernel runs: `tile`'s fields over the default tile's. The
 * optional refinements (`channelSplits`, `workgroupSplits`, `depthwiseRun`,
 * `threadOrder`) are taken from the default only when no tile is given: they
 * only suit the default's shape.
 */
export function resolveDwPwTile(
  problem: DwPwProblem,
  limits: KernelLimits,
  tile?: Partial<DwPwTile>,
): DwPwTile {
  const base = defaultDwPwTile(problem, limits);
  if (tile != null) {
    delete base.channelSplits;
    delete base.workgroupSplits;
    delete base.depthwiseRun;
    delete base.threadOrder;
  }
  return { ...base, ...tile };
}

/** A site the kernel can run: everything the kernel function needs, computed once. */
interface CheckedSite {
  problem: DwPwProblem;
  convInfo: backend_util.Conv2DInfo;
  stages: { dw: StageAttrs; pw: StageAttrs };
  tile: DwPwTile;
}

const checkedSites = new CheckMemo<CheckedSite | { reason: string }>();

/**
 * The legality rules; on success also the geometry and tile the kernel uses.
 * Remembered per depthwise filter shape (the same array while the filter
 * tensor lives) and input.
 */
function checkSite(
  shapes: DwPwShapes,
  attrs: FusedDepthwisePointwiseConv2DAttrs,
  limits: KernelLimits,
): CheckedSite | { reason: string } {
  return rememberCheck(checkedSites, shapes.dwFilter, [shapes, limits, attrs], () =>
    computeSite(shapes, attrs, limits),
  );
}

function computeSite(
  shapes: DwPwShapes,
  attrs: FusedDepthwisePointwiseConv2DAttrs,
  limits: KernelLimits,
): CheckedSite | { reason: string } {
  const site = dwPwProblem(shapes, attrs);
  if ('error' in site) return { reason: site.error };
  const { problem } = site;
  const stageAttrs = stages(shapes, attrs);
  const checks = [
    checkStage('depthwise', stageAttrs.dw, problem.outHeight, problem.outWidth, problem.channels),
    checkStage('pointwise', stageAttrs.pw, problem.outHeight, problem.outWidth, problem.outChannels),
  ];
  const optionalInputs = [
    shapes.dwBias,
    shapes.dwPreluActivationWeights,
    shapes.pwBias,
    shapes.pwPreluActivationWeights,
  ].filter((shape) => shape != null).length;
  const tile = resolveDwPwTile(problem, limits, attrs.tile);
  const largest = Math.max(
    shapes.x.reduce((a, b) => a * b, 1),
    problem.batch * problem.outHeight * problem.outWidth * problem.outChannels,
    dwPwPartialsBytes(problem, tile) / 4,
  );
  checks.push(checkBindings(3 + optionalInputs, largest, limits));
  checks.push(dwPwTileFits(tile, limits));
  const failed = checks.find((check) => !check.supported);
  if (failed != null) return { reason: failed.reason! };
  return { problem, convInfo: site.convInfo, stages: stageAttrs, tile };
}

/**
 * Whether the kernel can run these shapes and attributes on a device with
 * `limits`; the planner and the graph rewrite ask this instead of repeating
 * the rules.
 */
export function isSupported(
  shapes: DwPwShapes,
  attrs: FusedDepthwisePointwiseConv2DAttrs,
  limits: KernelLimits,
): Support {
  const checked = checkSite(shapes, attrs, limits);
  return 'reason' in checked ? { supported: false, reason: checked.reason } : { supported: true };
}

export function fusedDepthwisePointwiseConv2D(args: {
  inputs: FusedDepthwisePointwiseConv2DInputs;
  attrs: FusedDepthwisePointwiseConv2DAttrs;
  backend: WebGPUBackend;
}): TensorInfo {
  const { inputs, attrs, backend } = args;
  const limits = kernelLimitsOf(backend.device.limits);
  const shapes: DwPwShapes = {
    x: inputs.x.shape,
    dwFilter: inputs.dwFilter.shape,
    pwFilter: inputs.pwFilter.shape,
    dwBias: inputs.dwBias?.shape,
    dwPreluActivationWeights: inputs.dwPreluActivationWeights?.shape,
    pwBias: inputs.pwBias?.shape,
    pwPreluActivationWeights: inputs.pwPreluActivationWeights?.shape,
  };
  const checked = checkSite(shapes, attrs, limits);
  if ('reason' in checked) {
    throw new Error(`${FusedDepthwisePointwiseConv2D}: ${checked.reason}`);
  }
  const { problem, convInfo, stages: stageAttrs, tile } = checked;
  const outputShape = [problem.batch, problem.outHeight, problem.outWidth, problem.outChannels];
  const splits = dwPwWorkgroupSplits(tile);
  const program = new DepthwisePointwiseProgram({
    outputShape,
    kernelSize: problem.kernelSize,
    strides: [convInfo.strideHeight, convInfo.strideWidth],
    channels: problem.channels,
    outChannels: problem.outChannels,
    dw: stageEpilogueOf(stageAttrs.dw),
    pw: stageEpilogueOf(stageAttrs.pw),
    tile,
    maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
  });
  // A split tile's first pass stores raw sums: the pointwise bias and
  // PReLU weights are bound to the reduce pass instead.
  const pwEpilogueInputs = [
    inputs.pwBias,
    stageAttrs.pw.activation === 'prelu' ? inputs.pwPreluActivationWeights : undefined,
  ].filter((t): t is TensorInfo => t != null);
  const programInputs = [
    inputs.x,
    inputs.dwFilter,
    inputs.dwBias,
    stageAttrs.dw.activation === 'prelu' ? inputs.dwPreluActivationWeights : undefined,
    inputs.pwFilter,
    ...(splits > 1 ? [] : pwEpilogueInputs),
  ].filter((t): t is TensorInfo => t != null);
  const pwUniforms = epilogueUniformData(
    stageAttrs.pw,
    problem.outHeight,
    problem.outWidth,
    problem.outChannels,
  );
  const uniforms = [
    { type: 'int32' as const, data: [convInfo.padInfo.top, convInfo.padInfo.left] },
    { type: 'int32' as const, data: [convInfo.strideHeight, convInfo.strideWidth] },
    { type: 'int32' as const, data: [problem.outChannels] },
    ...epilogueUniformData(stageAttrs.dw, problem.outHeight, problem.outWidth, problem.channels),
    ...pwUniforms,
  ];
  const out = backend.runWebGPUProgram(program, programInputs, 'float32', uniforms);
  if (splits === 1) return out;
  return reduceSplits(
    backend,
    out,
    splits,
    {
      outputShape,
      pw: stageEpilogueOf(stageAttrs.pw),
      maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    },
    pwEpilogueInputs,
    pwUniforms,
  );
}

export const fusedDepthwisePointwiseConv2DConfig: KernelConfig = {
  kernelName: FusedDepthwisePointwiseConv2D,
  backendName: 'webgpu-fused',
  kernelFunc: fusedDepthwisePointwiseConv2D as unknown as KernelFunc,
};
