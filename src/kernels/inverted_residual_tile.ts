/**
 * Tile arithmetic of the inverted-residual kernel: halo, resource use,
 * feasibility on a device and the default choice. Shared by the kernel, the
 * planner and the tests.
 */

import { BYTES_PER_FLOAT } from './depthwise_pointwise_tile';
import { IrProblem, IrTile, KernelLimits, Support } from './types';
import { workgroupFits } from './workgroup_limits';

/** Expansion positions a block of outputs needs: its depthwise receptive field. */
export function irHalo(tile: IrTile, kernelSize: number, strides: [number, number]) {
  return {
    height: (tile.tileH - 1) * strides[0] + kernelSize,
    width: (tile.tileW - 1) * strides[1] + kernelSize,
  };
}

const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;

export const irSplits = (tile: IrTile): number => tile.splits ?? 1;

export const irExpandVecs = (tile: IrTile): number => tile.expandVecs ?? 1;

/**
 * Whether split partial sums are added up inside the block dispatch (no
 * second pass): only when the tile asks for it. The inline reduction passes
 * the partials between workgroups through atomics (WGSL gives plain stores
 * no ordering across workgroups), and on an H100 that made the blocks of
 * MobileNetV2 0.35–1.1× as fast as stock at batch 1 where the reduce pass
 * gave 1.13–1.68× (bench/results/blocks-2026-11-26-h100-v8-atomic-inline-b1.log).
 */
export function irInlineReduce(tile: IrTile): boolean {
  return irSplits(tile) > 1 && tile.reduce === 'inline';
}

/**
 * Splits per reduction group of the inline reduction: the last workgroup of
 * each group adds the group's partials, the last group reducer adds the
 * group sums, so no workgroup reads more than about 2·√splits partials.
 */
export const irReduceGroupSize = (splits: number): number => Math.ceil(Math.sqrt(splits));

/** Invocations along the pixels of the block (the last one may be partly idle). */
export const irPixelThreads = (tile: IrTile): number =>
  Math.ceil((tile.tileH * tile.tileW) / tile.threadPixels);

export const irInvocations = (tile: IrTile): number =>
  irPixelThreads(tile) * (tile.filters / tile.threadFilters);

/** vec4s per pixel row of the depthwise tile: the chunk plus one, so rows start on distinct banks. */
export const irDepthwiseRowVecs = (tile: IrTile): number => tile.chunk / 4 + 1;

/** What the tile's resource use depends on besides the tile. */
export interface IrGeometry {
  kernelSize: number;
  strides: [number, number];
  inChannels: number;
}

/**
 * Workgroup memory: the expansion of block + halo and the depthwise of the
 * block, one chunk each; with `stageWeights` also the chunk's expansion
 * weights [roundUp4(Cin)][chunk], depthwise weights [k·k][chunk] and
 * projection weights [chunk][filters].
 */
export function irWorkgroupStorageBytes(tile: IrTile, geometry: IrGeometry): number {
  const halo = irHalo(tile, geometry.kernelSize, geometry.strides);
  const expansion = halo.height * halo.width * tile.chunk;
  const depthwise = irPixelThreads(tile) * tile.threadPixels * irDepthwiseRowVecs(tile) * 4;
  const weights = tile.stageWeights
    ? (Math.ceil(geometry.inChannels / 4) * 4 + geometry.kernelSize ** 2 + tile.filters) * tile.chunk
    : 0;
  return (expansion + depthwise + weights) * BYTES_PER_FLOAT;
}

export function irSpatialTiles(problem: IrProblem, tile: IrTile): number {
  return Math.ceil(problem.outHeight / tile.tileH) * Math.ceil(problem.outWidth / tile.tileW);
}

export function irWorkgroupCount(problem: IrProblem, tile: IrTile): number {
  return (
    problem.batch *
    irSpatialTiles(problem, tile) *
    Math.ceil(problem.outChannels / tile.filters) *
    irSplits(tile)
  );
}

/** vec4s of one inline-reduction slot: every invocation's accumulators, padded to whole 128-byte lines. */
export const irSlotVec4s = (tile: IrTile): number =>
  roundUp(irInvocations(tile) * tile.threadPixels * (tile.threadFilters / 4), 8);

/** Bytes of the inline reduction's two scratch regions: counters, then partial-sum slots. */
export interface IrScratchLayout {
  /** [outputBlocks][groups + 1] u32 counters, padded to a 256-byte binding offset. */
  countersBytes: number;
  /** [outputBlocks][splits + groups] slots of `slotVec4s` vec4s. */
  slotsBytes: number;
  /** One slot: a workgroup's partial projection, [accumulator][invocation] vec4s, padded to 128-byte lines. */
  slotVec4s: number;
}

/**
 * Scratch the inline reduction needs: per output block (one per image ×
 * spatial tile × filter block) a counter per reduction group plus one for the
 * groups, and a slot per split and per group.
 */
export function irScratchLayout(problem: IrProblem, tile: IrTile): IrScratchLayout {
  const splits = irSplits(tile);
  const groups = Math.ceil(splits / irReduceGroupSize(splits));
  const outputBlocks =
    problem.batch * irSpatialTiles(problem, tile) * Math.ceil(problem.outChannels / tile.filters);
  const slotVec4s = irSlotVec4s(tile);
  return {
    countersBytes: roundUp(outputBlocks * (groups + 1) * 4, 256),
    slotsBytes: outputBlocks * (splits + groups) * slotVec4s * 16,
    slotVec4s,
  };
}

const isPositiveInt = (v: number) => Number.isInteger(v) && v > 0;
const fail = (reason: string): Support => ({ supported: false, reason });

