/**
 * Adapter and device creation for the `webgpu-fused` backend.
 *
 * Mirrors tfjs-backend-webgpu's own factory (same power preference flag, same
 * features) and additionally asks for every limit the fused kernels can use:
 * bigger workgroups, more workgroup storage and more storage buffers per
 * shader stage (stock leaves the latter at the WebGPU default of 8).
 */

import { env } from '@tensorflow/tfjs-core';

/** Limits the fused kernels read; all are raised to the adapter's maximum. */
export const RAISED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
] as const;

export interface DeviceOptions {
  /**
   * `'adapter'` (default) requests the adapter's maximum for every limit in
   * `RAISED_LIMITS`; `'default'` requests nothing, so the device gets the
   * WebGPU default limits (16 KiB workgroup storage, 256 invocations, 8
   * storage buffers). Useful to test behaviour on the weakest devices.
   */
  limits?: 'adapter' | 'default';
  powerPreference?: GPUPowerPreference;
}

export class WebGPUUnavailableError extends Error {
  constructor(reason: string) {
    super(
      `webgpu-fused: WebGPU is not available (${reason}). In a browser use ` +
        'one with WebGPU enabled (Chrome/Edge 113+, or --enable-unsafe-webgpu); ' +
        "in Node install the 'webgpu' package and set globalThis.navigator = " +
        '{gpu: create([])} before selecting the backend.',
    );
    this.name = 'WebGPUUnavailableError';
  }
}

export function getGpu(): GPU {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu == null) {
    throw new WebGPUUnavailableError('navigator.gpu is undefined');
  }
  return nav.gpu;
}

export async function requestFusedDevice(
  options: DeviceOptions = {},
): Promise<{ device: GPUDevice; adapterInfo: GPUAdapterInfo | undefined }> {
  const gpu = getGpu();
  const powerPreference =
    options.powerPreference ?? (env().getBool('WEBGPU_USE_LOW_POWER_GPU') ? 'low-power' : 'high-performance');
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (adapter == null) {
    throw new WebGPUUnavailableError('navigator.gpu.requestAdapter() returned null');
  }

  const requiredFeatures: GPUFeatureName[] = [];
  for (const feature of ['timestamp-query', 'bgra8unorm-storage'] as GPUFeatureName[]) {
    if (adapter.features.has(feature)) {
      requiredFeatures.push(feature);
    }
  }
  const requiredLimits: Record<string, number> = {};
  if (options.limits !== 'default') {
    for (const name of RAISED_LIMITS) {
      const value = (adapter.limits as unknown as Record<string, number | undefined>)[name];
      if (value !== undefined) {
        requiredLimits[name] = value;
      }
    }
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  // `info` is the current attribute; older browsers only have the method.
  const withInfo = adapter as unknown as {
    info?: GPUAdapterInfo;
    requestAdapterInfo?: () => Promise<GPUAdapterInfo>;
  };
  const adapterInfo = withInfo.info ?? (await withInfo.requestAdapterInfo?.());
  return { device, adapterInfo };
}
