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
import { defaultDwPwTile, dwPwTileFits } from './depthwise_pointwise_tile';
import {
  checkStage,
  epilogueUniformData,
  kernelLimitsOf,
  StageAttrs,
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

const asPair = (v: number | [number, number] | undefined, fallback: number): [number, number] =>
  v == null ? [fallback, fallback] : typeof v === 'number' ? [v, v] : v;

const shapeInfo = (shape: readonly number[] | undefined): TensorInfo | undefined =>
  shape == null ? undefined : ({ shape: shape as number[], dtype: 'float32', dataId: {} } as TensorInfo);

function stages(
  shapes: DwPwShapes,
  attrs: FusedDepthwisePointwiseConv2DAttrs,
): { dw: StageAttrs; pw: StageAttrs } {
  return {
    dw: {
      bias: shapeInfo(shapes.dwBias),
      activation: attrs.dwActivation ?? 'linear',
      preluWeights: shapeInfo(shapes.dwPreluActivationWeights),
      leakyreluAlpha: attrs.dwLeakyreluAlpha ?? 0.2,
    },
    pw: {
      bias: shapeInfo(shapes.pwBias),
      activation: attrs.pwActivation ?? 'linear',
      preluWeights: shapeInfo(shapes.pwPreluActivationWeights),
      leakyreluAlpha: attrs.pwLeakyreluAlpha ?? 0.2,
    },
  };
}

/** Shapes of the site as the planner sees them, or why they are not a DW→PW site. */
export function dwPwProblem(
  shapes: DwPwShapes,
  attrs: FusedDepthwisePointwiseConv2DAttrs,
): { problem: DwPwProblem; convInfo: backend_util.Conv2DInfo } | { error: string } {
  const { x, dwFilter, pwFilter } = shapes;
  if (x.length !== 4) return { error: `x must be rank 4 (NHWC), got shape ${JSON.stringify(x)}` };
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC')
    return { error: `only NHWC is supported, got ${attrs.dataFormat}` };
  if (dwFilter.length !== 4)
    return { error: `dwFilter must be rank 4 [k,k,C,1], got ${JSON.stringify(dwFilter)}` };
  const [kh, kw, dwChannels, multiplier] = dwFilter;
  if (kh !== kw || kh < 1 || kh > 7)
    return { error: `depthwise kernel ${kh}x${kw}: only square kernels up to 7x7` };
  if (dwChannels !== x[3]) return { error: `dwFilter has ${dwChannels} channels, x has ${x[3]}` };
  if (multiplier !== 1) return { error: `channel multiplier ${multiplier}: only 1 is supported` };
  const pwIs4d = pwFilter.length === 4;
  if (!(pwIs4d || pwFilter.length === 2) || (pwIs4d && (pwFilter[0] !== 1 || pwFilter[1] !== 1))) {
    return { error: `pwFilter must be [1,1,C,F] or [C,F], got ${JSON.stringify(pwFilter)}` };
  }
  const [pwIn, outChannels] = pwIs4d ? [pwFilter[2], pwFilter[3]] : [pwFilter[0], pwFilter[1]];
  if (pwIn !== dwChannels)
    return { error: `pwFilter has ${pwIn} input channels, depthwise gives ${dwChannels}` };
  const dilations = asPair(attrs.dilations, 1);
  if (dilations[0] !== 1 || dilations[1] !== 1)
    return { error: `dilation ${dilations}: only 1 is supported` };
  const strides = asPair(attrs.strides, 1);
  if (!strides.every((s) => Number.isInteger(s) && s >= 1)) return { error: `invalid strides ${strides}` };
  if (x.some((d) => !Number.isInteger(d) || d < 1) || outChannels < 1) {
    return { error: `empty or invalid shapes x=${JSON.stringify(x)} F=${outChannels}` };
  }
  let convInfo: backend_util.Conv2DInfo;
  try {
    convInfo = backend_util.computeConv2DInfo(
      x as [number, number, number, number],
      dwFilter as [number, number, number, number],
      strides,
      1,
      attrs.pad as 'same',
      attrs.dimRoundingMode,
      true,
    );
  } catch (e) {
    return { error: `invalid padding: ${(e as Error).message}` };
  }
  if (convInfo.outHeight < 1 || convInfo.outWidth < 1) {
    return { error: `the depthwise output is empty (${convInfo.outHeight}x${convInfo.outWidth})` };
  }
  return {
    convInfo,
    problem: {
      batch: x[0],
      inHeight: x[1],
      inWidth: x[2],
      channels: dwChannels,
      outChannels,
      kernelSize: kh,
      stride: Math.max(...strides),
      outHeight: convInfo.outHeight,
      outWidth: convInfo.outWidth,
    },
  };
}

export function resolveDwPwTile(
  problem: DwPwProblem,
  limits: KernelLimits,
  tile?: Partial<DwPwTile>,
): DwPwTile {
  return { ...defaultDwPwTile(problem, limits), ...tile };
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
  const site = dwPwProblem(shapes, attrs);
  if ('error' in site) return { supported: false, reason: site.error };
  const { problem } = site;
  const { dw, pw } = stages(shapes, attrs);
  for (const check of [
    checkStage('depthwise', dw, problem.outHeight, problem.outWidth, problem.channels),
    checkStage('pointwise', pw, problem.outHeight, problem.outWidth, problem.outChannels),
  ]) {
    if (!check.supported) return check;
  }
  const bindings =
    1 +
    3 +
    [shapes.dwBias, shapes.dwPreluActivationWeights, shapes.pwBias, shapes.pwPreluActivationWeights].filter(
      (s) => s != null,
    ).length;
  if (bindings > limits.maxStorageBuffersPerShaderStage) {
    return { supported: false, reason: `${bindings} storage buffers exceed the device limit` };
  }
  const largest =
    4 *
    Math.max(
      shapes.x.reduce((a, b) => a * b, 1),
      problem.batch * problem.outHeight * problem.outWidth * problem.outChannels,
    );
  if (largest > limits.maxStorageBufferBindingSize) {
    return { supported: false, reason: `a ${largest} B tensor exceeds the device's storage binding size` };
  }
  return dwPwTileFits(resolveDwPwTile(problem, limits, attrs.tile), limits);
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
  const support = isSupported(shapes, attrs, limits);
  if (!support.supported) {
    throw new Error(`${FusedDepthwisePointwiseConv2D}: ${support.reason}`);
  }
  const site = dwPwProblem(shapes, attrs);
  if ('error' in site) throw new Error(site.error); // unreachable: isSupported checked it
  const { problem, convInfo } = site;
  const stageAttrs = stages(shapes, attrs);
  const program = new DepthwisePointwiseProgram({
    outputShape: [problem.batch, problem.outHeight, problem.outWidth, problem.outChannels],
    kernelSize: problem.kernelSize,
    channels: problem.channels,
    outChannels: problem.outChannels,
    dw: stageEpilogueOf(stageAttrs.dw),
    pw: stageEpilogueOf(stageAttrs.pw),
    tile: resolveDwPwTile(problem, limits, attrs.tile),
    maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
  });
  const programInputs = [
    inputs.x,
    inputs.dwFilter,
    inputs.dwBias,
    stageAttrs.dw.activation === 'prelu' ? inputs.dwPreluActivationWeights : undefined,
    inputs.pwFilter,
    inputs.pwBias,
    stageAttrs.pw.activation === 'prelu' ? inputs.pwPreluActivationWeights : undefined,
  ].filter((t): t is TensorInfo => t != null);
  const uniforms = [
    { type: 'int32' as const, data: [convInfo.padInfo.top, convInfo.padInfo.left] },
    { type: 'int32' as const, data: [convInfo.strideHeight, convInfo.strideWidth] },
    ...epilogueUniformData(stageAttrs.dw, problem.outHeight, problem.outWidth, problem.channels),
    ...epilogueUniformData(stageAttrs.pw, problem.outHeight, problem.outWidth, problem.outChannels),
  ];
  return backend.runWebGPUProgram(program, programInputs, 'float32', uniforms);
}

export const fusedDepthwisePointwiseConv2DConfig: KernelConfig = {
  kernelName: FusedDepthwisePointwiseConv2D,
  backendName: 'webgpu-fused',
  kernelFunc: fusedDepthwisePointwiseConv2D as unknown as KernelFunc,
};
