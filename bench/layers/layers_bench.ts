/**
 * Per-layer benchmark of the FCM kernels on a real GPU (Node+Dawn): for every
 * DW→PW and PW→DW site shape of nsfwjs mobilenet_v2_mid, at each batch size,
 * stock tfjs-webgpu (two kernels, each with its fused bias/activation) vs the
 * fused kernel, in one process:
 *   - a short on-device sweep over tile candidates (the planner's top tiles,
 *     the default and a few hand-picked ones), GPU time from timestamps;
 *   - paired rounds with the best tile: stock and fused adjacent in time,
 *     median of the per-round GPU-time ratios (the GPU clock swings under
 *     per-kernel profiling, so only paired ratios are meaningful);
 *   - un-profiled back-to-back repeats submitted together (wall from the first
 *     dispatch to the final readback / repeats), interleaved the same way;
 *   - bytes moved and the HBM byte-roofline floor.
 *
 *   bash ../shared/gpu/bundle.sh bench/layers/layers_bench.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/layers_bench.mjs --batches 1,8 --out $OUT/layers.json
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

import '../../src/index'; // registers webgpu-fused
import { dwPwTileFits } from '../../src/kernels/depthwise_pointwise_tile';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { pwDwTileFits } from '../../src/kernels/pointwise_depthwise_tile';
import { DwPwProblem, DwPwTile, PwDwProblem, PwDwTile } from '../../src/kernels/types';
import { buildSiteRunner } from '../../src/ops/site_timer';
import { resolveDwPwTile } from '../../src/kernels/FusedDepthwisePointwiseConv2D';
import { resolvePwDwTile } from '../../src/kernels/FusedPointwiseDepthwiseConv2D';
import {
  deviceProfileFromLimits,
  dwPwFusedCost,
  H100_LIKE_PROFILE,
  predictMs,
  pwDwFusedCost,
  searchDwPwTile,
  searchPwDwTile,
} from '../../src/planner/index';
import {
  backToBackMs,
  dedupe,
  deviceDescription,
  gpuTime,
  median,
  on,
  parseArgs,
  quantile,
  runMain,
  valuesOn,
  writeResults,
} from '../util';
import { DW_PW_SITES, DwPwSite, PW_DW_SITES, PwDwSite } from './sites';

const args = parseArgs(process.argv.slice(2));
const BATCHES = (args.batches ?? '1,8').split(',').map(Number);
const ROUNDS = Number(args.rounds ?? 30);
const WARMUP = Number(args.warmup ?? 2);
const SWEEP_RUNS = Number(args['sweep-runs'] ?? 5);
const REPEATS = Number(args.repeats ?? 100);
const B2B_ROUNDS = Number(args['b2b-rounds'] ?? 5);
const ONLY = args.only;
const HBM_BYTES_PER_MS = 3.35e9; // H100 SXM HBM3: 3.35 TB/s

interface Variant<T> {
  label: string;
  tile: T;
  predictedMs: number;
}

/** Bytes each variant must move at least (float32): inputs, outputs, weights, and the intermediate for stock. */
function siteBytes(site: DwPwSite | PwDwSite, n: number): { stock: number; fused: number } {
  if (site.kind === 'dwpw') {
    const ho = Math.ceil(site.h / site.stride);
    const x = n * site.h * site.h * site.c;
    const mid = n * ho * ho * site.c;
    const out = n * ho * ho * site.f;
    const w = 10 * site.c + (site.c + 1) * site.f;
    return { stock: 4 * (x + 2 * mid + out + w), fused: 4 * (x + out + w) };
  }
  const ho = Math.ceil(site.h / site.stride);
  const x = n * site.h * site.h * site.cin;
  const mid = n * site.h * site.h * site.m;
  const out = n * ho * ho * site.m;
  const w = (site.cin + 1) * site.m + 10 * site.m;
  return { stock: 4 * (x + 2 * mid + out + w), fused: 4 * (x + out + w) };
}

