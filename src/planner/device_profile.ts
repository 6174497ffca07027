/**
 * What the planner knows about a GPU: the WebGPU limits the kernels must fit
 * plus a few calibrated throughput figures for the roofline-style cost model.
 * Plain JSON so a profile can be saved, shipped with an app, or embedded in a
 * plan.
 */

import { DEFAULT_LIMITS, KernelLimits } from '../kernels/types';

/** The fused kernels, as site kinds: DW→PW, PW→DW and the whole block PW→DW→PW. */
export type FusedKernelKind = 'dwpw' | 'pwdw' | 'pwdwpw';

/** See `DeviceProfile.fusedEfficiency`. */
export interface EfficiencyCalibration {
  scale: number;
  exponent: number;
}

export interface DeviceProfile {
  /** A label for reports, e.g. 'h100-like'. */
  name: string;
  limits: KernelLimits;
  /** Sustained global-memory bandwidth for streaming reads and writes, GB/s (1e9 B/s). */
  memoryBandwidthGBps: number;
  /** Fixed cost of one compute dispatch (encoding, launch, drain), ms. */
  dispatchOverheadMs: number;
  /** fp32 rate a well register-tiled kernel (4×4 outputs per invocation) sustains, GFLOP/s. */
  flopRateGflops: number;
  /** Workgroups needed to keep every compute unit busy; fewer leave the GPU partly idle. */
  minWorkgroups: number;
  /** Invocations in flight needed to hide latency; many tiny workgroups fall short of it. */
  minInvocations: number;
  /**
   * Cost of a re-read byte (halo overlap, per-tile weight reloads, input
   * re-reads per filter block) relative to a compulsory one. 1 is the
   * paper's cache-less model; below 1 says the L2 serves most re-reads.
   */
  rereadCostFactor: number;
  /** Lanes that execute in lockstep; workgroups smaller than this waste lanes. */
  simdWidth: number;
  /**
   * Measured correction of each fused kernel's modelled inner-loop
   * efficiency e (multiply-adds per load issued, idle invocations):
   * min(1, scale · e^exponent) instead of e. It stands for what the count
   * misses on this device (latency hiding by larger register tiles,
   * barriers, bank conflicts). See bench/planner/model_fit.ts.
   */
  fusedEfficiency?: Partial<Record<FusedKernelKind, EfficiencyCalibration>>;
  /**
   * Multiply-add rate of the backend's own pointwise program relative to
   * tfjs's matmul on the shapes it takes (measured; default 1). Unfused 1x1
   * layers run on it, so it prices the alternative to every fusion.
   */
  pointwiseEfficiency?: number;
  /** Where the numbers come from (measured, assumed, calibrated on ...). */
  source: string;
}

/**
 * An NVIDIA H100 80GB HBM3 under Dawn. Limits as that adapter reports them
 * (1024 invocations, 48 KiB workgroup storage); throughput figures from the
 * project's H100 measurements where they exist, otherwise assumptions:
 * - bandwidth: 2700 GB/s = ~80 % of the 3.35 TB/s HBM3 spec (assumed);
 * - dispatch overhead 0.012 ms: the measured floor of stock tfjs kernels;
 * - 10 TFLOP/s: stock blocks reached 4–11 and fused study kernels 6–12 TFLOP/s
 *   of useful fp32 at batch ≥ 8 (measured), of a 67 TFLOP/s peak;
 * - 132 workgroups = the SM count, and 132 × 64 invocations: with them the
 *   model reproduces the measured stock matmuls (64-invocation workgroups)
 *   of 14–98 workgroups (0.0146–0.056 ms) within ~15 %;
 * - re-reads at 0.25 of a DRAM byte: the 50 MB L2 holds most intermediates (assumed);
 * - fused kernel efficiencies min(1, scale · e^exponent) fitted to the
 *   paired GPU ratios of every DW→PW, PW→DW and block site of
 *   mobilenet_v2_mid (batch 1, 8, 32) and posenet (batch 1)
 *   (bench/results/planner-2026-11-26-h100-v1.json) and checked against the
 *   block benchmark (blocks-2026-11-26-h100-v7.json): bench/planner/model_fit.ts;
 *   DW→PW refitted with the repeated- and strided-depthwise terms on the
 *   planner's decisions (planner-2026-11-26-h100-v15.json and
 *   -v15-posenet-b8-b32.json), the block on those of
 *   planner-2026-11-26-h100-v11.json (bench/planner/calibration_fit.ts --decisions).
 */
export const H100_LIKE_PROFILE: DeviceProfile = {
  name: 'h100-like',
  limits: {
    ...DEFAULT_LIMITS,
    maxComputeWorkgroupStorageSize: 49152,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupSizeX: 1024,
  },
  memoryBandwidthGBps: 2700,
  dispatchOverheadMs: 0.012,
  flopRateGflops: 10000,
  minWorkgroups: 132,
  minInvocations: 132 * 64,
  rereadCostFactor: 0.25,
  simdWidth: 32,
  fusedEfficiency: {
    dwpw: { scale: 2, exponent: 0.75 },
    pwdw: { scale: 0.6, exponent: 2 },
    pwdwpw: { scale: 0.3, exponent: 0.5 },
  },
  pointwiseEfficiency: 1.5,
  source:
    'H100 80GB HBM3 under Dawn: limits and 0.012 ms dispatch floor measured; ' +
    'bandwidth 80 % of spec, 10 TFLOP/s from measured 4-12 TFLOP/s, 132 workgroups x 64 invocations (SM count) fitted to measured stock matmuls, ' +
    'fused kernel efficiencies fitted to measured block variants, L2 re-read factor assumed; ' +
    'pointwise program efficiency 1.5 fitted to the measured site decisions of planner-2026-11-27-h100-v18',
};

