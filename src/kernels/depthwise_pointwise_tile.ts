/**
 * Tile arithmetic of the DW→PW kernel: resource use, feasibility on a device,
 * and the default choice. Shared by the kernel, the planner and the tests.
 */

import { DwPwProblem, DwPwTile, KernelLimits, Support } from './types';
import { workgroupFits } from './workgroup_limits';

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

/**
 * The lane grid of threadOrder 'grid': runs of `pixelLanes` × `filterLanes`
 * (at most 4 × 8) consecutive invocations hold that many pixels × filter
 * vec4s. The largest that divides the tile's pixel and filter invocations.
 */
export function dwPwLaneGrid(tile: DwPwTile): { pixelLanes: number; filterLanes: number } {
  const filterThreads = tile.filters / tile.threadFilters;
  const pixelThreads = tile.pixels / tile.threadPixels;
  const filterLanes = [8, 4, 2, 1].find((l) => filterThreads % l === 0) ?? 1;
  const pixelLanes = [32, 16, 8, 4, 2, 1].find((l) => l * filterLanes <= 32 && pixelThreads % l === 0) ?? 1;
  return { pixelLanes, filterLanes };
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
  if (tile.threadOrder != null && !['pixels', 'filters', 'grid'].includes(tile.threadOrder)) {
    return { supported: false, reason: "threadOrder must be 'pixels', 'filters' or 'grid'" };
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
  return workgroupFits(dwPwInvocations(tile), dwPwWorkgroupStorageBytes(tile), limits);
}

const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;

/** A tile of 4 filters per invocation, with its channel split (within or across workgroups) if any. */
function tileOf(
  pixels: number,
  threadPixels: number,
  filters: number,
  channelChunk: number,
  split: Pick<DwPwTile, 'channelSplits' | 'workgroupSplits'> = {},
): DwPwTile {
  return { pixels, filters, channelChunk, threadPixels, threadFilters: 4, ...split };
}

/**
 * The tile to use without on-device tuning, from the winners of on-device
 * sweeps on an H100 with the current depthwise runs (per site shape and
 * batch of MobileNetV2 and PoseNet: bench/results/layers-2026-11-26-h100-v7-dwpw*.json,
 * dwpw-sweep-2026-11-26-h100-posenet.json; ratios are stock / fused GPU
 * time). By output pixels P = N·Ho·Wo, input channels C and filters F:
 *   - P ≤ 100, C ≥ 256 (7² outputs at batch 1): 16-pixel tiles of up to
 *     128 filters, 2 pixels per invocation, the grid thread order, the
 *     channel loop split over 16 workgroups: 2.56–3.09× (all filters in
 *     8-pixel tiles, or blocks of 128 with 4 pixels per invocation:
 *     2.21–2.85×; bench/results/dwpw-sweep-2026-11-26-h100-grid-b1.json);
 *   - P ≤ 256, C ≥ 256 (14² at batch 1): 8-pixel tiles of 32 filters, the
 *     channel loop split over 8 slices of invocations: 1.9–2.1× (all filters
 *     with 16 workgroup splits: 1.2–1.65×);
 *   - P ≤ 512, C ≥ 256 (7² and 14² s2 at batch 8): 64-pixel tiles, all
 *     filters (4 per invocation), 16 workgroup splits: 1.5–1.66× (8 filters
 *     per invocation: 0.9×);
 *   - P ≤ 1024, C ≥ 128: F ≤ 64 (28² at batch 1): 8-pixel tiles, 16-channel
 *     chunks, 8 slices: 1.6–1.7×; F ≤ 192 (HandSkeleton's 32² to 2² maps):
 *     8- or 16-pixel tiles of 32 filters, 8 or 4 slices: 1.2–2.3× (all
 *     filters with workgroup splits: 0.7–0.94×); wider (PoseNet 25², 384
 *     filters): 64-pixel tiles of 128 filters, 4 workgroup splits (about
 *     1.0×, from 0.45×);
 *   - P ≤ 4096, C ≥ 128: F ≤ 48 or C < 256 (56² at batch 1) 8-pixel tiles of
 *     up to 32 filters, 4 slices: 1.4×; wider (14² and 28² s2 at batch 8) all
 *     filters, 32-pixel tiles with 8 workgroup splits up to 96 filters
 *     (1.13–1.27×), else 64-pixel tiles with 4 (1.07–1.15×; blocks of 32
 *     filters: 0.4–0.7×);
 *   - P ≤ 16384, C ≥ 128: 64-pixel tiles, 4 workgroup splits; with C ≥ 256
 *     (14² and 7² at batch 32) all filters up to 224 (else 128): 1.0–1.2×
 *     (blocks of 32 filters: 0.3–0.4×), at stride 2 up to 96 filters 32-pixel
 *     tiles with 2 splits (28² s2: 1.0× where 64-pixel tiles gave 0.85×);
 *   - otherwise (large maps, or under 128 channels): under 64 channels with
 *     4096+ pixels and more than 48 filters, all filters up to 96 in 32-pixel
 *     tiles (64 past 16384 pixels), else blocks of 64 (PoseNet 193² s2: 1.1×,
 *     HandSkeleton 64²: 1.25–1.8×, where blocks of 32 gave 0.66× and
 *     1.2–1.5×); else up to 48 filters all, wider in blocks of 32 (BlazeFace's
 *     16² and 32² maps: 1.14–1.49× against 1.02–1.37× with all filters);
 *     under 64 channels at stride 1 with 4096+ pixels, 32-pixel tiles with 2
 *     pixels per invocation; past 65536 pixels 128-pixel tiles with 4, in
 *     16-channel chunks over 32 channels, and with 48 filters by the 'grid'
 *     thread order (PoseNet 193²x24→48 at batch 8: 1.10× against 0.86×,
 *     bench/results/dwpw-sweep-2026-11-26-h100-grid-b8.json); else about
 *     P / 96 pixels per workgroup (8 to 64).
 * Shrunk until it fits the device.
 */
export function defaultDwPwTile(problem: DwPwProblem, limits: KernelLimits): DwPwTile {
  const numPixels = problem.batch * problem.outHeight * problem.outWidth;
  const channels = problem.channels;
  const allFilters = roundUp(problem.outChannels, 4);
  const chunk = Math.min(32, roundUp(channels, 4));
  const upTo48 = allFilters <= 48 ? allFilters : 32;
  const splitChannels = (channelSplits: number) => ({ channelSplits });
  const splitWorkgroups = (workgroupSplits: number) => ({ workgroupSplits });
  let tile: DwPwTile;
  if (numPixels <= 100 && channels >= 256) {
    tile = tileOf(16, 2, Math.min(allFilters, 128), 32, splitWorkgroups(16));
    tile.threadOrder = 'grid';
  } else if (numPixels <= 256 && channels >= 256) {
    tile = tileOf(8, 1, 32, 32, splitChannels(8));
  } else if (numPixels <= 512 && channels >= 256) {
    tile =
      allFilters <= 256
        ? tileOf(64, 4, allFilters, 32, splitWorkgroups(16))
        : tileOf(16, 2, 128, 32, splitWorkgroups(16));
  } else if (numPixels <= 1024 && channels >= 128) {
    const tiny = numPixels <= 400;
    tile =
      allFilters <= 64
        ? tileOf(8, 1, upTo48, 16, splitChannels(8))
        : allFilters <= 192
          ? tileOf(tiny ? 8 : 16, 1, 32, 32, splitChannels(tiny ? 8 : 4))
          : tileOf(64, 2, 128, 32, splitWorkgroups(4));
  } else if (numPixels <= 4096 && channels >= 128) {
    tile =
      allFilters <= 48 || channels < 256
        ? tileOf(8, 1, upTo48, 16, splitChannels(4))
        : allFilters <= 96
          ? tileOf(32, 4, allFilters, 32, splitWorkgroups(8))
          : tileOf(64, 4, Math.min(allFilters, 224), 32, splitWorkgroups(4));
  } else if (numPixels <= 16384 && channels >= 128) {
    const narrow = allFilters <= 48 || channels < 256;
    const strided = problem.stride === 2 && allFilters <= 96 && !narrow;
    const filters = narrow ? upTo48 : allFilters <= 224 ? allFilters : 128;
    tile = tileOf(strided ? 32 : 64, 4, filters, 32, splitWorkgroups(strided ? 2 : 4));
  } else if (allFilters > 48 && channels <= 64 && numPixels >= 4096) {
    // Shallow large maps with many filters: keep the filters together, the
    // depthwise is computed once per block.
    const wide = numPixels > 16384;
    tile = tileOf(wide ? 64 : 32, wide ? 4 : 2, allFilters <= 96 ? allFilters : 64, chunk);
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
    const threadPixels = large ? 4 : light ? 2 : pixels >= 64 ? 4 : pixels >= 32 ? 2 : 1;
    // Chunks of 16 where the channels take several (112²x48); up to 32
    // channels in one chunk, none wasted (193²x24: 1.10× with the grid
    // order, 0.86× in 16-channel chunks by pixels).
    const largeLight = large && light;
    tile = tileOf(pixels, threadPixels, upTo48, largeLight && channels > 32 ? 16 : chunk);
    if (largeLight && upTo48 >= 48) tile.threadOrder = 'grid';
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
