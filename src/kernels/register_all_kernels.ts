import { KernelConfig } from '@tensorflow/tfjs-core';

import { conv2DConfig } from './Conv2D';
import { fusedConv2DConfig } from './FusedConv2D';
import { fusedDepthwisePointwiseConv2DConfig } from './FusedDepthwisePointwiseConv2D';
import { fusedInvertedResidualConfig } from './FusedInvertedResidual';
import { fusedPointwiseDepthwiseConv2DConfig } from './FusedPointwiseDepthwiseConv2D';

/** Every fused kernel, registered under each fused backend name. */
export const fusedKernelConfigs: KernelConfig[] = [
  fusedDepthwisePointwiseConv2DConfig,
  fusedPointwiseDepthwiseConv2DConfig,
  fusedInvertedResidualConfig,
];

/**
 * Kernels that replace the stock kernel of the same name: they run their
 * own program where it applies and hand every other case to tfjs's kernel.
 */
export const replacedKernelConfigs: KernelConfig[] = [conv2DConfig, fusedConv2DConfig];
