/**
 * Calibration: turning timings measured on a device into a DeviceProfile.
 *
 * Measuring needs the GPU and lives outside the planner; this module holds
 * the pure half (the fit) and the shape of the GPU half, so that
 * `calibrate = makeCalibrate(measureOnDevice)` is all the GPU code must add.
 */

import { KernelLimits } from '../kernels/types';
import { CONSERVATIVE_PROFILE, DeviceProfile, assertValidProfile, kernelLimitsOf } from './device_profile';

/** GPU times (ms, from timestamp queries, one dispatch each unless said otherwise). */
export interface CalibrationMeasurements {
  /** A streaming kernel (read one buffer, write another) at several sizes; bytes = read + written. */
  streams: { bytes: number; ms: number }[];
  /** Runs of `count` trivial dispatches in one pass; ms for the whole run. */
  dispatchRuns?: { count: number; ms: number }[];
  /** A register-tiled matmul (4×4 outputs per invocation), large enough to fill the GPU. */
  matmuls?: { flops: number; ms: number }[];
  /** A kernel with fixed work per workgroup at increasing workgroup counts. */
  workgroupSweep?: { workgroups: number; ms: number }[];
  /** Invocations per workgroup of the sweep's kernel (default 64). */
  workgroupSweepInvocations?: number;
}

/** Anything with a WebGPU device, e.g. the `webgpu-fused` backend. */
export interface CalibrationBackend {
  readonly device: { readonly limits: KernelLimits };
}

/**
 * The GPU half, to be written next to the backend: runs the probes of
 * `CalibrationMeasurements` on `backend.device` and resolves their timings.
 */
export type MeasureDevice = (backend: CalibrationBackend) => Promise<CalibrationMeasurements>;

/** `calibrate(backend)`: a profile for the backend's device, from measurements. */
export type Calibrate = (backend: CalibrationBackend) => Promise<DeviceProfile>;

export function makeCalibrate(measure: MeasureDevice, base: DeviceProfile = CONSERVATIVE_PROFILE): Calibrate {
  return async (backend) => profileFromMeasurements(backend.device.limits, await measure(backend), base);
}

/** A sweep's time may grow this much before the device counts as full. */
const SATURATION_SLOWDOWN = 1.25;

/**
 * Fits the profile's figures to measurements; figures without measurements
 * (and the re-read factor, which no probe isolates) keep `base`'s values.
 */
export function profileFromMeasurements(
  limits: KernelLimits,
  measurements: CalibrationMeasurements,
  base: DeviceProfile = CONSERVATIVE_PROFILE,
): DeviceProfile {
  const stream = fitLine(measurements.streams.map((m) => [m.bytes, m.ms]));
  if (stream == null || !(stream.slope > 0)) {
    throw new Error('calibration needs stream timings at two or more sizes, growing with size');
  }
  const runs = measurements.dispatchRuns ?? [];
  const dispatchOverheadMs =
    runs.length > 0
      ? median(runs.map((r) => r.ms / r.count))
      : stream.intercept > 0
        ? stream.intercept
        : base.dispatchOverheadMs;
  const flopRates = (measurements.matmuls ?? [])
    .filter((m) => m.ms > dispatchOverheadMs)
    .map((m) => m.flops / ((m.ms - dispatchOverheadMs) * 1e6));
  // The device is full once more workgroups start to take longer.
  const saturated = saturationPoint(measurements.workgroupSweep ?? []);
  const profile: DeviceProfile = {
    ...base,
    name: 'calibrated',
    limits: kernelLimitsOf(limits),
    // slope is ms per byte; GB/s = 1e9 B/s = 1e6 B/ms.
    memoryBandwidthGBps: 1 / (stream.slope * 1e6),
    dispatchOverheadMs,
    flopRateGflops: flopRates.length > 0 ? Math.max(...flopRates) : base.flopRateGflops,
    minWorkgroups: saturated ?? base.minWorkgroups,
    minInvocations:
      saturated != null ? saturated * (measurements.workgroupSweepInvocations ?? 64) : base.minInvocations,
    source: `calibrated (${measurements.streams.length} stream, ${runs.length} dispatch, ${
      (measurements.matmuls ?? []).length
    } matmul, ${(measurements.workgroupSweep ?? []).length} sweep timings); other figures from '${base.name}'`,
  };
  assertValidProfile(profile);
  return profile;
}

/** Least-squares y = intercept + slope·x; undefined without two distinct x. */
export function fitLine(points: [number, number][]): { slope: number; intercept: number } | undefined {
  const n = points.length;
  if (n < 2) return undefined;
  const meanX = points.reduce((s, [x]) => s + x, 0) / n;
  const meanY = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of points) {
    sxx += (x - meanX) * (x - meanX);
    sxy += (x - meanX) * (y - meanY);
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  return { slope, intercept: meanY - slope * meanX };
}

/**
 * The largest workgroup count that still runs in about the time of the
 * smallest: up to there the device runs the workgroups side by side.
 */
export function saturationPoint(sweep: { workgroups: number; ms: number }[]): number | undefined {
  if (sweep.length === 0) return undefined;
  const sorted = [...sweep].sort((a, b) => a.workgroups - b.workgroups);
  const limit = sorted[0].ms * SATURATION_SLOWDOWN;
  let point = sorted[0].workgroups;
  for (const s of sorted) {
    if (s.ms > limit) break;
    point = s.workgroups;
  }
  return point;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
