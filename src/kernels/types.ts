/**
 * Plain-data descriptions shared by the fused kernels, the planner and the
 * graph rewrite: activations, padding, tile parameters and device limits.
 */

/** Every activation a fused stage can apply in its epilogue. */
export type FusedActivation =
  | 'linear'
  | 'relu'
  | 'relu6'
  | 'prelu'
  | 'leakyrelu'
  | 'elu'
  | 'sigmoid'
  | 'swish'
  | 'hardswish';

export const FUSED_ACTIVATIONS: readonly FusedActivation[] = [
  'linear',
  'relu',
  'relu6',
  'prelu',
  'leakyrelu',
  'elu',
  'sigmoid',
  'swish',
  'hardswish',
];

/**
 * Depthwise padding as tfjs ops accept it: 'same', 'valid', one number for
 * every side, or explicit NHWC pairs [[0,0],[top,bottom],[left,right],[0,0]]
 * (what a folded `Pad` op becomes).
 */
export type FusedPadding =
  | 'same'
  | 'valid'
  | number
  | [[number, number], [number, number], [number, number], [number, number]];

/** The device limits the kernels and the planner read. */
export interface KernelLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBuffersPerShaderStage: number;
  maxStorageBufferBindingSize: number;
}

/** WebGPU's default limits: what every device offers. */
export const DEFAULT_LIMITS: KernelLimits = {
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 134217728,
};

/**
 * Tile parameters of the DW→PW kernel (FusedDepthwisePointwiseConv2D).
 * A workgroup owns `pixels` consecutive output pixels (row-major over
 * N·Ho·Wo) × `filters` output channels; it loops over the input channels in
 * chunks of `channelChunk`, computing the depthwise result of the chunk into
 * workgroup memory and multiplying it into register accumulators. Each
 * invocation accumulates `threadPixels` × `threadFilters` outputs, so the
 * workgroup has (pixels / threadPixels) · (filters / threadFilters)
 * invocations.
 */
export interface DwPwTile {
  pixels: number;
  filters: number;
  channelChunk: number;
  threadPixels: number;
  /** A multiple of 4 (vec4 accumulators). */
  threadFilters: number;
  /**
   * Adjacent pixels an invocation computes together in the depthwise stage,
   * sharing a register window over the input row (default: 4, 2 or 1,
   * whichever divides `pixels`).
   */
  depthwiseRun?: number;
  /**
   * Slices of invocations that take interleaved channel chunks and add
   * their partial sums at the end (default 1): more parallelism where there
   * are few pixels and many channels. Invocations = pixels / threadPixels ·
   * filters / threadFilters · channelSplits.
   */
  channelSplits?: number;
  /**
   * Workgroups that split the channel loop (default 1): each takes
   * interleaved chunks of the input channels (so no depthwise work is
   * repeated) and stores its raw partial sums; a second dispatch adds them
   * and applies the pointwise epilogue. Parallelism for maps with few pixels
   * and many channels, where blocks of filters would repeat the depthwise.
   */
  workgroupSplits?: number;
  /**
   * What consecutive invocations of the pointwise stage take: consecutive
   * pixels ('pixels', the default: each weight load is a broadcast),
   * consecutive filter vec4s ('filters': the output stores coalesce, which
   * matters when each output needs few multiply-adds), or a small grid of
   * both ('grid': each run of 32 invocations holds up to 4 pixels × 8 filter
   * vec4s, so its depthwise loads are broadcasts to 8 invocations and its
   * weight loads one contiguous 128-byte row). On an H100 the same tile ran
   * equally fast in 'grid' and 'pixels' order within noise; the default
   * tiles use 'grid' where, with their other parameters, it measured faster.
   */
  threadOrder?: 'pixels' | 'filters' | 'grid';
}

