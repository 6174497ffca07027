/**
 * Exhaustive search over each fused kernel's tile parameters: power-of-two
 * ladders plus the sizes that fit the problem exactly (F and C rounded up to
 * 4, whole rows, even splits of the map). Every tile is checked with the
 * kernel's own feasibility function; the fastest predicted tile wins, ties
 * broken by a fixed order so the result is deterministic.
 */

import { defaultDwPwTile, dwPwTileFits } from '../kernels/depthwise_pointwise_tile';
import { defaultIrTile, irGeometry, irTileFits } from '../kernels/inverted_residual_tile';
import { defaultPwDwTile, pwDwTileFits } from '../kernels/pointwise_depthwise_tile';
import { DwPwProblem, DwPwTile, IrTile, KernelLimits, PwDwProblem, PwDwTile } from '../kernels/types';
import { DeviceProfile } from './device_profile';
import { dwPwFusedCost, irFusedCost, pwDwFusedCost } from './fused_costs';
import { BlockSiteProblem } from './graph';
import { KernelCost, KernelEstimate, estimateKernel, predictMs } from './kernel_cost';

export interface TileChoice<T> {
  tile: T;
  estimate: KernelEstimate;
}

export interface TileSearchResult<T> {
  /** The fastest feasible tile; absent when none fits the limits. */
  best?: TileChoice<T>;
  /** The fastest few feasible tiles, best first. */
  top: TileChoice<T>[];
  candidates: number;
  feasible: number;
  /** Why nothing fits, when nothing does. */
  reason?: string;
}

/**
 * Where tile candidates come from: 'default' (the kernel's own default tile,
 * derived from on-device measurements) or 'search' (every ladder tile ranked
 * by the cost model, which is not yet calibrated against the fused kernels'
 * measured times and can pick slow tiles).
 */
export type TileSource = 'default' | 'search';

export interface TileSearchOptions {
  /** How many runners-up to keep (default 3). */
  top?: number;
  /** Default 'default'. */
  tiles?: TileSource;
}

const roundUp4 = (v: number) => Math.ceil(v / 4) * 4;

/** from, 2·from, 4·from, … while below `last`, then `last` itself. */
function ladderUpTo(from: number, last: number): number[] {
  const values: number[] = [];
  for (let v = from; v < last; v *= 2) values.push(v);
  values.push(last);
  return values;
}

const sortedUnique = (values: number[]) => [...new Set(values)].sort((a, b) => a - b);

/** Tile sizes along one spatial axis: powers of two and the even splits ⌈n/2^j⌉. */
function spatialLadder(size: number): number[] {
  const evenSplits: number[] = [];
  for (let parts = 1; parts <= size; parts *= 2) evenSplits.push(Math.ceil(size / parts));
  return sortedUnique([...ladderUpTo(1, size), ...evenSplits]);
}

/** 4096 pixels × a 4-channel chunk already take 64 KiB of workgroup storage, more than GPUs offer. */
const MAX_PIXELS_PER_WORKGROUP = 4096;

export function dwPwTileCandidates(problem: DwPwProblem): DwPwTile[] {
  const outputPixels = problem.batch * problem.outHeight * problem.outWidth;
  const pixelCap = Math.min(MAX_PIXELS_PER_WORKGROUP, outputPixels);
  const wholeRows: number[] = [];
  for (let rows = 1; rows * problem.outWidth <= pixelCap; rows *= 2) wholeRows.push(rows * problem.outWidth);
  const pixelOptions = sortedUnique([...ladderUpTo(4, Math.max(4, pixelCap)), ...wholeRows]);
  const filterOptions = ladderUpTo(4, roundUp4(problem.outChannels));
  const chunkOptions = ladderUpTo(4, roundUp4(problem.channels));
  const tiles: DwPwTile[] = [];
  for (const pixels of pixelOptions) {
    for (const filters of filterOptions) {
      for (const channelChunk of chunkOptions) {
        for (const threadPixels of [1, 2, 4, 8]) {
          for (const threadFilters of [4, 8]) {
            if (pixels % threadPixels !== 0 || filters % threadFilters !== 0) continue;
            tiles.push({ pixels, filters, channelChunk, threadPixels, threadFilters });
            // Channel loop split over workgroups: for tiles with all filters
            // (the depthwise is then never repeated), while every split gets a chunk.
            if (filters !== filterOptions[filterOptions.length - 1]) continue;
            for (const workgroupSplits of [4, 16]) {
              if (workgroupSplits * channelChunk > problem.channels) continue;
              tiles.push({ pixels, filters, channelChunk, threadPixels, threadFilters, workgroupSplits });
            }
          }
        }
      }
    }
  }
  return tiles;
}

