/**
 * On-device sweep of the DW→PW kernel's tile space, for choosing its default
 * tile and checking the planner's cost model: for each DW→PW site shape of
 * nsfwjs mobilenet_v2_mid and human-models posenet at each batch, every tile
 * of a grid (pixels, filters, per-invocation tile, channel chunk, in-workgroup
 * and across-workgroup channel splits) that fits the device is timed against
 * stock tfjs-webgpu:
 *   1. coarse: `--coarse` rounds of stock then fused, GPU time from
 *      timestamps, median of per-round ratios;
 *   2. paired: the best `--top` tiles of stage 1 (and the default tile) get
 *      `--rounds` interleaved rounds against stock (median ratio, p25–p75).
 *
 *   bash ../shared/gpu/bundle.sh bench/layers/dwpw_sweep.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/dwpw_sweep.mjs --batches 1,8,32 --out $OUT/sweep.json
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

import '../../src/index'; // registers webgpu-fused
import { resolveDwPwTile } from '../../src/kernels/FusedDepthwisePointwiseConv2D';
import { dwPwTileFits, dwPwWorkgroupCount } from '../../src/kernels/depthwise_pointwise_tile';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { DwPwProblem, DwPwTile, KernelLimits } from '../../src/kernels/types';
import { buildSiteRunner } from '../../src/ops/site_timer';
import {
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
import { DW_PW_SITES } from './sites';

const args = parseArgs(process.argv.slice(2));
const BATCHES = (args.batches ?? '1,8,32').split(',').map(Number);
const COARSE = Number(args.coarse ?? 3);
const TOP = Number(args.top ?? 4);
const ROUNDS = Number(args.rounds ?? 9);
const MODELS = (args.models ?? 'mobilenet_v2_mid,posenet').split(',');
const CAP = Number(args.cap ?? 60);
const POSENET_BATCHES = (args['posenet-batches'] ?? '1,8').split(',').map(Number);
const list = (name: string, fallback: string) => (args[name] ?? fallback).split(',').map(Number);
// The grid's axes.
const PIXELS = list('pixels', '8,16,32,64,128');
const THREAD_PIXELS = list('thread-pixels', '1,2,4');
const THREAD_FILTERS = list('thread-filters', '4,8');
const CHANNEL_SPLITS = list('channel-splits', '1,4');
const WORKGROUP_SPLITS = list('workgroup-splits', '1,2,4,8,16');
const ORDERS = (args.orders ?? 'pixels,filters').split(',') as Array<'pixels' | 'filters' | 'grid'>;
/** Site names (e.g. `14²x816->136`) to sweep; all when absent. */
const ONLY = args.only?.split(',');
/** Depthwise runs (pixels per register window) to try; 0: the kernel's default. */
const RUNS = list('runs', '0');

interface Shape {
  model: string;
  h: number;
  c: number;
  stride: number;
  f: number;
}

/** posenet (MobileNetV1 0.75 at 385²): its distinct DW→PW shapes. */
const POSENET: Shape[] = [
  [193, 24, 1, 48],
  [193, 48, 2, 96],
  [97, 96, 1, 96],
  [97, 96, 2, 192],
  [49, 192, 1, 192],
  [49, 192, 2, 384],
  [25, 384, 1, 384],
].map(([h, c, stride, f]) => ({ model: 'posenet', h, c, stride, f }));

function shapes(): Shape[] {
  const out: Shape[] = [];
  if (MODELS.includes('mobilenet_v2_mid'))
    out.push(
      ...DW_PW_SITES.map((s) => ({ model: 'mobilenet_v2_mid', h: s.h, c: s.c, stride: s.stride, f: s.f })),
    );
  if (MODELS.includes('posenet')) out.push(...POSENET);
  return ONLY ? out.filter((s) => ONLY.includes(siteName(s))) : out;
}

const siteName = (s: Shape) => `${s.h}²x${s.c}${s.stride === 2 ? ' s2' : ''}->${s.f}`;

const roundUp4 = (v: number) => Math.ceil(v / 4) * 4;