async function measureSite(site: DwPwSite | PwDwSite, n: number) {
  await tf.setBackend('webgpu-fused');
  const limits = kernelLimitsOf((tf.backend() as unknown as { device: GPUDevice }).device.limits);
  const profile = deviceProfileFromLimits(limits, {}, H100_LIKE_PROFILE);

  // Candidate tiles: default, the planner's top 4, hand-picked ones.
  let variants: Variant<DwPwTile | PwDwTile>[] = [];
  let problem: DwPwProblem | PwDwProblem;
  if (site.kind === 'dwpw') {
    problem = {
      batch: n,
      inHeight: site.h,
      inWidth: site.h,
      channels: site.c,
      outChannels: site.f,
      kernelSize: 3,
      stride: site.stride,
      outHeight: Math.ceil(site.h / site.stride),
      outWidth: Math.ceil(site.h / site.stride),
    };
    const search = searchDwPwTile(problem as DwPwProblem, profile, { top: 4 });
    const tiles: Array<[string, DwPwTile]> = [
      ['default', resolveDwPwTile(problem as DwPwProblem, limits)],
      ...search.top.map((c, i): [string, DwPwTile] => [`planner#${i + 1}`, c.tile]),
      ...dwPwSweepTiles(site.f),
    ];
    variants = dedupe(tiles.filter(([, t]) => dwPwTileFits(t, limits).supported)).map(([label, tile]) => ({
      label,
      tile,
      predictedMs: predictMs(dwPwFusedCost(problem as DwPwProblem, tile as DwPwTile), profile),
    }));
  } else {
    problem = {
      batch: n,
      inHeight: site.h,
      inWidth: site.h,
      inChannels: site.cin,
      channels: site.m,
      kernelSize: 3,
      stride: site.stride,
      outHeight: Math.ceil(site.h / site.stride),
      outWidth: Math.ceil(site.h / site.stride),
    };
    const search = searchPwDwTile(problem as PwDwProblem, profile, { top: 4 });
    const tiles: Array<[string, PwDwTile]> = [
      ['default', resolvePwDwTile(problem as PwDwProblem, limits)],
      ...search.top.map((c, i): [string, PwDwTile] => [`planner#${i + 1}`, c.tile]),
      ...pwDwSweepTiles(),
    ];
    variants = dedupe(tiles.filter(([, t]) => pwDwTileFits(t, 3, site.stride, limits).supported)).map(
      ([label, tile]) => ({
        label,
        tile,
        predictedMs: predictMs(pwDwFusedCost(problem as PwDwProblem, tile as PwDwTile), profile),
      }),
    );
  }

  // The same site runners autotuning uses (src/ops/site_timer.ts), on each backend.
  // Their tensors are freed when the site is done (a batch-32 site's variants take gigabytes).
  const stockRunner = await on('webgpu', async () =>
    buildSiteRunner(site.kind, problem, { kind: 'unfused' }),
  );
  const fusedRunners = await on('webgpu-fused', async () =>
    variants.map((v) => buildSiteRunner(site.kind, problem, { kind: 'fused', tile: v.tile })),
  );
  try {
    return await timeSite(
      site,
      n,
      variants,
      stockRunner.run,
      fusedRunners.map((r) => r.run),
    );
  } finally {
    stockRunner.dispose();
    fusedRunners.forEach((r) => r.dispose());
  }
}

