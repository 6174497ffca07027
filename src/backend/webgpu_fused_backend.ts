/**
 * The `webgpu-fused` backend: a stock WebGPUBackend on its own device, created
 * with the adapter's raised limits, plus the state the fused kernels keep
 * (weights packed once per model, keyed by their tensors' data ids).
 */

import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export class WebGPUFusedBackend extends WebGPUBackend {
  /** The limits the device was actually created with. */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }
}

/** Whether `backend` is a WebGPU backend able to run our programs. */
export function isWebGPUBackend(backend: unknown): backend is WebGPUBackend {
  return backend instanceof WebGPUBackend;
}
