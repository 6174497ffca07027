/**
 * `webgpu-fused`'s Conv2D: pointwise convolutions (1x1, stride 1) run with
 * PointwiseConv2DProgram (pointwise_conv2d.ts), every other convolution with
 * tfjs-backend-webgpu's own kernel.
 */

import {
  Conv2D,
  Conv2DAttrs,
  Conv2DInputs,
  KernelConfig,
  KernelFunc,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

import { runPointwiseConv2D } from './pointwise_conv2d';
import { stockKernel } from './stock_kernel';

export function conv2D(args: {
  inputs: Conv2DInputs;
  attrs: Conv2DAttrs;
  backend: WebGPUBackend;
}): TensorInfo | TensorInfo[] {
  const { inputs, attrs, backend } = args;
  const out = runPointwiseConv2D(backend, inputs.x as TensorInfo, inputs.filter as TensorInfo, attrs, {
    activation: 'linear',
    leakyreluAlpha: 0,
  });
  return out ?? stockKernel(Conv2D)(args as unknown as Parameters<KernelFunc>[0]);
}

export const conv2DConfig: KernelConfig = {
  kernelName: Conv2D,
  backendName: 'webgpu-fused',
  kernelFunc: conv2D as unknown as KernelFunc,
};
