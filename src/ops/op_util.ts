import * as tf from '@tensorflow/tfjs-core';

import { kernelLimitsOf } from '../kernels/fused_conv_util';
import { KernelLimits, Support } from '../kernels/types';

export function toFloatTensor(value: tf.Tensor | tf.TensorLike, argName: string, opName: string): tf.Tensor {
  const t = value instanceof tf.Tensor ? value : tf.tensor(value as tf.TensorLike);
  if (t.dtype !== 'float32') {
    throw new Error(`${opName}: '${argName}' must be float32, got ${t.dtype}`);
  }
  return t;
}

/**
 * Converts the given (possibly absent) tensor-likes of an op's arguments;
 * an absent one of `required` is an error naming it.
 */
export function floatTensors<K extends string>(
  args: Partial<Record<K, tf.Tensor | tf.TensorLike>>,
  names: readonly K[],
  opName: string,
  required: readonly K[] = [],
): Partial<Record<K, tf.Tensor>> {
  const out: Partial<Record<K, tf.Tensor>> = {};
  for (const name of names) {
    const value = args[name];
    if (value != null) out[name] = toFloatTensor(value, name, opName);
    else if (required.includes(name)) throw new Error(`${opName}: '${name}' is required`);
  }
  return out;
}

/** The current backend's WebGPU limits, or null when it is not a WebGPU backend. */
export function backendLimits(): KernelLimits | null {
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  return device?.limits == null ? null : kernelLimitsOf(device.limits);
}

/** Limits for the shape rules when no WebGPU device is involved. */
export const UNLIMITED: KernelLimits = Object.freeze({
  maxComputeWorkgroupStorageSize: Infinity,
  maxComputeInvocationsPerWorkgroup: Infinity,
  maxComputeWorkgroupSizeX: Infinity,
  maxComputeWorkgroupsPerDimension: Infinity,
  maxStorageBuffersPerShaderStage: Infinity,
  maxStorageBufferBindingSize: Infinity,
});

export interface FusedOpSpec<A extends { tile?: unknown }> {
  opName: string;
  kernelName: string;
  inputs: Record<string, tf.Tensor | undefined>;
  attrs: A;
  isSupported: (shapes: Record<string, number[] | undefined>, attrs: A, limits: KernelLimits) => Support;
  stock: () => tf.Tensor4D;
}

/**
 * Runs a fused op: validates with the kernel's own legality rules (the same
 * on every backend, so a model that runs on cpu runs fused too), then runs the
 * fused kernel where the current backend has it, else the stock-op form.
 */
export function fusedOrStock<A extends { tile?: unknown }>(spec: FusedOpSpec<A>): tf.Tensor4D {
  const limits = backendLimits();
  const hasKernel = limits != null && tf.getKernel(spec.kernelName, tf.getBackend()) != null;
  const shapes: Record<string, number[] | undefined> = {};
  for (const name in spec.inputs) shapes[name] = spec.inputs[name]?.shape;
  // Tiles only matter to the kernel; the stock path checks shapes only.
  const attrs = hasKernel ? spec.attrs : { ...spec.attrs, tile: undefined };
  const support = spec.isSupported(shapes, attrs, hasKernel ? limits : UNLIMITED);
  if (!support.supported) {
    throw new Error(`${spec.opName}: ${support.reason}`);
  }
  if (hasKernel) {
    const inputs: tf.NamedTensorMap = {};
    for (const name in spec.inputs) {
      const t = spec.inputs[name];
      if (t != null) inputs[name] = t;
    }
    return tf
      .engine()
      .runKernel(spec.kernelName, inputs, spec.attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  }
  return tf.tidy(spec.stock);
}
