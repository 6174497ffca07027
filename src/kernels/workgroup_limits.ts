/** The device limits every fused program's workgroup must respect. */

import { KernelLimits, Support } from './types';

/** Whether a workgroup of `invocations` (one dimension) using `storageBytes` of workgroup memory fits `limits`. */
export function workgroupFits(invocations: number, storageBytes: number, limits: KernelLimits): Support {
  if (
    invocations > limits.maxComputeInvocationsPerWorkgroup ||
    invocations > limits.maxComputeWorkgroupSizeX
  ) {
    return {
      supported: false,
      reason: `${invocations} invocations exceed the device limit ${limits.maxComputeInvocationsPerWorkgroup}`,
    };
  }
  if (storageBytes > limits.maxComputeWorkgroupStorageSize) {
    return {
      supported: false,
      reason: `${storageBytes} B of workgroup storage exceed the device limit ${limits.maxComputeWorkgroupStorageSize}`,
    };
  }
  return { supported: true };
}
