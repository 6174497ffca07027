import * as tf from '@tensorflow/tfjs-core';

import { kernelLimitsOf } from '../kernels/fused_conv_util';
import { KernelLimits } from '../kernels/types';

export function toFloatTensor(value: tf.Tensor | tf.TensorLike, argName: string, opName: string): tf.Tensor {
  const t = value instanceof tf.Tensor ? value : tf.tensor(value as tf.TensorLike);
  if (t.dtype !== 'float32') {
    throw new Error(`${opName}: '${argName}' must be float32, got ${t.dtype}`);
  }
  return t;
}

/** Inputs for runKernel: only the tensors that are present. */
export function inputsOf(inputs: Record<string, tf.Tensor | undefined>): tf.NamedTensorMap {
  const out: tf.NamedTensorMap = {};
  for (const [key, value] of Object.entries(inputs)) {
    if (value != null) out[key] = value;
  }
  return out;
}

/** The current backend's WebGPU limits, or null when it is not a WebGPU backend. */
export function backendLimits(): KernelLimits | null {
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  return device?.limits == null ? null : kernelLimitsOf(device.limits);
}
