/** tfjs-backend-webgpu's own kernel functions, for the kernels that hand cases back to them. */

import { getKernel, KernelFunc } from '@tensorflow/tfjs-core';

const STOCK_BACKEND = 'webgpu';

/** tfjs-backend-webgpu's kernel function for `kernelName` (registered when the package is imported). */
export function stockKernel(kernelName: string): KernelFunc {
  const config = getKernel(kernelName, STOCK_BACKEND);
  if (config == null) throw new Error(`tfjs-backend-webgpu has no ${kernelName} kernel`);
  return config.kernelFunc;
}