/**
 * Tile parameters of the PW→DW kernel (FusedPointwiseDepthwiseConv2D).
 * A workgroup owns a `tileH` × `tileW` block of depthwise output pixels ×
 * `channels` of the expanded (pointwise output) channels. It computes the
 * pointwise result for the tile plus its halo into workgroup memory
 * (overlapping tiles recompute the halo), then the depthwise from it.
 * `threadPositions` halo positions share each weight load in the pointwise
 * stage; `workgroupSize` invocations cooperate on both stages.
 */
export interface PwDwTile {
  tileH: number;
  tileW: number;
  /** A multiple of 4 (vec4 channel groups). */
  channels: number;
  threadPositions: number;
  workgroupSize: number;
  /**
   * Channels (a multiple of 4 dividing `channels`) one invocation computes
   * per position in the pointwise stage; each input load serves all of them
   * (default 4).
   */
  threadChannels?: number;
}

/** Result of a kernel's legality check. */
export interface Support {
  supported: boolean;
  /** Why not, in words a model author understands. */
  reason?: string;
}

/** Shapes of one DW→PW site: depthwise k×k (stride s) then 1x1 to `outChannels`. */
export interface DwPwProblem {
  batch: number;
  inHeight: number;
  inWidth: number;
  /** Depthwise channels = pointwise input channels. */
  channels: number;
  outChannels: number;
  kernelSize: number;
  stride: number;
  outHeight: number;
  outWidth: number;
}

/** Shapes of one PW→DW site: 1x1 from `inChannels` to `channels`, then depthwise k×k (stride s). */
export interface PwDwProblem {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  /** Pointwise output channels = depthwise channels (the expanded width). */
  channels: number;
  kernelSize: number;
  stride: number;
  outHeight: number;
  outWidth: number;
}

/**
 * Tile parameters of the inverted-residual kernel (FusedInvertedResidual).
 * A workgroup owns a `tileH` × `tileW` block of output pixels of one image ×
 * `filters` output channels. It walks the expanded channels in chunks of
 * `chunk`: the expansion (1x1) for the block plus its halo into workgroup
 * memory, the depthwise from it into workgroup memory, then the projection
 * (1x1) into register accumulators, `threadPixels` × `threadFilters` per
 * invocation. With `splits` > 1 the expanded channels are divided among that
 * many workgroups per block (parallelism for small maps), whose partial
 * projections are added up either by the last workgroup of each block in the
 * same dispatch (`reduce: 'inline'`) or by a second, small pass ('pass').
 */
export interface IrTile {
  tileH: number;
  tileW: number;
  /** Output channels per workgroup, a multiple of `threadFilters`. */
  filters: number;
  /** Expanded channels per round, a multiple of 4. */
  chunk: number;
  threadPixels: number;
  /** A multiple of 4 (vec4 accumulators). */
  threadFilters: number;
  /** Halo positions one invocation expands together (each weight load serves them all). */
  expandPositions: number;
  /** vec4s of expanded channels one invocation expands together (each input load serves them all; default 1). */
  expandVecs?: number;
  /** Workgroups sharing one output block, each taking a share of the expanded channels (default 1). */
  splits?: number;
  /**
   * How split partial sums are added up: 'pass' (default) by a second
   * dispatch; 'inline' in the same dispatch, by the last workgroups to finish
   * each block, through atomics in the backend's scratch buffer (one dispatch,
   * but slower on the GPU: see irInlineReduce).
   */
  reduce?: 'inline' | 'pass';
  /**
   * Copy each chunk's expansion and projection weights into workgroup
   * memory first (coalesced, then read by every invocation from there)
   * instead of reading them from global memory in the inner loops.
   */
  stageWeights?: boolean;
}

/** Shapes of one inverted-residual block: 1x1 Cin→M, depthwise k×k (stride s) on M, 1x1 M→Cout. */
export interface IrProblem {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  /** The expanded width M. */
  expandedChannels: number;
  outChannels: number;
  kernelSize: number;
  stride: number;
  outHeight: number;
  outWidth: number;
}