async function timeSite<T>(
  site: DwPwSite | PwDwSite,
  n: number,
  variants: Variant<T>[],
  stock: () => tf.Tensor,
  fusedRuns: Array<() => tf.Tensor>,
) {
  // Correctness first: fused (default tile) vs stock, read back from each device.
  const stockOut = await valuesOn('webgpu', stock);
  let maxRelErr = 0;
  for (const run of fusedRuns) {
    const v = await valuesOn('webgpu-fused', run);
    let maxRef = 0;
    for (let i = 0; i < v.length; i++) maxRef = Math.max(maxRef, Math.abs(stockOut[i]));
    for (let i = 0; i < v.length; i++)
      maxRelErr = Math.max(maxRelErr, Math.abs(v[i] - stockOut[i]) / Math.max(maxRef, 1e-6));
  }

  // Warm-up (compiles), then the sweep.
  for (let i = 0; i < WARMUP; i++) {
    await on('webgpu', () => gpuTime(stock));
    for (const run of fusedRuns) await on('webgpu-fused', () => gpuTime(run));
  }
  const sweep: number[][] = variants.map(() => []);
  const stockSweep: number[] = [];
  for (let r = 0; r < SWEEP_RUNS; r++) {
    stockSweep.push((await on('webgpu', () => gpuTime(stock))).kernelMs);
    for (let i = 0; i < fusedRuns.length; i++)
      sweep[i].push((await on('webgpu-fused', () => gpuTime(fusedRuns[i]))).kernelMs);
  }
  const sweepMedians = sweep.map(median);
  const best = sweepMedians.indexOf(Math.min(...sweepMedians));
  const bestRun = fusedRuns[best];

  // Paired GPU-time rounds.
  const ratios: number[] = [];
  const stockMs: number[] = [];
  const fusedMs: number[] = [];
  let stockPrograms: string[] = [];
  let fusedPrograms: string[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const s = await on('webgpu', () => gpuTime(stock));
    const f = await on('webgpu-fused', () => gpuTime(bestRun));
    stockMs.push(s.kernelMs);
    fusedMs.push(f.kernelMs);
    ratios.push(s.kernelMs / f.kernelMs);
    stockPrograms = s.programs;
    fusedPrograms = f.programs;
  }

  // Un-profiled back-to-back repeats, interleaved.
  const b2bStock: number[] = [];
  const b2bFused: number[] = [];
  const b2bRatios: number[] = [];
  await on('webgpu', () => backToBackMs(stock, 10));
  await on('webgpu-fused', () => backToBackMs(bestRun, 10));
  for (let r = 0; r < B2B_ROUNDS; r++) {
    const s = await on('webgpu', () => backToBackMs(stock, REPEATS));
    const f = await on('webgpu-fused', () => backToBackMs(bestRun, REPEATS));
    b2bStock.push(s);
    b2bFused.push(f);
    b2bRatios.push(s / f);
  }

  const bytes = siteBytes(site, n);
  return {
    site: site.name,
    kind: site.kind,
    count: site.count,
    batch: n,
    maxRelErrVsStock: maxRelErr,
    stock: { gpuMsMedian: median(stockMs), programs: stockPrograms, backToBackMs: median(b2bStock) },
    fused: {
      tile: variants[best].tile,
      tileLabel: variants[best].label,
      gpuMsMedian: median(fusedMs),
      programs: fusedPrograms,
      backToBackMs: median(b2bFused),
    },
    pairedGpuRatio: {
      median: median(ratios),
      p25: quantile(ratios, 0.25),
      p75: quantile(ratios, 0.75),
      rounds: ROUNDS,
    },
    backToBackRatio: { median: median(b2bRatios), rounds: B2B_ROUNDS, repeats: REPEATS },
    sweep: variants.map((v, i) => ({
      label: v.label,
      tile: v.tile,
      gpuMsMedian: sweepMedians[i],
      predictedMs: v.predictedMs,
    })),
    stockSweepMs: median(stockSweep),
    bytes: {
      ...bytes,
      hbmFloorMsStock: bytes.stock / HBM_BYTES_PER_MS,
      hbmFloorMsFused: bytes.fused / HBM_BYTES_PER_MS,
    },
  };
}

