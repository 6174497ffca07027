/**
 * Tile arithmetic of the pointwise (1x1) convolution program: resource use,
 * feasibility on a device and the default choice. Shared by the kernel, the
 * planner and the tests.
 */

import { BYTES_PER_FLOAT } from './depthwise_pointwise_tile';
import { KernelLimits, Support } from './types';
import { workgroupFits } from './workgroup_limits';

/**
 * A workgroup computes `pixels` × `filters` outputs; each invocation holds
 * `threadPixels` × `threadFilters` of them in registers. The reduction (the
 * input channels) is staged through workgroup memory `chunk` channels at a
 * time; with `splits` > 1 the channels are divided among that many
 * workgroups, whose raw partial sums a reduce pass adds up.
 */
export interface PointwiseTile {
  pixels: number;
  filters: number;
  threadPixels: number;
  /** A multiple of 4 (vec4 accumulators). */
  threadFilters: number;
  /** A multiple of 4. */
  chunk: number;
  splits?: number;
}

/** The problem as the program sees it: an [M, K] × [K, N] product. */
export interface PointwiseProblem {
  /** Output pixels, N·H·W. */
  pixels: number;
  /** Input channels K. */
  inChannels: number;
  /** Output channels N. */
  outChannels: number;
}

export const pwSplits = (tile: PointwiseTile): number => tile.splits ?? 1;

export const pwInvocations = (tile: PointwiseTile): number =>
  (tile.pixels / tile.threadPixels) * (tile.filters / tile.threadFilters);

/** vec4s per pixel row of the staged input chunk: one more than the chunk, so rows start on distinct banks. */
export const pwInputRowVecs = (tile: PointwiseTile): number => tile.chunk / 4 + 1;

export function pwWorkgroupStorageBytes(tile: PointwiseTile): number {
  return (tile.pixels * pwInputRowVecs(tile) * 4 + tile.chunk * tile.filters) * BYTES_PER_FLOAT;
}

export function pwWorkgroupCount(problem: PointwiseProblem, tile: PointwiseTile): number {
  return (
    Math.ceil(problem.pixels / tile.pixels) * Math.ceil(problem.outChannels / tile.filters) * pwSplits(tile)
  );
}

const isPositiveInt = (v: number) => Number.isInteger(v) && v > 0;
const fail = (reason: string): Support => ({ supported: false, reason });

/** Whether `tile` is well formed and fits `limits`. */
export function pwTileFits(tile: PointwiseTile, limits: KernelLimits): Support {
  const { pixels, filters, threadPixels, threadFilters, chunk } = tile;
  const splits = pwSplits(tile);
  if (![pixels, filters, threadPixels, threadFilters, chunk, splits].every(isPositiveInt)) {
    return fail(`tile parameters must be positive integers: ${JSON.stringify(tile)}`);
  }
  if (threadFilters % 4 !== 0 || filters % threadFilters !== 0) {
    return fail('filters must be a multiple of threadFilters, itself a multiple of 4');
  }
  if (pixels % threadPixels !== 0) return fail('pixels must be a multiple of threadPixels');
  if (chunk % 4 !== 0) return fail('chunk must be a multiple of 4');
  if ((threadPixels * threadFilters) / 4 > 32) {
    return fail('threadPixels × threadFilters must be at most 128 accumulators');
  }
  if (splits > 64) return fail('splits must be at most 64');
  return workgroupFits(pwInvocations(tile), pwWorkgroupStorageBytes(tile), limits);
}

/** Workgroups that keep a large GPU busy (about two per SM of an H100). */
const TARGET_WORKGROUPS = 264;

/** Fewest input channels one split of the reduction keeps (less and the partial sums cost more than they save). */
const MIN_SPLIT_CHANNELS = 64;

/**
 * tfjs runs a 1x1 convolution as a matrix product with 32×32 outputs per
 * workgroup. The rules below follow where this program measured faster on
 * an H100 (bench/results/pointwise-*): the shapes they leave out measured
 * slower (0.7–0.95×) and stay with tfjs.
 */
export const TFJS_MATMUL_TILE = 32;
/** Below this many tfjs workgroups a large GPU idles: splitting the input channels wins (1.0–2.7×). */
const SPLIT_BELOW_STOCK_WORKGROUPS = 192;
/** With this few (narrow outputs such as detection heads), shallower products split too (1.24×). */
const SPLIT_BELOW_STOCK_WORKGROUPS_SHALLOW = 64;
const SPLIT_CHANNELS_SHALLOW = 384;
/** Input channels worth dividing among workgroups: for idle GPUs, and for deep products. */
const SPLIT_CHANNELS = 512;
const DEEP_CHANNELS = 448;
/** Deep products to this many output channels or more win with split tiles too (1.1–1.3×). */
const DEEP_MIN_OUT_CHANNELS = 128;
/** Large maps win without splits where the input is shallow or the output wide (1.05–1.5×). */
const LARGE_MAP_PIXELS = 16384;
const SHALLOW_CHANNELS = 48;
const WIDE_OUT_CHANNELS = 96;
/** Shallow inputs to wide outputs win from this many pixels (PoseNet's 97²x48→96 at batch 1: 1.15×). */
const SHALLOW_WIDE_MAP_PIXELS = 8192;
/** Mid-sized maps win where both sides are wide (PoseNet's 25² layers at batch 8: 1.07–1.14×). */
const MID_MAP_PIXELS = 4096;
const WIDE_BOTH_CHANNELS = 192;
/**
 * Shallow products (this many input channels or fewer) that would get fewer
 * than this many workgroups from wide tiles take 32-filter tiles instead: each
 * workgroup is short, so the GPU needs more of them (1.14–1.2× against
 * 0.95× at batch 1).
 */