export function pwDwTileCandidates(problem: PwDwProblem, limits: KernelLimits): PwDwTile[] {
  const channelOptions = ladderUpTo(4, roundUp4(problem.channels));
  const sizes = ladderUpTo(32, limits.maxComputeInvocationsPerWorkgroup);
  const tiles: PwDwTile[] = [];
  for (const tileH of spatialLadder(problem.outHeight)) {
    for (const tileW of spatialLadder(problem.outWidth)) {
      for (const channels of channelOptions) {
        for (const threadPositions of [1, 2, 4, 8]) {
          for (const workgroupSize of sizes) {
            tiles.push({ tileH, tileW, channels, threadPositions, workgroupSize });
          }
        }
      }
    }
  }
  return tiles;
}

interface Scored<T> {
  tile: T;
  cost: KernelCost;
  ms: number;
  bytes: number;
}

/**
 * Order of preference among tiles: faster, then fewer bytes, then the
 * tile's own tie-break key (compared element by element, larger first).
 */
function better<T>(a: Scored<T>, b: Scored<T>, key: (t: T) => number[]): boolean {
  if (a.ms !== b.ms) return a.ms < b.ms;
  if (a.bytes !== b.bytes) return a.bytes < b.bytes;
  const ka = key(a.tile);
  const kb = key(b.tile);
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i]) return ka[i] > kb[i];
  }
  return false;
}

function search<T>(
  candidates: T[],
  fits: (tile: T) => { supported: boolean; reason?: string },
  costOf: (tile: T) => KernelCost,
  profile: DeviceProfile,
  key: (tile: T) => number[],
  keep: number,
): TileSearchResult<T> {
  const top: Scored<T>[] = [];
  let feasible = 0;
  let firstReason: string | undefined;
  for (const tile of candidates) {
    const support = fits(tile);
    if (!support.supported) {
      firstReason ??= support.reason;
      continue;
    }
    feasible++;
    const cost = costOf(tile);
    const scored = {
      tile,
      cost,
      ms: predictMs(cost, profile),
      bytes: cost.compulsoryBytes + cost.rereadBytes,
    };
    // Insert into the short sorted list of the best `keep`.
    let at = top.length;
    while (at > 0 && better(scored, top[at - 1], key)) at--;
    if (at < keep) {
      top.splice(at, 0, scored);
      if (top.length > keep) top.pop();
    }
  }
  const choices = top.map((s) => ({ tile: s.tile, estimate: estimateKernel(s.cost, profile) }));
  return {
    best: choices[0],
    top: choices,
    candidates: candidates.length,
    feasible,
    reason: feasible === 0 ? `no tile fits the device limits (e.g. ${firstReason})` : undefined,
  };
}

/** Ties: larger channel chunk (fewer barriers), more invocations, larger tiles. */
const dwPwKey = (t: DwPwTile) => [
  t.channelChunk,
  (t.pixels / t.threadPixels) * (t.filters / t.threadFilters),
  t.pixels,
  t.filters,
  t.threadPixels,
  t.threadFilters,
];

