import { KernelConfig } from '@tensorflow/tfjs-core';

/** Every fused kernel, registered under each fused backend name. */
export const fusedKernelConfigs: KernelConfig[] = [];
