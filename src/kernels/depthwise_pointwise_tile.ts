/**
 * Tile arithmetic of the DW→PW kernel: resource use, feasibility on a device,
 * and the default choice. Shared by the kernel, the planner and the tests.
 */

import { DwPwProblem, DwPwTile, KernelLimits, Support } from './types';

export const BYTES_PER_FLOAT = 4;

/**
 * Adjacent output pixels one invocation computes together in the depthwise
 * stage (a register window over the input row), unless the tile sets it: the
 * largest of 4, 2, 1 that divides the tile and still gives at least half the
 * invocations a unit (run × 4 channels) of the stage, else 1. The stage waits
 * on its loads, so idle invocations cost more than the window saves: on an
 * H100 (bench/results/dwpw-sweep-2026-11-26-h100-runs-*) runs of 1–2 instead
 * of 4 took 14²x816→136 from 1.41× to 2.16× of stock at batch 1 and from
 * 0.78× to 1.18× at batch 8, PoseNet's 193²x48 s2→96 from 0.75× to 1.04×;
 * where runs of 4 already fill the invocations (112²x48→24, 56²x192→32),
 * runs of 1 were slower (0.71–0.79× the speed).
 */
export function dwPwRun(tile: DwPwTile): number {
  if (tile.depthwiseRun != null) return tile.depthwiseRun;
  const units = (run: number) => dwPwSplits(tile) * (tile.pixels / run) * (tile.channelChunk / 4);
  const busy = dwPwInvocations(tile) / 2;
  return [4, 2, 1].find((r) => tile.pixels % r === 0 && units(r) >= busy) ?? 1;
}

/** Slices of invocations that split the channel loop (default 1). */
export function dwPwSplits(tile: DwPwTile): number {
  return tile.channelSplits ?? 1;
}

/** Workgroups that split the channel loop, each storing partial sums (default 1). */
export function dwPwWorkgroupSplits(tile: DwPwTile): number {
  return tile.workgroupSplits ?? 1;
}

/** Whether consecutive invocations take consecutive filters rather than pixels (default no). */
export function dwPwFilterMajor(tile: DwPwTile): boolean {
  return tile.threadOrder === 'filters';
}

export function dwPwInvocations(tile: DwPwTile): number {
  return (tile.pixels / tile.threadPixels) * (tile.filters / tile.threadFilters) * dwPwSplits(tile);
}

/**
 * Workgroup memory: per slice, the depthwise chunk (pixels × chunk) and the
 * chunk's weights (chunk × filters), plus the partial sums of the slices.
 */
export function dwPwWorkgroupStorageBytes(tile: DwPwTile): number {
  const splits = dwPwSplits(tile);
  const depthwise = tile.pixels * dwPwTileRowVecs(tile) * 4;
  const perSlice = depthwise + tile.filters * tile.channelChunk;
  // Slices other than the first hand their partial sums over in workgroup memory.
  const partials = (splits - 1) * tile.pixels * tile.filters;
  return (splits * perSlice + partials) * BYTES_PER_FLOAT;
}

/**
 * vec4s per pixel row of the depthwise tile: the chunk plus one of padding,
 * so invocations reading consecutive pixels hit distinct banks.
 */
export function dwPwTileRowVecs(tile: DwPwTile): number {
  return tile.channelChunk / 4 + 1;
}

export function dwPwWorkgroupCount(problem: DwPwProblem, tile: DwPwTile): number {
  const pixels = problem.batch * problem.outHeight * problem.outWidth;
  return (
    Math.ceil(pixels / tile.pixels) *
    Math.ceil(problem.outChannels / tile.filters) *
    dwPwWorkgroupSplits(tile)
  );
}