/** The grid, pruned to tiles that fit and give the GPU between ~half a wave and ~40 waves of workgroups. */
function grid(problem: DwPwProblem, limits: KernelLimits): DwPwTile[] {
  const allFilters = roundUp4(problem.outChannels);
  const filterOptions = [...new Set([32, 64, 128, allFilters].filter((f) => f <= allFilters))];
  const chunk = Math.min(32, roundUp4(problem.channels));
  const tiles: DwPwTile[] = [];
  for (const pixels of PIXELS) {
    for (const filters of filterOptions) {
      for (const threadPixels of THREAD_PIXELS) {
        for (const threadFilters of THREAD_FILTERS) {
          for (const channelSplits of CHANNEL_SPLITS) {
            for (const workgroupSplits of WORKGROUP_SPLITS) {
              if (pixels % threadPixels !== 0 || filters % threadFilters !== 0) continue;
              // Splits across workgroups are there to avoid blocks of filters.
              if (workgroupSplits > 1 && filters < Math.min(allFilters, 128)) continue;
              if (problem.channels < chunk * channelSplits * workgroupSplits) continue;
              const tile: DwPwTile = { pixels, filters, channelChunk: chunk, threadPixels, threadFilters };
              if (channelSplits > 1) tile.channelSplits = channelSplits;
              if (workgroupSplits > 1) tile.workgroupSplits = workgroupSplits;
              if (!dwPwTileFits(tile, limits).supported) continue;
              const invocations = (pixels / threadPixels) * (filters / threadFilters) * channelSplits;
              if (invocations < 32) continue;
              const workgroups = dwPwWorkgroupCount(problem, tile);
              if (workgroups < 64 && workgroupSplits < 16) continue;
              if (workgroups > 4000) continue;
              tiles.push(tile);
            }
          }
        }
      }
    }
  }
  // An even sample of at most CAP tiles, each in both thread orders.
  const sample =
    tiles.length <= CAP
      ? tiles
      : Array.from({ length: CAP }, (_, i) => tiles[Math.floor((i * tiles.length) / CAP)]);
  return sample.flatMap((t) =>
    ORDERS.flatMap((threadOrder) =>
      RUNS.filter((run) => t.pixels % Math.max(run, 1) === 0).map((run) => ({
        ...t,
        threadOrder,
        ...(run > 0 ? { depthwiseRun: run } : {}),
      })),
    ),
  );
}

const label = (t: DwPwTile) =>
  `p${t.pixels}/${t.threadPixels} f${t.filters}/${t.threadFilters} c${t.channelChunk}` +
  `${t.channelSplits ? ` s${t.channelSplits}` : ''}${t.workgroupSplits ? ` w${t.workgroupSplits}` : ''}` +
  `${t.threadOrder === 'filters' ? ' F' : t.threadOrder === 'grid' ? ' G' : ''}${t.depthwiseRun ? ` r${t.depthwiseRun}` : ''}`;