const NARROW_MAX_CHANNELS = 96;
const NARROW_BELOW_WORKGROUPS = 528;

type PointwiseCase = 'split' | 'deep' | 'large' | 'stock';

const stockWorkgroups = (problem: PointwiseProblem) =>
  Math.ceil(problem.pixels / TFJS_MATMUL_TILE) * Math.ceil(problem.outChannels / TFJS_MATMUL_TILE);

function caseOf(problem: PointwiseProblem): PointwiseCase {
  const { pixels, inChannels, outChannels } = problem;
  // The program reads the input as vec4s.
  if (inChannels % 4 !== 0) return 'stock';
  const stock = stockWorkgroups(problem);
  if (
    (inChannels >= SPLIT_CHANNELS && stock < SPLIT_BELOW_STOCK_WORKGROUPS) ||
    (inChannels >= SPLIT_CHANNELS_SHALLOW && stock < SPLIT_BELOW_STOCK_WORKGROUPS_SHALLOW)
  ) {
    return 'split';
  }
  if (
    inChannels >= DEEP_CHANNELS &&
    outChannels >= DEEP_MIN_OUT_CHANNELS &&
    stock >= SPLIT_BELOW_STOCK_WORKGROUPS
  ) {
    return 'deep';
  }
  if (pixels >= LARGE_MAP_PIXELS && (inChannels <= SHALLOW_CHANNELS || outChannels >= WIDE_OUT_CHANNELS)) {
    return 'large';
  }
  if (
    pixels >= SHALLOW_WIDE_MAP_PIXELS &&
    inChannels <= SHALLOW_CHANNELS &&
    outChannels >= WIDE_OUT_CHANNELS
  ) {
    return 'large';
  }
  if (pixels >= MID_MAP_PIXELS && inChannels >= WIDE_BOTH_CHANNELS && outChannels >= WIDE_BOTH_CHANNELS) {
    return 'large';
  }
  return 'stock';
}

/**
 * Whether the program is expected to beat tfjs's kernel on `problem` at its
 * default tile (the kernels hand the other shapes to tfjs).
 */
export const pointwiseBeatsStock = (problem: PointwiseProblem): boolean => caseOf(problem) !== 'stock';

/** Filter blocks of balanced size up to `most`, so few lanes idle past the last output channel. */
function balancedFilters(outChannels: number, most: number, threadFilters: number): number {
  const blocks = Math.ceil(outChannels / most);
  return Math.ceil(outChannels / blocks / threadFilters) * threadFilters;
}

/**
 * The tile to use without on-device tuning, following the sweep winners on
 * an H100. 4-pixel register tiles throughout;
 *   - 'split' (tfjs would leave the GPU idle): 64 × 32 tiles, the input
 *     channels split among workgroups until the GPU is full;
 *   - 'deep': 128 pixels × 32 filters (64 from 137 output channels, 8 per
 *     invocation), split until the GPU is full;
 *   - otherwise 128 pixels (64 where that leaves the GPU with less than
 *     a workgroup per SM) × all output channels up to 48 (4 per invocation) or 96
 *     (8 per invocation), else blocks of 64; shallow products that would
 *     get few workgroups that way take blocks of 32 (4 per invocation).
 * Shrunk to fit the device.
 */
export function defaultPointwiseTile(problem: PointwiseProblem, limits: KernelLimits): PointwiseTile {
  const kind = caseOf(problem);
  const outC = problem.outChannels;
  const wide = outC % 8 === 0 && (kind === 'deep' ? outC > 136 : outC > SHALLOW_CHANNELS);
  const threadFilters = kind !== 'split' && wide ? 8 : 4;
  const most = kind === 'split' || (kind === 'deep' && !wide) ? 32 : wide ? (outC <= 96 ? 96 : 64) : 48;
  const tile: PointwiseTile = {
    pixels: kind === 'split' ? 64 : 128,
    filters: balancedFilters(outC, most, threadFilters),
    threadPixels: 4,
    threadFilters,
    chunk: 16,
  };
  if (
    kind === 'large' &&
    wide &&
    problem.inChannels <= NARROW_MAX_CHANNELS &&
    pwWorkgroupCount(problem, tile) < NARROW_BELOW_WORKGROUPS
  ) {
    tile.threadFilters = 4;
    tile.filters = balancedFilters(outC, 32, 4);
  }
  if (kind === 'large' && pwWorkgroupCount(problem, tile) < TARGET_WORKGROUPS / 2) {
    tile.pixels = 64;
  }
  while (!pwTileFits(tile, limits).supported && tile.pixels > 16) tile.pixels /= 2;
  while (!pwTileFits(tile, limits).supported && tile.filters > tile.threadFilters) {
    tile.filters = balancedFilters(outC, tile.filters / 2, tile.threadFilters);
  }
  if (kind === 'split' || kind === 'deep') {
    const fill = Math.ceil(TARGET_WORKGROUPS / pwWorkgroupCount(problem, tile));
    const splits = Math.min(64, Math.floor(problem.inChannels / MIN_SPLIT_CHANNELS), fill);
    if (splits > 1) tile.splits = splits;
  }
  return tile;
}
