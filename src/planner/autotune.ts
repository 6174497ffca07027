/**
 * On-device autotuning (opt-in): times each candidate site as stock kernels
 * and as the fused kernel with its top tiles, on the actual device, and
 * returns measurements that `planFusions({measured})` decides with instead
 * of the model. The timing itself is injected (`TimeSite`; see
 * src/ops/site_timer.ts), so this orchestration stays pure and testable.
 * Results are cached by device + site shape + variant, so a second load of
 * the same model (or a model sharing shapes) measures nothing.
 */

import { DwPwProblem, PwDwProblem } from '../kernels/types';
import { BlockSiteProblem, SiteKind } from './graph';
import { FusionPlan, MeasuredSite, SitePlan, SiteProblem, SiteTile } from './plan';
import { searchDwPwTile, searchIrTile, searchPwDwTile } from './tile_search';

export type SiteVariant = { kind: 'unfused' } | { kind: 'fused'; tile: SiteTile };

/** Milliseconds per run of one variant of a site on the current device. */
export type TimeSite = (kind: SiteKind, problem: SiteProblem, variant: SiteVariant) => Promise<number>;

export interface AutotuneCache {
  get(key: string): number | undefined;
  set(key: string, ms: number): void;
}

/** A cache in memory; `entries` can seed it (e.g. from a file) and is what to persist. */
export function memoryCache(
  entries: Record<string, number> = {},
): AutotuneCache & { entries: Record<string, number> } {
  return {
    entries,
    get: (key) => entries[key],
    set: (key, ms) => {
      entries[key] = ms;
    },
  };
}

/** A cache persisted in the browser's localStorage under `prefix` (memory only where absent). */
export function localStorageCache(prefix = 'tfjs-backend-webgpu-fused/autotune/'): AutotuneCache {
  const storage = (globalThis as { localStorage?: Storage }).localStorage;
  const memory = memoryCache();
  return {
    get: (key) => {
      const stored = storage?.getItem(prefix + key);
      return stored != null ? Number(stored) : memory.get(key);
    },
    set: (key, ms) => {
      memory.set(key, ms);
      try {
        storage?.setItem(prefix + key, String(ms));
      } catch {
        // Quota or privacy mode: the in-memory copy still serves this session.
      }
    },
  };
}

export interface AutotuneOptions {
  /** Fused tiles to time per site besides "don't fuse" (default 3, at least 1). */
  candidates?: number;
  cache?: AutotuneCache;
  /** Identifies the device in cache keys (adapter vendor/architecture/device/driver). */
  deviceKey: string;
  onProgress?: (done: number, total: number) => void;
}

const tileKey = (tile: SiteTile) =>
  JSON.stringify(Object.entries(tile).sort(([a], [b]) => a.localeCompare(b)));

/** The plan's tile, its runners-up, then the model's search ranking: up to `count` distinct tiles. */
export function candidateTiles(site: SitePlan, plan: FusionPlan, count: number): SiteTile[] {
  const tiles: SiteTile[] = [];
  const seen = new Set<string>();
  const add = (tile: SiteTile) => {
    if (tiles.length < count && !seen.has(tileKey(tile))) {
      seen.add(tileKey(tile));
      tiles.push(tile);
    }
  };
  if (site.fused != null) add(site.fused.tile);
  site.tileCandidates.forEach((c) => add(c.tile));
  if (site.problem != null && tiles.length < count) {
    const options = { top: count, tiles: 'search' } as const;
    const searched =
      site.kind === 'dwpw'
        ? searchDwPwTile(site.problem as DwPwProblem, plan.profile, options).top
        : site.kind === 'pwdw'
          ? searchPwDwTile(site.problem as PwDwProblem, plan.profile, options).top
          : searchIrTile(site.problem as BlockSiteProblem, plan.profile, options).top;
    searched.forEach((c) => add(c.tile));
  }
  return tiles;
}

/** Times every fusable site of `plan` (stock vs `candidates` tiles) and returns the measurements by site id. */
export async function autotune(
  plan: FusionPlan,
  time: TimeSite,
  options: AutotuneOptions,
): Promise<Record<string, MeasuredSite>> {
  const count = Math.max(1, options.candidates ?? 3);
  const cache = options.cache ?? memoryCache();
  const sites = plan.sites.filter((s) => s.legal && s.problem != null && s.fused != null);
  const measured: Record<string, MeasuredSite> = {};
  let done = 0;
  for (const site of sites) {
    const problem = site.problem!;
    const keyOf = (variant: string) =>
      `${options.deviceKey}|${site.kind}|${JSON.stringify(problem)}|${variant}`;
    const timed = async (variantKey: string, variant: SiteVariant) => {
      const key = keyOf(variantKey);
      let ms = cache.get(key);
      if (ms == null) {
        ms = await time(site.kind, problem, variant);
        cache.set(key, ms);
      }
      return ms;
    };
    const unfusedMs = await timed('unfused', { kind: 'unfused' });
    let best: { tile: SiteTile; ms: number } | undefined;
    for (const tile of candidateTiles(site, plan, count)) {
      let ms: number;
      try {
        ms = await timed(tileKey(tile), { kind: 'fused', tile });
      } catch {
        continue; // a candidate the kernel rejects on this device: not a choice
      }
      if (best == null || ms < best.ms) best = { tile, ms };
    }
    if (best != null) measured[site.id] = { unfusedMs, fusedMs: best.ms, tile: best.tile };
    options.onProgress?.(++done, sites.length);
  }
  return measured;
}

/**
 * A cache persisted as a JSON file (Node): `save()` writes what was measured,
 * so the next process loading the same model on the same device measures
 * nothing. In a browser use `localStorageCache`.
 */
export async function fileCache(path: string): Promise<AutotuneCache & { save(): Promise<void> }> {
  const fs = await import('node:fs/promises');
  let entries: Record<string, number> = {};
  try {
    entries = JSON.parse(await fs.readFile(path, 'utf8'));
  } catch {
    // No cache yet (or unreadable): start empty.
  }
  const memory = memoryCache(entries);
  return { ...memory, save: () => fs.writeFile(path, JSON.stringify(memory.entries, null, 1)) };
}
