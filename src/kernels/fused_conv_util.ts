/**
 * Attribute handling shared by the fused kernels and ops: activation and
 * PReLU-weight checks, broadcasting of PReLU weights, epilogue uniforms.
 */

import { backend_util, TensorInfo } from '@tensorflow/tfjs-core';

import { FUSED_ACTIVATIONS, FusedActivation, FusedPadding, KernelLimits, Support } from './types';
import { StageEpilogue } from './wgsl';

export function isFusedActivation(value: unknown): value is FusedActivation {
  return typeof value === 'string' && (FUSED_ACTIVATIONS as readonly string[]).includes(value);
}

/**
 * Strides (h, w, c) that broadcast PReLU weights of `alphaShape` against a
 * stage output of [N, outH, outW, channels] (0 along broadcast dimensions),
 * or an explanation when the shape does not broadcast. Accepts every shape
 * tfjs does for this: [], [C], [1, 1, C], [H, W, C] (Keras), [1, H, W, C], ...
 */
export function preluStrides(
  alphaShape: readonly number[],
  outH: number,
  outW: number,
  channels: number,
): { strides: [number, number, number] } | { error: string } {
  if (alphaShape.length > 4) {
    return { error: `PReLU weights of rank ${alphaShape.length} (at most 4)` };
  }
  const padded = [1, 1, 1, 1].slice(alphaShape.length).concat(alphaShape);
  if (padded[0] !== 1) {
    return { error: `PReLU weights ${JSON.stringify(alphaShape)} vary over the batch` };
  }
  const dims = [outH, outW, channels];
  const sizes = padded.slice(1);
  for (let i = 0; i < 3; i++) {
    if (sizes[i] !== 1 && sizes[i] !== dims[i]) {
      return {
        error: `PReLU weights ${JSON.stringify(alphaShape)} do not broadcast to [${dims.join(', ')}]`,
      };
    }
  }
  const strideW = sizes[2];
  const strideH = sizes[1] * sizes[2];
  return {
    strides: [sizes[0] === 1 ? 0 : strideH, sizes[1] === 1 ? 0 : strideW, sizes[2] === 1 ? 0 : 1],
  };
}

export interface StageAttrs {
  bias?: TensorInfo;
  activation: FusedActivation;
  preluWeights?: TensorInfo;
  leakyreluAlpha: number;
}

/** Checks one stage's epilogue inputs; `channels` is the stage's output depth. */
export function checkStage(
  stage: string,
  attrs: StageAttrs,
  outH: number,
  outW: number,
  channels: number,
): Support {
  if (!isFusedActivation(attrs.activation)) {
    return { supported: false, reason: `${stage} activation '${String(attrs.activation)}' is not supported` };
  }
  if (attrs.bias != null) {
    const size = attrs.bias.shape.reduce((a, b) => a * b, 1);
    if (
      size !== channels ||
      (attrs.bias.shape.length > 1 && attrs.bias.shape.slice(0, -1).some((d) => d !== 1))
    ) {
      return {
        supported: false,
        reason: `${stage} bias of shape ${JSON.stringify(attrs.bias.shape)} does not match ${channels} channels`,
      };
    }
  }
  if (attrs.activation === 'prelu') {
    if (attrs.preluWeights == null) {
      return { supported: false, reason: `${stage} activation 'prelu' needs PReLU weights` };
    }
    const broadcast = preluStrides(attrs.preluWeights.shape, outH, outW, channels);
    if ('error' in broadcast) {
      return { supported: false, reason: `${stage}: ${broadcast.error}` };
    }
  } else if (attrs.preluWeights != null) {
    return { supported: false, reason: `${stage} PReLU weights given for activation '${attrs.activation}'` };
  }
  if (attrs.activation === 'leakyrelu' && !Number.isFinite(attrs.leakyreluAlpha)) {
    return { supported: false, reason: `${stage} leakyrelu alpha must be a finite number` };
  }
  return { supported: true };
}

export function stageEpilogueOf(attrs: StageAttrs): StageEpilogue {
  return {
    hasBias: attrs.bias != null,
    activation: attrs.activation,
    hasPreluWeights: attrs.activation === 'prelu',
  };
}

/** Uniform data matching `epilogueUniforms(stage)`. */
export function epilogueUniformData(
  attrs: StageAttrs,
  outH: number,
  outW: number,
  channels: number,
): Array<{ type: 'int32' | 'float32'; data: number[] }> {
  let strides: [number, number, number] = [0, 0, 0];
  if (attrs.preluWeights != null) {
    const broadcast = preluStrides(attrs.preluWeights.shape, outH, outW, channels);
    if ('strides' in broadcast) strides = broadcast.strides;
  }
  return [
    { type: 'int32', data: strides },
    { type: 'float32', data: [attrs.activation === 'leakyrelu' ? attrs.leakyreluAlpha : 0] },
  ];
}

const deviceLimits = new WeakMap<object, KernelLimits>();

/**
 * Limits of a WebGPU device as the kernels read them. A device's
 * `GPUSupportedLimits` never change (and each read of one is a native call),
 * so the result for one is made once and frozen.
 */
export function kernelLimitsOf(limits: GPUSupportedLimits): KernelLimits {
  const known = deviceLimits.get(limits);
  if (known != null) return known;
  const out: KernelLimits = {
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
  };
  // A plain object may be changed by its owner; a device's limits (a host object) may not.
  if (!Object.isFrozen(limits) && Object.getPrototypeOf(limits) === Object.prototype) return out;
  Object.freeze(out);
  deviceLimits.set(limits, out);
  return out;
}

