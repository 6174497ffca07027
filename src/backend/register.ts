/**
 * Registers the `webgpu-fused` backend with tfjs-core. It carries every stock
 * `webgpu` kernel (copied from the registry) plus the fused kernels. It has the
 * lowest priority so it never becomes the default backend on its own: users
 * opt in with `await tf.setBackend('webgpu-fused')`.
 */

import {
  copyRegisteredKernels,
  getKernel,
  getKernelsForBackend,
  KernelConfig,
  registerBackend,
  registerKernel,
  unregisterKernel,
} from '@tensorflow/tfjs-core';
// Side effect: registers the stock kernels under 'webgpu', which we copy.
import '@tensorflow/tfjs-backend-webgpu';

import { fusedKernelConfigs, replacedKernelConfigs } from '../kernels/register_all_kernels';
import { DeviceOptions, requestFusedDevice } from './device';
import { WebGPUFusedBackend } from './webgpu_fused_backend';

export const BACKEND_NAME = 'webgpu-fused';
const STOCK_BACKEND_NAME = 'webgpu';

/**
 * Registers a fused WebGPU backend under `name`. The package registers
 * `webgpu-fused` on import; call this for extra instances, e.g. one created
 * with the WebGPU default limits.
 */
export function registerWebGPUFusedBackend(
  name: string = BACKEND_NAME,
  options: DeviceOptions = {},
  priority = -1,
): void {
  if (name.includes('_')) {
    // tfjs splits kernel registry keys on the first underscore.
    throw new Error(`Backend name '${name}' must not contain '_'.`);
  }
  registerBackend(
    name,
    async () => {
      const { device, adapterInfo } = await requestFusedDevice(options);
      return new WebGPUFusedBackend(device, adapterInfo);
    },
    priority,
  );
  if (getKernelsForBackend(name).length === 0) {
    copyRegisteredKernels(STOCK_BACKEND_NAME, name);
  }
  for (const config of fusedKernelConfigs) {
    if (getKernel(config.kernelName, name) == null) {
      registerKernel({ ...config, backendName: name } as KernelConfig);
    }
  }
  for (const config of replacedKernelConfigs) {
    if (getKernel(config.kernelName, name)?.kernelFunc !== config.kernelFunc) {
      unregisterKernel(config.kernelName, name);
      registerKernel({ ...config, backendName: name } as KernelConfig);
    }
  }
}

/** Number of kernels registered for `name` (stock + fused). */
export function kernelCount(name: string = BACKEND_NAME): number {
  return getKernelsForBackend(name).length;
}