/**
 * A weak device every WebGPU implementation can stand in for: WebGPU's
 * default limits (16 KiB, 256 invocations) and integrated-GPU-class figures.
 * All throughput numbers are assumptions (a laptop iGPU with ~100 GB/s
 * LPDDR, ~1.5 TFLOP/s peak of which a third is reached, a browser's
 * heavier per-dispatch cost, 32 workgroups as the digest of the paper
 * suggests for devices whose compute-unit count WebGPU does not expose, of
 * 64 invocations each as on the H100).
 */
export const CONSERVATIVE_PROFILE: DeviceProfile = {
  name: 'conservative',
  limits: { ...DEFAULT_LIMITS },
  memoryBandwidthGBps: 100,
  dispatchOverheadMs: 0.03,
  flopRateGflops: 500,
  minWorkgroups: 32,
  minInvocations: 32 * 64,
  rereadCostFactor: 0.5,
  simdWidth: 32,
  source: 'assumed: WebGPU default limits, integrated-GPU-class bandwidth, FLOP rate and dispatch cost',
};

/**
 * A profile for a device whose limits are known (e.g. `GPUDevice.limits`)
 * but whose speed is not: the limits given, the throughput figures of
 * `base` (the conservative profile unless told otherwise), then `overrides`.
 */
export function deviceProfileFromLimits(
  limits: KernelLimits,
  overrides: Partial<DeviceProfile> = {},
  base: DeviceProfile = CONSERVATIVE_PROFILE,
): DeviceProfile {
  const profile: DeviceProfile = {
    ...base,
    name: `${base.name}+limits`,
    limits: kernelLimitsOf(limits),
    source: `${base.source}; limits from the device`,
    ...overrides,
  };
  assertValidProfile(profile);
  return profile;
}

/**
 * The `KernelLimits` fields of any limits object (a `GPUSupportedLimits`
 * has them all), copied so the profile stays plain JSON.
 */
export function kernelLimitsOf(limits: KernelLimits): KernelLimits {
  return {
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
  };
}

/** Throws on numbers the cost model cannot use (zero rates, negative costs). */
export function assertValidProfile(profile: DeviceProfile): void {
  const positive: (keyof DeviceProfile)[] = [
    'memoryBandwidthGBps',
    'flopRateGflops',
    'minWorkgroups',
    'minInvocations',
    'simdWidth',
  ];
  for (const key of positive) {
    const value = profile[key] as number;
    if (!(Number.isFinite(value) && value > 0)) {
      throw new Error(`device profile '${profile.name}': ${key} must be a positive number, got ${value}`);
    }
  }
  for (const [kind, value] of Object.entries(profile.fusedEfficiency ?? {})) {
    const { scale, exponent } = (value ?? {}) as Partial<EfficiencyCalibration>;
    if (!(Number.isFinite(scale) && scale! > 0 && Number.isFinite(exponent) && exponent! >= 0)) {
      throw new Error(
        `device profile '${profile.name}': fusedEfficiency.${kind} must be {scale > 0, exponent ≥ 0}, got ${JSON.stringify(value)}`,
      );
    }
  }
  const pointwise = profile.pointwiseEfficiency;
  if (pointwise != null && !(Number.isFinite(pointwise) && pointwise > 0)) {
    throw new Error(
      `device profile '${profile.name}': pointwiseEfficiency must be a positive number, got ${pointwise}`,
    );
  }
  const nonNegative: (keyof DeviceProfile)[] = ['dispatchOverheadMs', 'rereadCostFactor'];
  for (const key of nonNegative) {
    const value = profile[key] as number;
    if (!(Number.isFinite(value) && value >= 0)) {
      throw new Error(`device profile '${profile.name}': ${key} must be a number ≥ 0, got ${value}`);
    }
  }
}

/** What an adapter says about itself (GPUAdapterInfo's strings; any may be empty). */
export interface AdapterIdentity {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}

/** Devices whose throughput figures have been measured, by a pattern over the adapter's strings. */
const KNOWN_DEVICES: Array<{ pattern: RegExp; profile: DeviceProfile }> = [
  // Hopper data-center GPUs (H100, H200) report e.g. 'nvidia-h100-80gb-hbm3'.
  { pattern: /\bh(100|200)\b|nvidia-h(100|200)/i, profile: H100_LIKE_PROFILE },
];

/**
 * The profile to plan for on a device: the measured figures of a known
 * device (an H100 or H200 gets H100_LIKE_PROFILE's) or `base`'s, always
 * with the device's own limits.
 */
export function profileForDevice(
  limits: KernelLimits,
  adapter: AdapterIdentity = {},
  base: DeviceProfile = CONSERVATIVE_PROFILE,
): DeviceProfile {
  const text = [adapter.vendor, adapter.architecture, adapter.device, adapter.description]
    .filter((v) => v != null && v !== '')
    .join(' ');
  const known = KNOWN_DEVICES.find((d) => d.pattern.test(text));
  return deviceProfileFromLimits(limits, {}, known?.profile ?? base);
}
