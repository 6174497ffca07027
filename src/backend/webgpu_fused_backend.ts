/**
 * The `webgpu-fused` backend: a stock WebGPUBackend on its own device, created
 * with the adapter's raised limits. It also keeps the adapter's full
 * description (the stock backend keeps only vendor and architecture), which
 * names the device in benchmark reports and keys tuning caches.
 */

import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export class WebGPUFusedBackend extends WebGPUBackend {
  readonly adapterDescription: AdapterDescription;

  constructor(device: GPUDevice, adapterInfo?: GPUAdapterInfo) {
    super(device, adapterInfo);
    const info = (adapterInfo ?? {}) as Partial<Record<keyof AdapterDescription, string>>;
    this.adapterDescription = {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
    };
  }

  /** The limits the device was actually created with. */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }
}
