import { KernelConfig } from '@tensorflow/tfjs-core';

import { fusedDepthwisePointwiseConv2DConfig } from './FusedDepthwisePointwiseConv2D';
import { fusedInvertedResidualConfig } from './FusedInvertedResidual';
import { fusedPointwiseDepthwiseConv2DConfig } from './FusedPointwiseDepthwiseConv2D';

/** Every fused kernel, registered under each fused backend name. */
export const fusedKernelConfigs: KernelConfig[] = [
  fusedDepthwisePointwiseConv2DConfig,
  fusedPointwiseDepthwiseConv2DConfig,
  fusedInvertedResidualConfig,
];
