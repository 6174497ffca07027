/**
 * `webgpu-fused`'s FusedConv2D: pointwise convolutions (1x1, stride 1) run
 * with PointwiseConv2DProgram (pointwise_conv2d.ts), every other convolution
 * with tfjs-backend-webgpu's own kernel.
 */

import {
  FusedConv2D,
  FusedConv2DAttrs,
  FusedConv2DInputs,
  KernelConfig,
  KernelFunc,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

import { isFusedActivation } from './fused_conv_util';
import { runPointwiseConv2D } from './pointwise_conv2d';
import { stockKernel } from './stock_kernel';

export function fusedConv2D(args: {
  inputs: FusedConv2DInputs;
  attrs: FusedConv2DAttrs;
  backend: WebGPUBackend;
}): TensorInfo | TensorInfo[] {
  const { inputs, attrs, backend } = args;
  const activation = attrs.activation ?? 'linear';
  if (isFusedActivation(activation)) {
    const out = runPointwiseConv2D(backend, inputs.x, inputs.filter, attrs, {
      bias: inputs.bias,
      activation,
      preluWeights: inputs.preluActivationWeights,
      leakyreluAlpha: attrs.leakyreluAlpha ?? 0.2,
    });
    if (out != null) return out;
  }
  return stockKernel(FusedConv2D)(args as unknown as Parameters<KernelFunc>[0]);
}

export const fusedConv2DConfig: KernelConfig = {
  kernelName: FusedConv2D,
  backendName: 'webgpu-fused',
  kernelFunc: fusedConv2D as unknown as KernelFunc,
};