/** Bytes of the partial sums a split tile stores: [splits·N·Ho·Wo, roundUp4(F)] floats. */
export function dwPwPartialsBytes(problem: DwPwProblem, tile: DwPwTile): number {
  const pixels = problem.batch * problem.outHeight * problem.outWidth;
  return dwPwWorkgroupSplits(tile) * pixels * Math.ceil(problem.outChannels / 4) * 4 * BYTES_PER_FLOAT;
}

const isPositiveInt = (v: number) => Number.isInteger(v) && v > 0;

/** Whether `tile` is well formed and fits `limits`. */
export function dwPwTileFits(tile: DwPwTile, limits: KernelLimits): Support {
  const { pixels, filters, channelChunk, threadPixels, threadFilters } = tile;
  if (![pixels, filters, channelChunk, threadPixels, threadFilters].every(isPositiveInt)) {
    return { supported: false, reason: `tile parameters must be positive integers: ${JSON.stringify(tile)}` };
  }
  if (threadFilters % 4 !== 0 || filters % threadFilters !== 0) {
    return {
      supported: false,
      reason: 'filters must be a multiple of threadFilters, itself a multiple of 4',
    };
  }
  if (pixels % threadPixels !== 0) {
    return { supported: false, reason: 'pixels must be a multiple of threadPixels' };
  }
  const splits = dwPwSplits(tile);
  if (!isPositiveInt(splits) || splits > 16) {
    return { supported: false, reason: 'channelSplits must be an integer from 1 to 16' };
  }
  if (tile.threadOrder != null && tile.threadOrder !== 'pixels' && tile.threadOrder !== 'filters') {
    return { supported: false, reason: "threadOrder must be 'pixels' or 'filters'" };
  }
  const workgroupSplits = dwPwWorkgroupSplits(tile);
  if (!isPositiveInt(workgroupSplits) || workgroupSplits > 64) {
    return { supported: false, reason: 'workgroupSplits must be an integer from 1 to 64' };
  }
  const run = dwPwRun(tile);
  if (!isPositiveInt(run) || run > 8 || pixels % run !== 0) {
    return { supported: false, reason: 'depthwiseRun must divide pixels and be at most 8' };
  }
  if (channelChunk % 4 !== 0) {
    return { supported: false, reason: 'channelChunk must be a multiple of 4' };
  }
  const invocations = dwPwInvocations(tile);
  if (
    invocations > limits.maxComputeInvocationsPerWorkgroup ||
    invocations > limits.maxComputeWorkgroupSizeX
  ) {
    return {
      supported: false,
      reason: `${invocations} invocations exceed the device limit ${limits.maxComputeInvocationsPerWorkgroup}`,
    };
  }
  const bytes = dwPwWorkgroupStorageBytes(tile);
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    return {
      supported: false,
      reason: `${bytes} B of workgroup storage exceed the device limit ${limits.maxComputeWorkgroupStorageSize}`,
    };
  }
  return { supported: true };
}

const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;

/**
 * The tile to use without on-device tuning, from a sweep of the tile space on
 * an H100 (bench/results/dwpw-sweep-*.json; ratios are stock / fused GPU
 * time). By output pixels (N·Ho·Wo) and input channels C:
 *   - ≤ 400 pixels, C ≥ 256 (14² and 7² maps, 28² at stride 2): the channel
 *     loop split over 16 workgroups, all filters (up to 256) per workgroup,
 *     so the depthwise is computed once: 1.1–1.6× at batch 1, where blocks of
 *     32 filters gave 0.9–1.0×; 64-pixel tiles once there are 200–400 pixels
 *     (7² at batch 8);
 *   - ≤ 1024 pixels, 128 ≤ C (otherwise): 8- or 16-pixel tiles of 32
 *     filters, the channel loop split over 4 or 8 slices of invocations;
 *   - 4096–16384 pixels, C ≥ 128 (28² at batch 8): 64-pixel tiles with the
 *     channel loop split over 4 workgroups (1.14–1.17× where 64-pixel tiles
 *     without splits gave 0.84–0.88×);
 *   - under 64 channels at stride 1, 4096+ pixels (light depthwise work):
 *     32-pixel tiles, 2 pixels per invocation;
 *   - past 65536 pixels: 128-pixel tiles, 4 pixels per invocation;
 *   - otherwise about numPixels / 96 pixels per workgroup (8 to 64), all
 *     filters when there are at most 48 else blocks of 32, 32-channel chunks.
 * Splitting over workgroups did not rescue 1000–4000-pixel maps with
 * C ≥ 512 (0.4–0.8×), so those keep 8-pixel tiles. Shrunk until it fits
 * the device.
 */