/** Hand-picked DW→PW tiles spanning the design space (the on-device sweep). */
function dwPwSweepTiles(f: number): Array<[string, DwPwTile]> {
  const all = Math.min(128, Math.ceil(f / 4) * 4);
  const pixelShapes = [
    [32, 2],
    [64, 4],
    [128, 4],
    [16, 1],
    [128, 8],
    [256, 8],
  ];
  const filterShapes = [
    [Math.min(32, all), 4],
    [all, 8],
    [all, 4],
    [all, 16],
    [Math.min(64, all), 8],
  ];
  const tiles: Array<[string, DwPwTile]> = [];
  for (const [pixels, threadPixels] of pixelShapes) {
    for (const [filters, threadFilters] of filterShapes) {
      if (filters % threadFilters !== 0) continue;
      for (const channelChunk of [16, 32]) {
        const tile = { pixels, filters, channelChunk, threadPixels, threadFilters };
        const invocations = (pixels / threadPixels) * (filters / threadFilters);
        if (invocations >= 32 && invocations <= 512) {
          tiles.push([`p${pixels}/${threadPixels} f${filters}/${threadFilters} c${channelChunk}`, tile]);
        }
      }
    }
  }
  // Small tiles with the channel loop split over slices of invocations.
  for (const pixels of [8, 16]) {
    for (const filters of [Math.min(32, all), Math.min(64, all)]) {
      for (const channelChunk of [16, 32]) {
        for (const channelSplits of [2, 4, 8]) {
          const tile = { pixels, filters, channelChunk, threadPixels: 1, threadFilters: 4, channelSplits };
          tiles.push([`p${pixels}/1 f${filters}/4 c${channelChunk} s${channelSplits}`, tile]);
        }
      }
    }
  }
  // The channel loop split over workgroups, all filters (up to 256) per workgroup.
  const allUpTo256 = Math.ceil(f / 4) * 4 <= 256 ? Math.ceil(f / 4) * 4 : 128;
  for (const [pixels, threadPixels] of [
    [8, 1],
    [16, 2],
    [32, 4],
    [64, 4],
  ]) {
    for (const workgroupSplits of [2, 4, 8, 16]) {
      const tile = {
        pixels,
        filters: allUpTo256,
        channelChunk: 32,
        threadPixels,
        threadFilters: 4,
        workgroupSplits,
      };
      tiles.push([`p${pixels}/${threadPixels} f${allUpTo256}/4 c32 w${workgroupSplits}`, tile]);
    }
  }
  return tiles;
}

/** Hand-picked PW→DW tiles spanning the design space (the on-device sweep). */
function pwDwSweepTiles(): Array<[string, PwDwTile]> {
  const spatial = [
    [4, 4],
    [4, 8],
    [8, 8],
    [7, 7],
    [14, 14],
  ];
  const threads = [
    [2, 128, 4],
    [4, 256, 4],
    [4, 128, 8],
    [2, 64, 16],
  ];
  const tiles: Array<[string, PwDwTile]> = [];
  for (const [tileH, tileW] of spatial) {
    for (const channels of [16, 32, 64]) {
      for (const [threadPositions, workgroupSize, threadChannels] of threads) {
        if (channels % threadChannels !== 0) continue;
        const tile = { tileH, tileW, channels, threadPositions, workgroupSize, threadChannels };
        tiles.push([
          `${tileH}x${tileW} c${channels}/${threadChannels} p${threadPositions} w${workgroupSize}`,
          tile,
        ]);
      }
    }
  }
  return tiles;
}

async function main() {
  if (!(await tf.setBackend('webgpu-fused')) || !(await tf.setBackend('webgpu'))) {
    throw new Error('WebGPU backends failed to initialize');
  }
  const device = deviceDescription();
  console.log(`layers bench: ${device}, batches ${BATCHES.join(',')}, ${ROUNDS} paired rounds`);
  const results = [];
  for (const n of BATCHES) {
    for (const site of [...DW_PW_SITES, ...PW_DW_SITES]) {
      if (ONLY && !site.name.includes(ONLY)) continue;
      const r = await measureSite(site, n);
      results.push(r);
      console.log(
        `b${n} ${r.site.padEnd(24)} stock ${r.stock.gpuMsMedian.toFixed(4)} fused ${r.fused.gpuMsMedian.toFixed(4)} ms ` +
          `ratio ${r.pairedGpuRatio.median.toFixed(2)} [${r.pairedGpuRatio.p25.toFixed(2)}-${r.pairedGpuRatio.p75.toFixed(2)}] ` +
          `b2b ${r.stock.backToBackMs.toFixed(4)}/${r.fused.backToBackMs.toFixed(4)} = ${r.backToBackRatio.median.toFixed(2)} ` +
          `tile ${r.fused.tileLabel} err ${r.maxRelErrVsStock.toExponential(1)} | ` +
          r.sweep.map((s) => `${s.label}:${s.gpuMsMedian.toFixed(4)}`).join(' '),
      );
    }
  }
  writeResults(args.out, device, { backend: 'Node + Dawn (npm webgpu 0.6.2), tfjs 4.22.0', results });
  console.log('done');
}

runMain(main);
