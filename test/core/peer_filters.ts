/**
 * Which of tfjs-core's own specs run against `webgpu-fused`: every conv2d,
 * depthwise, separable, fused conv/depthwise, matMul and activation spec.
 * Exclusions are those tfjs-backend-webgpu itself excludes upstream (kernels
 * the stock WebGPU backend does not implement), plus NaN propagation, which
 * SwiftShader does not follow.
 */

import type { TestFilter } from '@tensorflow/tfjs-core/dist/jasmine_util';

/** Gradients need backprop kernels the stock WebGPU backend lacks. */
const NO_GRADIENTS = ['gradient', 'derivative', 'valueAndGradients', 'backProp'];

export const PEER_SUITE_FILTERS: TestFilter[] = [
  { startsWith: 'conv2d ', excludes: NO_GRADIENTS },
  { startsWith: 'depthwiseConv2D ', excludes: NO_GRADIENTS },
  { startsWith: 'separableConv2d ', excludes: NO_GRADIENTS },
  { startsWith: 'fused conv2d ', excludes: NO_GRADIENTS },
  { startsWith: 'fused depthwiseConv2D ', excludes: NO_GRADIENTS },
  { startsWith: 'fused matmul ', excludes: NO_GRADIENTS },
  {
    startsWith: 'matmul',
    excludes: [
      ...NO_GRADIENTS,
      'has zero in its shape', // upstream: times out
      'upcasts when dtypes dont match', // upstream: shader compile fails
      'broadcast', // upstream: batch broadcasting not implemented
    ],
  },
  { startsWith: 'dot ', excludes: NO_GRADIENTS },
  { startsWith: 'relu ', excludes: [...NO_GRADIENTS, 'propagates NaNs'] },
  { startsWith: 'relu6 ', excludes: [...NO_GRADIENTS, 'propagates NaNs'] },
  { startsWith: 'elu ', excludes: [...NO_GRADIENTS, 'propagates NaNs'] },
  { startsWith: 'sigmoid ', excludes: [...NO_GRADIENTS, 'propagates NaNs'] },
  { startsWith: 'leakyrelu ', excludes: [...NO_GRADIENTS, 'propagates NaN'] },
  { startsWith: 'prelu ', excludes: [...NO_GRADIENTS, 'propagates NaN'] },
];
