/**
 * Attribute handling shared by the fused kernels and ops: activation and
 * PReLU-weight checks, broadcasting of PReLU weights, epilogue uniforms.
 */

import { TensorInfo } from '@tensorflow/tfjs-core';

import { FUSED_ACTIVATIONS, FusedActivation, KernelLimits, Support } from './types';
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

/** Limits of a WebGPU device as the kernels read them. */
export function kernelLimitsOf(limits: GPUSupportedLimits): KernelLimits {
  return {
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
  };
}