async function sweep(shape: Shape, batch: number) {
  await tf.setBackend('webgpu-fused');
  const limits = kernelLimitsOf((tf.backend() as unknown as { device: GPUDevice }).device.limits);
  const out = Math.ceil(shape.h / shape.stride);
  const problem: DwPwProblem = {
    batch,
    inHeight: shape.h,
    inWidth: shape.h,
    channels: shape.c,
    outChannels: shape.f,
    kernelSize: 3,
    stride: shape.stride,
    outHeight: out,
    outWidth: out,
  };
  const defaultTile = resolveDwPwTile(problem, limits);
  const tiles = [
    defaultTile,
    ...ORDERS.filter((o) => o !== (defaultTile.threadOrder ?? 'pixels')).map((threadOrder) => ({
      ...defaultTile,
      threadOrder,
    })),
    ...grid(problem, limits),
  ];
  const stockRunner = await on('webgpu', async () => buildSiteRunner('dwpw', problem, { kind: 'unfused' }));
  const stock = stockRunner.run;
  const stockOnce = async () => (await on('webgpu', () => gpuTime(stock))).kernelMs;
  const reference = await valuesOn('webgpu', stock);
  let referenceMax = 0;
  for (const v of reference) referenceMax = Math.max(referenceMax, Math.abs(v));
  const fusedOnce = async (run: () => tf.Tensor) => (await on('webgpu-fused', () => gpuTime(run))).kernelMs;

  // 1. Coarse: a few paired rounds per tile; every tile's output checked
  // against stock. Only the default and the current best few stay alive.
  interface Timed {
    tile: DwPwTile;
    ratio: number;
    maxRelErr: number;
    runner: { run: () => tf.Tensor; dispose: () => void };
    alive: boolean;
  }
  const coarse: Timed[] = [];
  let worstErr = 0;
  for (const tile of tiles) {
    const runner = await on('webgpu-fused', async () =>
      buildSiteRunner('dwpw', problem, { kind: 'fused', tile }),
    );
    const out = await valuesOn('webgpu-fused', runner.run);
    let maxRelErr = 0;
    for (let i = 0; i < out.length; i++)
      maxRelErr = Math.max(maxRelErr, Math.abs(out[i] - reference[i]) / Math.max(referenceMax, 1e-6));
    worstErr = Math.max(worstErr, maxRelErr);
    const ratios: number[] = [];
    for (let r = 0; r < COARSE; r++) {
      const s = await stockOnce();
      ratios.push(s / (await fusedOnce(runner.run)));
    }
    // A wrong tile never wins.
    const timed = { tile, ratio: maxRelErr < 1e-4 ? median(ratios) : 0, maxRelErr, runner, alive: true };
    coarse.push(timed);
    const alive = coarse
      .slice(1)
      .filter((c) => c.alive)
      .sort((a, b) => b.ratio - a.ratio);
    for (const c of alive.slice(TOP)) {
      c.runner.dispose();
      c.alive = false;
    }
  }
  const ranked = coarse
    .slice(1)
    .filter((c) => c.alive)
    .sort((a, b) => b.ratio - a.ratio);
  const finalists = [coarse[0], ...ranked];

  // 2. Paired rounds for the finalists, interleaved.
  const ratios = finalists.map((): number[] => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < finalists.length; i++) {
      const s = await stockOnce();
      ratios[i].push(s / (await fusedOnce(finalists[i].runner.run)));
    }
  }
  const paired = finalists.map((f, i) => ({
    label: i === 0 ? `default ${label(f.tile)}` : label(f.tile),
    tile: f.tile,
    ratio: median(ratios[i]),
    p25: quantile(ratios[i], 0.25),
    p75: quantile(ratios[i], 0.75),
  }));
  for (const f of finalists) f.runner.dispose();
  stockRunner.dispose();
  const best = paired.slice(1).reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const name = `${shape.model} ${siteName(shape)} b${batch}`;
  console.log(
    `${name}: ${tiles.length} tiles; default ${label(defaultTile)} ${paired[0].ratio.toFixed(2)}×; ` +
      `best ${best.label} ${best.ratio.toFixed(2)}× [${best.p25.toFixed(2)}–${best.p75.toFixed(2)}]; ` +
      `worst rel err ${worstErr.toExponential(1)}`,
  );
  return {
    name,
    problem,
    tiles: tiles.length,
    worstRelErr: worstErr,
    coarse: coarse.map((c) => ({
      label: label(c.tile),
      tile: c.tile,
      ratio: c.ratio,
      maxRelErr: c.maxRelErr,
    })),
    paired,
    best,
  };
}

runMain(async () => {
  await tf.ready();
  const results = [];
  for (const batch of BATCHES) {
    for (const shape of shapes()) {
      if (shape.model === 'posenet' && !POSENET_BATCHES.includes(batch)) continue;
      results.push(await sweep(shape, batch));
      // After every site, so a run cut short keeps what it measured.
      writeResults(args.out, deviceDescription(), { coarseRounds: COARSE, rounds: ROUNDS, results });
    }
  }
});
