/**
 * The roofline-style time model shared by every kernel estimate:
 *
 *   ms = max(effectiveBytes / bandwidth, computedFlops / effectiveRate) / occupancy
 *        + dispatches · dispatchOverhead
 *
 *   effectiveBytes = compulsoryBytes + rereadBytes · rereadCostFactor
 *   computedFlops  = flops + redundantFlops
 *   effectiveRate  = flopRate · computeEfficiency (calibrated for fused kernels)
 *                    · (share of SIMD lanes a workgroup fills)
 *   occupancy      = min(1, workgroups / minWorkgroups,
 *                        workgroups · invocationsPerWorkgroup / minInvocations)
 *
 * computeEfficiency comes from the kernel's inner loops (multiply-adds per
 * load issued, idle invocations), relative to the stock matmul.
 *
 * Compulsory bytes are each tensor read or written once; re-reads are what
 * tiling adds (halo overlap, weights per tile, inputs per filter block). Their
 * sum is the paper's global-memory-access count, in bytes.
 */

import { DeviceProfile, FusedKernelKind } from './device_profile';

/** What one dispatch of a kernel moves and computes. */
export interface KernelCost {
  /** e.g. 'dw (stock)', 'dw→pw (fused)'. */
  kernel: string;
  compulsoryBytes: number;
  rereadBytes: number;
  /** FLOPs the layer needs (2 per multiply-add). */
  flops: number;
  /** FLOPs done on top: halo recomputation, recomputation per filter block, padded tiles. */
  redundantFlops: number;
  /** Fraction of the profile's FLOP rate the kernel's inner loop reaches, in (0, 1]. */
  computeEfficiency: number;
  workgroups: number;
  invocationsPerWorkgroup: number;
  dispatches: number;
  /** Which fused kernel this is, for the profile's calibrated `fusedEfficiency`; absent for stock kernels. */
  fused?: FusedKernelKind;
}

export interface KernelEstimate extends KernelCost {
  bytes: number;
  ms: number;
  memoryMs: number;
  computeMs: number;
  occupancy: number;
  bound: 'memory' | 'compute';
}

/** ms for `bytes` at `gbps` GB/s: 1 GB/s moves 1e6 bytes per ms. */
const msForBytes = (bytes: number, gbps: number) => bytes / (gbps * 1e6);
const msForFlops = (flops: number, gflops: number) => flops / (gflops * 1e6);

interface Timing {
  ms: number;
  memoryMs: number;
  computeMs: number;
  occupancy: number;
}

function timing(cost: KernelCost, profile: DeviceProfile): Timing {
  const effectiveBytes = cost.compulsoryBytes + cost.rereadBytes * profile.rereadCostFactor;
  const memoryMs = msForBytes(effectiveBytes, profile.memoryBandwidthGBps);
  // Workgroups narrower than the SIMD width leave lanes idle.
  const lanes = laneUtilization(cost.invocationsPerWorkgroup, profile.simdWidth);
  const computeMs = msForFlops(
    cost.flops + cost.redundantFlops,
    profile.flopRateGflops * calibratedEfficiency(cost, profile) * lanes,
  );
  const occupancy = Math.min(
    1,
    cost.workgroups / profile.minWorkgroups,
    (cost.workgroups * cost.invocationsPerWorkgroup) / profile.minInvocations,
  );
  const ms = Math.max(memoryMs, computeMs) / occupancy + cost.dispatches * profile.dispatchOverheadMs;
  return { ms, memoryMs, computeMs, occupancy };
}

/**
 * A fused kernel's modelled efficiency e as the profile's measurements
 * correct it: min(1, scale · e^exponent). An exponent above 1 says the
 * device rewards inner loops with many multiply-adds per load more steeply
 * than their ratio alone (register tiles that hide latency).
 */
export function calibratedEfficiency(cost: KernelCost, profile: DeviceProfile): number {
  const calibration = cost.fused != null ? profile.fusedEfficiency?.[cost.fused] : undefined;
  if (calibration == null) return cost.computeEfficiency;
  return Math.min(1, calibration.scale * cost.computeEfficiency ** calibration.exponent);
}

/** Just the predicted time (the tile search calls this thousands of times). */
export function predictMs(cost: KernelCost, profile: DeviceProfile): number {
  return timing(cost, profile).ms;
}

export function estimateKernel(cost: KernelCost, profile: DeviceProfile): KernelEstimate {
  const t = timing(cost, profile);
  return {
    ...cost,
    ...t,
    bytes: cost.compulsoryBytes + cost.rereadBytes,
    bound: t.memoryMs >= t.computeMs ? 'memory' : 'compute',
  };
}

/** Totals of kernels run one after the other. */
export interface SequenceEstimate {
  kernels: KernelEstimate[];
  bytes: number;
  ms: number;
  flops: number;
  redundantFlops: number;
  dispatches: number;
}

export function sequenceOf(kernels: KernelEstimate[]): SequenceEstimate {
  const sum = (pick: (k: KernelEstimate) => number) => kernels.reduce((s, k) => s + pick(k), 0);
  return {
    kernels,
    bytes: sum((k) => k.bytes),
    ms: sum((k) => k.ms),
    flops: sum((k) => k.flops),
    redundantFlops: sum((k) => k.redundantFlops),
    dispatches: sum((k) => k.dispatches),
  };
}

/**
 * Share of the profile's FLOP rate an inner loop reaches when it issues
 * `loads` load instructions (a vec4 load counts once) per `fmas` scalar
 * multiply-adds. These kernels are issue-bound, so the ratio sets the pace;
 * the reference is the stock vec4 matmul (MatMulPackedProgram: 4×4 outputs
 * per invocation, 8 vec4 loads per 64 multiply-adds), which reaches the rate.
 */
export function loopEfficiency(fmas: number, loads: number): number {
  return Math.min(1, fmas / loads / REFERENCE_FMAS_PER_LOAD);
}

const REFERENCE_FMAS_PER_LOAD = 64 / 8;

/**
 * The efficiency of a kernel whose stages run at different efficiencies:
 * total FLOPs over the reference-rate time each stage takes.
 */
export function blendedEfficiency(stages: { flops: number; efficiency: number }[]): number {
  const flops = stages.reduce((s, st) => s + st.flops, 0);
  const weighted = stages.reduce((s, st) => s + st.flops / st.efficiency, 0);
  return weighted > 0 ? flops / weighted : 1;
}

/** Share of lanes doing work when `items` work items go to groups of `lanes`. */
export function laneUtilization(items: number, lanes: number): number {
  if (items <= 0) return 1;
  return items / (Math.ceil(items / lanes) * lanes);
}
