import '../setup';

import { dwPwInvocations, dwPwRun, dwPwTileFits } from '../../src/kernels/depthwise_pointwise_tile';
import { pwDwTileFits } from '../../src/kernels/pointwise_depthwise_tile';
import { DEFAULT_LIMITS, DwPwProblem, PwDwProblem } from '../../src/kernels/types';
import {
  CONSERVATIVE_PROFILE,
  H100_LIKE_PROFILE,
  deviceProfileFromLimits,
  dwPwFusedCost,
  dwPwTileCandidates,
  estimateKernel,
  pwDwFusedCost,
  pwDwTileCandidates,
  searchDwPwTile,
  searchPwDwTile,
} from '../../src/planner';
import { describePure } from '../helpers/describe';

const DW_PW_SITES: DwPwProblem[] = [
  // MobileNetV2-1.4: first block, a stride-2 block, a wide 7² block, and an odd width.
  {
    batch: 1,
    inHeight: 112,
    inWidth: 112,
    channels: 48,
    outChannels: 24,
    kernelSize: 3,
    stride: 1,
    outHeight: 112,
    outWidth: 112,
  },
  {
    batch: 8,
    inHeight: 112,
    inWidth: 112,
    channels: 144,
    outChannels: 32,
    kernelSize: 3,
    stride: 2,
    outHeight: 56,
    outWidth: 56,
  },
  {
    batch: 1,
    inHeight: 7,
    inWidth: 7,
    channels: 1344,
    outChannels: 448,
    kernelSize: 3,
    stride: 1,
    outHeight: 7,
    outWidth: 7,
  },
  {
    batch: 2,
    inHeight: 13,
    inWidth: 11,
    channels: 22,
    outChannels: 10,
    kernelSize: 5,
    stride: 1,
    outHeight: 13,
    outWidth: 11,
  },
];

const PW_DW_SITES: PwDwProblem[] = [
  {
    batch: 1,
    inHeight: 112,
    inWidth: 112,
    inChannels: 24,
    channels: 144,
    kernelSize: 3,
    stride: 2,
    outHeight: 56,
    outWidth: 56,
  },
  {
    batch: 8,
    inHeight: 14,
    inWidth: 14,
    inChannels: 88,
    channels: 528,
    kernelSize: 3,
    stride: 1,
    outHeight: 14,
    outWidth: 14,
  },
  {
    batch: 1,
    inHeight: 7,
    inWidth: 7,
    inChannels: 224,
    channels: 1344,
    kernelSize: 3,
    stride: 1,
    outHeight: 7,
    outWidth: 7,
  },
  {
    batch: 2,
    inHeight: 9,
    inWidth: 10,
    inChannels: 6,
    channels: 18,
    kernelSize: 5,
    stride: 2,
    outHeight: 5,
    outWidth: 5,
  },
];

const PROFILES = [
  H100_LIKE_PROFILE,
  CONSERVATIVE_PROFILE,
  deviceProfileFromLimits(DEFAULT_LIMITS, {}, H100_LIKE_PROFILE),
];