/** Whether `tile` is well formed and fits `limits` for this kernel size and strides. */
export function irTileFits(tile: IrTile, geometry: IrGeometry, limits: KernelLimits): Support {
  const { tileH, tileW, filters, chunk, threadPixels, threadFilters, expandPositions } = tile;
  const splits = irSplits(tile);
  const fields = [tileH, tileW, filters, chunk, threadPixels, threadFilters, expandPositions, splits];
  if (!fields.every(isPositiveInt)) {
    return fail(`tile parameters must be positive integers: ${JSON.stringify(tile)}`);
  }
  if (threadFilters % 4 !== 0 || filters % threadFilters !== 0) {
    return fail('filters must be a multiple of threadFilters, itself a multiple of 4');
  }
  if (chunk % 4 !== 0) return fail('chunk must be a multiple of 4');
  const expandVecs = irExpandVecs(tile);
  if (!isPositiveInt(expandVecs) || (chunk / 4) % expandVecs !== 0 || expandPositions * expandVecs > 16) {
    return fail('expandVecs must divide chunk / 4, with expandPositions × expandVecs at most 16');
  }
  if (threadPixels > 16 || expandPositions > 8) {
    return fail('threadPixels must be at most 16 and expandPositions at most 8');
  }
  if ((threadPixels * threadFilters) / 4 > 32) {
    return fail('threadPixels × threadFilters must be at most 128 accumulators');
  }
  if (splits > 64) return fail('splits must be at most 64');
  if (tile.reduce != null && tile.reduce !== 'inline' && tile.reduce !== 'pass') {
    return fail(`reduce must be 'inline' or 'pass', got ${JSON.stringify(tile.reduce)}`);
  }
  return workgroupFits(irInvocations(tile), irWorkgroupStorageBytes(tile, geometry), limits);
}

export const irGeometry = (problem: IrProblem): IrGeometry => ({
  kernelSize: problem.kernelSize,
  strides: [problem.stride, problem.stride],
  inChannels: problem.inChannels,
});

/** Pixels per invocation the default tiles use (7 fits 7-wide blocks). */
const THREAD_PIXELS = [1, 2, 4, 7, 8, 16];

/** Workgroups that keep a large GPU busy (about two per SM of an H100); fewer leave SMs idle at batch 1. */
const TARGET_WORKGROUPS = 264;

/**
 * The tile to use without on-device tuning, following the winners of the
 * block benchmark on an H100 (bench/results/blocks-*-h100-v*.json): all
 * output channels in one workgroup (re-expanding per filter block costs more
 * than it saves); at batch 1 2×7 blocks on 7² maps, 7×7 on 14², 4×8 on 28²,
 * 8×8 above, and on maps up to 14² one chunk per workgroup (the expanded
 * channels split as far as they go); from batch 8 7×14 / 8×8 blocks and as
 * many splits as it takes to fill the GPU; staged weights and the fewest
 * pixels per invocation that keep 256 invocations; split partial sums added
 * up by a reduce pass.
 * Shrunk until it fits the device.
 */
export function defaultIrTile(problem: IrProblem, limits: KernelLimits): IrTile {
  const geometry = irGeometry(problem);
  const outC4 = roundUp(problem.outChannels, 4);
  const threadFilters = outC4 >= 384 ? 16 : outC4 >= 64 ? 8 : 4;
  const filters = Math.min(roundUp(outC4, threadFilters), 64 * threadFilters);
  const { outHeight: ho, outWidth: wo } = problem;
  const small = ho <= 14;
  const batch1 = problem.batch === 1;
  let [tileH, tileW] = batch1
    ? ho <= 7
      ? [2, 7]
      : small
        ? [7, 7]
        : ho <= 28
          ? [4, 8]
          : [8, 8]
    : small
      ? [7, 14]
      : [8, 8];
  tileH = Math.min(tileH, ho);
  tileW = Math.min(tileW, wo);
  const pixels = tileH * tileW;
  const threadPixels =
    THREAD_PIXELS.find((p) => Math.ceil(pixels / p) * (filters / threadFilters) <= 256) ?? 16;
  const tile: IrTile = {
    tileH,
    tileW,
    filters,
    chunk: Math.min(ho <= 7 ? 32 : 16, roundUp(problem.expandedChannels, 4)),
    threadPixels,
    threadFilters,
    expandPositions: 2,
    stageWeights: true,
  };
  if (!irTileFits(tile, geometry, limits).supported) {
    delete tile.stageWeights;
    tile.expandPositions = 4;
  }
  // Up the ladder (7 → 8, not 7 → 14 → 28, which no tile takes) while the accumulators fit.
  const morePixels = () => THREAD_PIXELS.find((p) => p > tile.threadPixels && (p * threadFilters) / 4 <= 32);
  for (
    let next = morePixels();
    !irTileFits(tile, geometry, limits).supported && next != null;
    next = morePixels()
  ) {
    tile.threadPixels = next;
  }
  while (!irTileFits(tile, geometry, limits).supported && tile.chunk > 8) {
    tile.chunk = roundUp(tile.chunk / 2, 4);
  }
  while (!irTileFits(tile, geometry, limits).supported && tile.tileH > 1) {
    tile.tileH = Math.ceil(tile.tileH / 2);
  }
  const blocks = irWorkgroupCount(problem, tile);
  const maxSplits = Math.max(1, Math.floor(problem.expandedChannels / tile.chunk));
  // At batch 1 on small maps one chunk per workgroup measured best (the partial sums are small).
  const wanted = batch1 && small ? maxSplits : Math.round(TARGET_WORKGROUPS / blocks);
  const splits = Math.min(maxSplits, 64, Math.max(1, wanted));
  if (splits > 1) tile.splits = splits;
  return tile;
}