export const asPair = (v: number | [number, number] | undefined, fallback: number): [number, number] =>
  v == null ? [fallback, fallback] : typeof v === 'number' ? [v, v] : v;

/** A stride or dilation attribute as a pair, or null when it is neither a number nor a pair (e.g. a string). */
function pairOrNull(v: unknown): [unknown, unknown] | null {
  if (v == null) return [1, 1];
  if (typeof v === 'number') return [v, v];
  return Array.isArray(v) && v.length === 2 ? [v[0], v[1]] : null;
}

/** A shape-only TensorInfo, for legality checks on plain shapes. */
export const shapeOnly = (shape: readonly number[] | undefined): TensorInfo | undefined =>
  shape == null ? undefined : ({ shape: shape as number[], dtype: 'float32', dataId: {} } as TensorInfo);

export function stageAttrsOf(
  bias: readonly number[] | undefined,
  activation: FusedActivation | undefined,
  preluWeights: readonly number[] | undefined,
  leakyreluAlpha: number | undefined,
): StageAttrs {
  return {
    bias: shapeOnly(bias),
    activation: activation ?? 'linear',
    preluWeights: shapeOnly(preluWeights),
    leakyreluAlpha: leakyreluAlpha ?? 0.2,
  };
}

/**
 * The device-resource rules every fused kernel shares: one storage buffer per
 * bound tensor plus the output, and no tensor beyond the binding size.
 */
export function checkBindings(
  boundTensors: number,
  largestElementCount: number,
  limits: KernelLimits,
): Support {
  const bindings = boundTensors + 1;
  if (bindings > limits.maxStorageBuffersPerShaderStage) {
    return {
      supported: false,
      reason: `${bindings} storage buffers exceed the device limit ${limits.maxStorageBuffersPerShaderStage}`,
    };
  }
  const bytes = 4 * largestElementCount;
  if (bytes > limits.maxStorageBufferBindingSize) {
    return { supported: false, reason: `a ${bytes} B tensor exceeds the device's storage binding size` };
  }
  return { supported: true };
}

/** The depthwise convolution's geometry (tfjs's rules), or why it is invalid. */
export function depthwiseConvInfo(
  inShape: readonly number[],
  filterShape: readonly number[],
  strides: [number, number],
  pad: FusedPadding,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
): backend_util.Conv2DInfo | { error: string } {
  let convInfo: backend_util.Conv2DInfo;
  try {
    convInfo = backend_util.computeConv2DInfo(
      inShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      strides,
      1,
      pad as 'same',
      dimRoundingMode,
      true,
    );
  } catch (e) {
    return { error: `invalid padding: ${(e as Error).message}` };
  }
  if (convInfo.outHeight < 1 || convInfo.outWidth < 1) {
    return { error: `the depthwise output is empty (${convInfo.outHeight}x${convInfo.outWidth})` };
  }
  return convInfo;
}

/** Checks shared by the depthwise filter of every fused kernel. */
export function checkDepthwiseFilter(dwFilter: readonly number[], channels: number): string | null {
  if (dwFilter.length !== 4) return `dwFilter must be rank 4 [k,k,C,1], got ${JSON.stringify(dwFilter)}`;
  const [kh, kw, dwChannels, multiplier] = dwFilter;
  if (kh !== kw || kh < 1 || kh > 7) return `depthwise kernel ${kh}x${kw}: only square kernels up to 7x7`;
  if (dwChannels !== channels) return `dwFilter has ${dwChannels} channels, expected ${channels}`;
  if (multiplier !== 1) return `channel multiplier ${multiplier}: only 1 is supported`;
  return null;
}

/** [C, F] of a pointwise filter given as [1,1,C,F] or [C,F], or an error. */
export function pointwiseFilterDims(pwFilter: readonly number[]): [number, number] | { error: string } {
  const is4d = pwFilter.length === 4;
  if (!(is4d || pwFilter.length === 2) || (is4d && (pwFilter[0] !== 1 || pwFilter[1] !== 1))) {
    return { error: `pwFilter must be [1,1,C,F] or [C,F], got ${JSON.stringify(pwFilter)}` };
  }
  return is4d ? [pwFilter[2], pwFilter[3]] : [pwFilter[0], pwFilter[1]];
}

/** Checks shared by every fused kernel's common attributes. */
export function checkCommonAttrs(
  x: readonly number[],
  dataFormat: string | undefined,
  dilations: number | [number, number] | undefined,
  strides: number | [number, number] | undefined,
): string | null {
  if (x.length !== 4) return `x must be rank 4 (NHWC), got shape ${JSON.stringify(x)}`;
  if ((dataFormat ?? 'NHWC') !== 'NHWC') return `only NHWC is supported, got ${dataFormat}`;
  if (x.some((d) => !Number.isInteger(d) || d < 1))
    return `empty or invalid input shape ${JSON.stringify(x)}`;
  const d = pairOrNull(dilations);
  if (d == null) return `invalid dilations ${JSON.stringify(dilations)}: a number or a pair of numbers`;
  if (d[0] !== 1 || d[1] !== 1) return `dilation ${d}: only 1 is supported`;
  const s = pairOrNull(strides);
  if (s == null || !s.every((v) => Number.isInteger(v) && (v as number) >= 1)) {
    return `invalid strides ${JSON.stringify(strides)}: a positive integer or a pair of them`;
  }
  return null;
}