export function defaultDwPwTile(problem: DwPwProblem, limits: KernelLimits): DwPwTile {
  const numPixels = problem.batch * problem.outHeight * problem.outWidth;
  const channels = problem.channels;
  const allFilters = roundUp(problem.outChannels, 4);
  const filters = allFilters <= 48 ? allFilters : 32;
  const chunk = Math.min(32, roundUp(channels, 4));
  let tile: DwPwTile;
  if (numPixels <= 400 && channels >= 256) {
    const wide = numPixels > 200;
    tile = {
      pixels: wide ? 64 : 16,
      filters: allFilters <= 256 ? allFilters : 128,
      channelChunk: 32,
      threadPixels: wide ? 4 : 2,
      threadFilters: wide && allFilters % 8 === 0 ? 8 : 4,
      workgroupSplits: 16,
    };
  } else if (numPixels <= 1024 && channels >= 128) {
    const tiny = numPixels <= 400;
    tile = {
      pixels: tiny ? 8 : 16,
      filters: Math.min(allFilters, 32),
      channelChunk: 32,
      threadPixels: 1,
      threadFilters: 4,
      channelSplits: tiny ? 8 : 4,
    };
  } else if (numPixels <= 4096 && channels >= 128) {
    tile = { pixels: 8, filters, channelChunk: 16, threadPixels: 1, threadFilters: 4, channelSplits: 4 };
  } else if (numPixels <= 16384 && channels >= 128) {
    tile = { pixels: 64, filters, channelChunk: 32, threadPixels: 4, threadFilters: 4, workgroupSplits: 4 };
  } else {
    // Light depthwise work (under 64 channels, stride 1): smaller
    // workgroups with 2 pixels per invocation won (112²x48: 1.40× vs 1.15×;
    // 193²x24: 1.06× vs 0.98×). Past 65536 pixels (batch 8 and up) 128-pixel
    // tiles won (112²x48: 1.39–1.43×, 112²x144 s2: 1.23×).
    const light = channels < 64 && problem.stride === 1 && numPixels >= 4096;
    const large = numPixels > 65536;
    const pixels = large
      ? 128
      : light
        ? 32
        : Math.min(64, Math.max(8, 2 ** Math.floor(Math.log2(Math.max(1, numPixels / 96)))));
    tile = {
      pixels,
      filters,
      channelChunk: large && light ? 16 : chunk,
      threadPixels: large ? 4 : light ? 2 : pixels >= 64 ? 4 : pixels >= 32 ? 2 : 1,
      threadFilters: 4,
    };
  }
  while (!dwPwTileFits(tile, limits).supported && (tile.channelSplits ?? 1) > 1) {
    tile.channelSplits = (tile.channelSplits ?? 1) / 2;
  }
  while (!dwPwTileFits(tile, limits).supported && tile.channelChunk > 16) {
    tile.channelChunk = roundUp(tile.channelChunk / 2, 4);
  }
  while (!dwPwTileFits(tile, limits).supported && tile.pixels > tile.threadPixels) {
    tile.pixels /= 2;
  }
  while (!dwPwTileFits(tile, limits).supported && tile.filters > tile.threadFilters) {
    tile.filters = Math.max(tile.threadFilters, roundUp(tile.filters / 2, tile.threadFilters));
  }
  return tile;
}