/** Ties: larger tiles (less halo), more channels, then wider per-invocation work, fewer invocations. */
const pwDwKey = (t: PwDwTile) => [
  t.tileH * t.tileW,
  t.tileW,
  t.channels,
  t.threadPositions,
  -t.workgroupSize,
];

export function searchDwPwTile(
  problem: DwPwProblem,
  profile: DeviceProfile,
  options: TileSearchOptions = {},
): TileSearchResult<DwPwTile> {
  return search(
    options.tiles === 'search' ? dwPwTileCandidates(problem) : [defaultDwPwTile(problem, profile.limits)],
    (tile) => dwPwTileFits(tile, profile.limits),
    (tile) => dwPwFusedCost(problem, tile),
    profile,
    dwPwKey,
    options.top ?? 3,
  );
}

export function searchPwDwTile(
  problem: PwDwProblem,
  profile: DeviceProfile,
  options: TileSearchOptions = {},
): TileSearchResult<PwDwTile> {
  return search(
    options.tiles === 'search'
      ? pwDwTileCandidates(problem, profile.limits)
      : [defaultPwDwTile(problem, profile.limits)],
    (tile) => pwDwTileFits(tile, problem.kernelSize, problem.stride, profile.limits),
    (tile) => pwDwFusedCost(problem, tile),
    profile,
    pwDwKey,
    options.top ?? 3,
  );
}

/**
 * Block tiles around the kernel's default: its spatial block as is, with
 * half or twice the rows and with twice the columns; its chunk as is, halved
 * and doubled; for each, 1 split, powers of two up to what the chunk allows
 * (at most 64) and the default's own count, every split count above 1
 * reduced both inline and by a pass.
 */
export function irTileCandidates(problem: BlockSiteProblem, limits: KernelLimits): IrTile[] {
  const base = defaultIrTile(problem, limits);
  const tiles: IrTile[] = [];
  const blocks: Array<[number, number]> = [
    [base.tileH, base.tileW],
    [Math.max(1, Math.ceil(base.tileH / 2)), base.tileW],
    [Math.min(problem.outHeight, base.tileH * 2), base.tileW],
    [base.tileH, Math.min(problem.outWidth, base.tileW * 2)],
  ];
  const chunks = [base.chunk, Math.max(4, base.chunk / 2), base.chunk * 2].filter(
    (c) => c % 4 === 0 && c <= roundUp4(problem.expandedChannels),
  );
  for (const [tileH, tileW] of blocks) {
    for (const chunk of chunks) {
      const maxSplits = Math.max(1, Math.min(64, Math.floor(problem.expandedChannels / chunk)));
      for (const splits of sortedUnique(
        [...ladderUpTo(1, maxSplits), base.splits ?? 1].filter((v) => v <= maxSplits),
      )) {
        for (const reduce of splits > 1 ? (['inline', 'pass'] as const) : [undefined]) {
          const tile: IrTile = { ...base, tileH, tileW, chunk };
          delete tile.splits;
          delete tile.reduce;
          if (splits > 1) Object.assign(tile, { splits, reduce });
          tiles.push(tile);
        }
      }
    }
  }
  return tiles;
}

/** Ties: the default's shape first (larger blocks), then fewer splits, inline before a pass. */
const irKey = (t: IrTile) => [t.tileH * t.tileW, t.chunk, -(t.splits ?? 1), t.reduce === 'pass' ? 0 : 1];

export function searchIrTile(
  problem: BlockSiteProblem,
  profile: DeviceProfile,
  options: TileSearchOptions = {},
): TileSearchResult<IrTile> {
  const geometry = irGeometry(problem);
  return search(
    options.tiles === 'search'
      ? irTileCandidates(problem, profile.limits)
      : [defaultIrTile(problem, profile.limits)],
    (tile) => irTileFits(tile, geometry, profile.limits),
    (tile) => irFusedCost(problem, tile, problem.residual),
    profile,
    irKey,
    options.top ?? 3,
  );
}