describePure('planner tile search', () => {
  it('returns DW→PW tiles that fit the profile limits (and DEFAULT_LIMITS where those apply)', () => {
    for (const profile of PROFILES) {
      for (const problem of DW_PW_SITES) {
        const result = searchDwPwTile(problem, profile, { tiles: 'search' });
        expect(result.best).withContext(JSON.stringify(problem)).toBeDefined();
        for (const choice of result.top) {
          expect(dwPwTileFits(choice.tile, profile.limits).supported).toBe(true);
          if (
            profile.limits.maxComputeWorkgroupStorageSize <= DEFAULT_LIMITS.maxComputeWorkgroupStorageSize
          ) {
            expect(dwPwTileFits(choice.tile, DEFAULT_LIMITS).supported).toBe(true);
          }
        }
      }
    }
  });

  it('returns PW→DW tiles that fit the profile limits (and DEFAULT_LIMITS where those apply)', () => {
    for (const profile of PROFILES) {
      for (const problem of PW_DW_SITES) {
        const result = searchPwDwTile(problem, profile, { tiles: 'search' });
        expect(result.best).withContext(JSON.stringify(problem)).toBeDefined();
        for (const choice of result.top) {
          const { kernelSize, stride } = problem;
          expect(pwDwTileFits(choice.tile, kernelSize, stride, profile.limits).supported).toBe(true);
          if (
            profile.limits.maxComputeWorkgroupStorageSize <= DEFAULT_LIMITS.maxComputeWorkgroupStorageSize
          ) {
            expect(pwDwTileFits(choice.tile, kernelSize, stride, DEFAULT_LIMITS).supported).toBe(true);
          }
        }
      }
    }
  });

  it('tries filters = F rounded up to 4 and whole-channel chunks', () => {
    const problem = DW_PW_SITES[3]; // C = 22, F = 10
    const tiles = dwPwTileCandidates(problem);
    expect(tiles.some((t) => t.filters === 12)).toBe(true);
    expect(tiles.some((t) => t.channelChunk === 24)).toBe(true);
    const pwDwTiles = pwDwTileCandidates(PW_DW_SITES[3], DEFAULT_LIMITS);
    expect(pwDwTiles.some((t) => t.channels === 20)).toBe(true);
    expect(pwDwTiles.some((t) => t.tileH === 5 && t.tileW === 5)).toBe(true);
  });

  it('tries the channel loop split over workgroups for tiles with all filters, costed with its pass', () => {
    const problem = {
      ...DW_PW_SITES[3],
      batch: 1,
      channels: 1344,
      outChannels: 224,
      inHeight: 7,
      inWidth: 7,
      outHeight: 7,
      outWidth: 7,
    };
    const tiles = dwPwTileCandidates(problem);
    const split = tiles.filter((t) => (t.workgroupSplits ?? 1) > 1);
    expect(split.length).toBeGreaterThan(0);
    for (const t of split) {
      expect(t.filters).toBe(224);
      expect(t.workgroupSplits! * t.channelChunk).toBeLessThanOrEqual(1344);
    }
    // Splits repeat no depthwise work but write partial sums a second dispatch reads.
    const whole = { pixels: 8, filters: 224, channelChunk: 32, threadPixels: 1, threadFilters: 4 };
    const plain = dwPwFusedCost(problem, whole);
    const halves = dwPwFusedCost(problem, { ...whole, workgroupSplits: 16 });
    expect(halves.redundantFlops).toBe(plain.redundantFlops);
    expect(halves.dispatches).toBe(2);
    expect(halves.workgroups).toBe(16 * plain.workgroups);
    // 16 splits × 49 pixels × 224 filters × 4 B, written and read back.
    expect(halves.rereadBytes - plain.rereadBytes).toBe(2 * 16 * 49 * 224 * 4);
  });

  it('picks the longest depthwise run that keeps at least half the invocations busy', () => {
    const tile = (pixels: number, threadPixels: number, filters: number, threadFilters: number) => ({
      pixels,
      threadPixels,
      filters,
      threadFilters,
      channelChunk: 32,
    });
    // 64 pixels × 8 channel vec4s: runs of 4 give 128 units for 128 invocations.
    expect(dwPwRun(tile(64, 4, 32, 4))).toBe(4);
    // 384 invocations: runs of 2 give 256 units (≥ 192).
    expect(dwPwRun(tile(64, 4, 96, 4))).toBe(2);
    // 768 invocations: only runs of 1 give 384 units or more.
    expect(dwPwRun(tile(64, 4, 192, 4))).toBe(1);
    // Runs must divide the tile; a run the tile sets wins.
    expect(dwPwRun(tile(6, 1, 4, 4))).toBe(2);
    expect(dwPwRun({ ...tile(64, 4, 192, 4), depthwiseRun: 4 })).toBe(4);
    for (const t of [tile(64, 4, 32, 4), tile(64, 4, 96, 4), tile(16, 1, 136, 4)]) {
      const units = (t.pixels / dwPwRun(t)) * (t.channelChunk / 4);
      expect(units === t.pixels * (t.channelChunk / 4) || units >= dwPwInvocations(t) / 2).toBe(true);
    }
  });

  it('finds the fastest feasible candidate', () => {
    const profile = CONSERVATIVE_PROFILE;
    const dwPw = DW_PW_SITES[3];
    const dwPwBest = Math.min(
      ...dwPwTileCandidates(dwPw)
        .filter((t) => dwPwTileFits(t, profile.limits).supported)
        .map((t) => estimateKernel(dwPwFusedCost(dwPw, t), profile).ms),
    );
    expect(searchDwPwTile(dwPw, profile, { tiles: 'search' }).best?.estimate.ms).toBe(dwPwBest);
    const pwDw = PW_DW_SITES[3];
    const pwDwBest = Math.min(
      ...pwDwTileCandidates(pwDw, profile.limits)
        .filter((t) => pwDwTileFits(t, pwDw.kernelSize, pwDw.stride, profile.limits).supported)
        .map((t) => estimateKernel(pwDwFusedCost(pwDw, t), profile).ms),
    );
    expect(searchPwDwTile(pwDw, profile, { tiles: 'search' }).best?.estimate.ms).toBe(pwDwBest);
  });

  it('is deterministic and lists runners-up best first', () => {
    const first = searchPwDwTile(PW_DW_SITES[1], H100_LIKE_PROFILE, { top: 5, tiles: 'search' });
    const again = searchPwDwTile(PW_DW_SITES[1], H100_LIKE_PROFILE, { top: 5, tiles: 'search' });
    expect(JSON.stringify(again)).toBe(JSON.stringify(first));
    expect(first.top.length).toBe(5);
    for (let i = 1; i < first.top.length; i++) {
      expect(first.top[i].estimate.ms).toBeGreaterThanOrEqual(first.top[i - 1].estimate.ms);
    }
  });

  it('reports why when no tile fits', () => {
    const tiny = deviceProfileFromLimits({ ...DEFAULT_LIMITS, maxComputeWorkgroupStorageSize: 8 });
    const result = searchDwPwTile(DW_PW_SITES[0], tiny);
    expect(result.best).toBeUndefined();
    expect(result.feasible).toBe(0);
    expect(result.reason).toMatch(/no tile fits/);
  });
});
