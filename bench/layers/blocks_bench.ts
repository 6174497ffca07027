/**
 * Inverted-residual block benchmark on a real GPU (Node+Dawn): for each block
 * of nsfwjs mobilenet_v2_mid (expand 1x1 + relu6 → depthwise 3x3 + relu6 →
 * project 1x1 (+ residual Add)), at each batch size, four ways in one process:
 *   - stock: tfjs-webgpu's fused conv2d, depthwiseConv2d, conv2d (+ add);
 *   - dwpw: stock expansion, then the DW→PW FCM (+ add);
 *   - pwdw: the PW→DW FCM, then stock projection (+ add);
 *   - block: FusedInvertedResidual (weights packed once), with the tile
 *     picked by a short on-device sweep (the default tile is reported too).
 * GPU time from timestamp queries in paired rounds (the four adjacent in time,
 * median of per-round ratios stock / variant), plus un-profiled back-to-back
 * repeats, interleaved the same way.
 *
 *   bash ../shared/gpu/bundle.sh bench/layers/blocks_bench.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/blocks_bench.mjs --batches 1,8,32 --out $OUT/blocks.json
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

import { fused } from '../../src/index';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { resolveIrTile } from '../../src/kernels/FusedInvertedResidual';
import {
  irGeometry,
  irInlineReduce,
  irTileFits,
  irWorkgroupCount,
} from '../../src/kernels/inverted_residual_tile';
import { IrProblem, IrTile, KernelLimits } from '../../src/kernels/types';
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
  writeResults,
  randomArray,
} from '../util';

const args = parseArgs(process.argv.slice(2));
const BATCHES = (args.batches ?? '1,8,32').split(',').map(Number);
const ROUNDS = Number(args.rounds ?? 15);
const SWEEP_RUNS = Number(args['sweep-runs'] ?? 3);
const REPEAT_CHECKS = Number(args['repeat-checks'] ?? 200);
/** `--no-sweep`: only the default tile (and its reduce-pass form). */
const NO_SWEEP = args['no-sweep'] != null;
const REPEATS = Number(args.repeats ?? 20);
const B2B_ROUNDS = Number(args['b2b-rounds'] ?? 3);
const ONLY = args.only;
const BACKEND = 'Node + Dawn (npm webgpu 0.6.2), tfjs 4.22.0';

interface Block {
  name: string;
  h: number;
  cin: number;
  m: number;
  stride: number;
  cout: number;
  residual: boolean;
  /** How often the shape occurs among the model's 16 blocks. */
  count: number;
}

const block = (h: number, cin: number, m: number, stride: number, cout: number, count = 1): Block => ({
  name: `${h}²x${cin}->${m}${stride === 2 ? ' s2' : ''}->${cout}`,
  h,
  cin,
  m,
  stride,
  cout,
  residual: stride === 1 && cin === cout,
  count,
});

export const MOBILENET_V2_MID_BLOCKS: Block[] = [
  block(112, 24, 144, 2, 32),
  block(56, 32, 192, 1, 32),
  block(56, 32, 192, 2, 48),
  block(28, 48, 288, 1, 48, 2),
  block(28, 48, 288, 2, 88),
  block(14, 88, 528, 1, 88, 3),
  block(14, 88, 528, 1, 136),
  block(14, 136, 816, 1, 136, 2),
  block(14, 136, 816, 2, 224),
  block(7, 224, 1344, 1, 224, 2),
  block(7, 224, 1344, 1, 448),
];

const VARIANTS = ['stock', 'dwpw', 'pwdw', 'block'] as const;
type VariantName = (typeof VARIANTS)[number];

/** Weight data of a block (plain arrays, so each backend makes its own tensors). */
function blockData(b: Block) {
  return {
    expandW: randomArray(b.cin * b.m, 1 / Math.sqrt(b.cin), 1),
    expandB: randomArray(b.m, 0.1, 2),
    dwW: randomArray(9 * b.m, 0.3, 3),
    dwB: randomArray(b.m, 0.1, 4),
    projectW: randomArray(b.m * b.cout, 1 / Math.sqrt(b.m), 5),
    projectB: randomArray(b.cout, 0.1, 6),
  };
}

/** The four ways to run the block, built on the current backend. */
function buildRunners(b: Block, n: number, tile?: IrTile) {
  const d = blockData(b);
  const x = tf.tensor4d(randomArray(n * b.h * b.h * b.cin, 1, 7), [n, b.h, b.h, b.cin]);
  const expandFilter = tf.tensor4d(d.expandW, [1, 1, b.cin, b.m]);
  const expandBias = tf.tensor1d(d.expandB);
  const dwFilter = tf.tensor4d(d.dwW, [3, 3, b.m, 1]);
  const dwBias = tf.tensor1d(d.dwB);
  const projectFilter = tf.tensor4d(d.projectW, [1, 1, b.m, b.cout]);
  const projectBias = tf.tensor1d(d.projectB);
  const weights = { expandFilter, expandBias, dwFilter, dwBias, projectFilter, projectBias };
  const packed = tf.getBackend() === 'webgpu-fused' ? fused.packInvertedResidual(weights) : undefined;
  const strides = b.stride;
  const addResidual = (y: tf.Tensor4D) => (b.residual ? tf.add(y, x) : y);
  const expand = () =>
    tf.fused.conv2d({
      x,
      filter: expandFilter,
      strides: 1,
      pad: 'valid',
      bias: expandBias,
      activation: 'relu6',
    });
  const project = (h: tf.Tensor4D) =>
    tf.fused.conv2d({ x: h, filter: projectFilter, strides: 1, pad: 'valid', bias: projectBias });
  const runners: Record<VariantName, () => tf.Tensor> = {
    stock: () =>
      tf.tidy(() =>
        addResidual(
          project(
            tf.fused.depthwiseConv2d({
              x: expand(),
              filter: dwFilter,
              strides,
              pad: 'same',
              bias: dwBias,
              activation: 'relu6',
            }),
          ),
        ),
      ),
    dwpw: () =>
      tf.tidy(() =>
        addResidual(
          fused.depthwisePointwiseConv2d({
            x: expand(),
            dwFilter,
            pwFilter: projectFilter,
            strides,
            pad: 'same',
            dwBias,
            dwActivation: 'relu6',
            pwBias: projectBias,
          }),
        ),
      ),
    pwdw: () =>
      tf.tidy(() =>
        addResidual(
          project(
            fused.pointwiseDepthwiseConv2d({
              x,
              pwFilter: expandFilter,
              dwFilter,
              strides,
              pad: 'same',
              pwBias: expandBias,
              pwActivation: 'relu6',
              dwBias,
              dwActivation: 'relu6',
            }),
          ),
        ),
      ),
    block: () =>
      fused.invertedResidual({
        x,
        ...weights,
        packed,
        strides,
        pad: 'same',
        expandActivation: 'relu6',
        dwActivation: 'relu6',
        residual: b.residual,
        tile,
      }),
  };
  return runners;
}

function problemOf(b: Block, n: number): IrProblem {
  const ho = Math.ceil(b.h / b.stride);
  return {
    batch: n,
    inHeight: b.h,
    inWidth: b.h,
    inChannels: b.cin,
    expandedChannels: b.m,
    outChannels: b.cout,
    kernelSize: 3,
    stride: b.stride,
    outHeight: ho,
    outWidth: ho,
  };
}

/** Hand-picked block tiles spanning the design space (the on-device sweep). */
function sweepTiles(problem: IrProblem, limits: KernelLimits): Array<[string, IrTile]> {
  const ho = problem.outHeight;
  const spatial = (
    ho <= 7
      ? [
          [1, 7],
          [2, 7],
          [7, 7],
        ]
      : ho <= 14
        ? [
            [2, 7],
            [7, 7],
            [7, 14],
          ]
        : [
            [4, 8],
            [8, 8],
            [8, 16],
          ]
  ).filter(([h, w]) => h <= ho && w <= ho);
  const outC4 = Math.ceil(problem.outChannels / 4) * 4;
  const tiles: Array<[string, IrTile]> = [];
  for (const [tileH, tileW] of spatial) {
    for (const chunk of [16, 32]) {
      for (const threadFilters of outC4 >= 64 ? [8, 16] : [4]) {
        const filters = Math.ceil(outC4 / threadFilters) * threadFilters;
        // The fewest pixels per invocation that keep the workgroup within 256 invocations.
        const threadPixels = [1, 2, 4, 7, 8, 16].find(
          (p) => Math.ceil((tileH * tileW) / p) * (filters / threadFilters) <= 256,
        );
        if (threadPixels != null) {
          const base: IrTile = {
            tileH,
            tileW,
            filters,
            chunk,
            threadPixels,
            threadFilters,
            expandPositions: 4,
          };
          const blocks = irWorkgroupCount(problem, base);
          // No split, the split that brings the workgroups to ~264 (2 per SM on a large GPU), and
          // one chunk per workgroup.
          const split = Math.min(
            64,
            Math.max(1, Math.round(264 / blocks)),
            Math.floor(problem.expandedChannels / chunk),
          );
          const most = Math.min(64, Math.floor(problem.expandedChannels / chunk));
          for (const splits of new Set([1, split, most])) {
            for (const [stageWeights, expandPositions, expandVecs, reduce] of [
              [false, 4, 1, 'inline'],
              [true, 2, 1, 'inline'],
              [true, 2, 1, 'pass'],
              [true, 4, 2, 'inline'],
              [true, 2, 2, 'inline'],
            ] as const) {
              if (reduce === 'pass' && splits === 1) continue;
              const tile: IrTile = {
                ...base,
                expandPositions,
                expandVecs,
                ...(stageWeights ? { stageWeights } : {}),
              };
              if (splits > 1) tile.splits = splits;
              if (splits > 1) tile.reduce = reduce;
              if (!irTileFits(tile, irGeometry(problem), limits).supported) continue;
              tiles.push([
                `${tileH}x${tileW} c${chunk} p${threadPixels} f${filters}/${threadFilters} s${splits}` +
                  ` e${expandPositions}x${expandVecs}${stageWeights ? ' staged' : ''}` +
                  (reduce === 'pass' ? ' pass' : ''),
                tile,
              ]);
            }
          }
        }
      }
    }
  }
  return tiles;
}

async function readBack(backend: string, run: () => tf.Tensor): Promise<Float32Array> {
  return on(backend, async () => {
    const y = run();
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return v;
  });
}

function maxRelErr(a: Float32Array, ref: Float32Array): number {
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) maxRef = Math.max(maxRef, Math.abs(ref[i]));
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - ref[i]) / Math.max(maxRef, 1e-6));
  return err;
}

const backendOf = (v: VariantName) => (v === 'stock' ? 'webgpu' : 'webgpu-fused');

/** The largest |y_i − y_0| over `runs` back-to-back runs, plus 1e30 per NaN output seen. */
async function maxRepeatDiff(run: () => tf.Tensor, runs: number): Promise<number> {
  const first = run();
  let worst: tf.Tensor = tf.scalar(0);
  for (let i = 0; i < runs; i++) {
    const next = tf.tidy(() => {
      const y = run();
      // GPU max() may drop NaNs: count them separately (each adds 1e30).
      const nans = tf.mul(tf.sum(tf.cast(tf.isNaN(y), 'float32')), 1e30);
      return tf.maximum(worst, tf.add(tf.max(tf.abs(tf.sub(y, first))), nans));
    });
    worst.dispose();
    worst = next;
  }
  const value = (await worst.data())[0];
  tf.dispose([first, worst]);
  return value;
}

async function measureBlock(b: Block, n: number) {
  await tf.setBackend('webgpu-fused');
  const limits = kernelLimitsOf((tf.backend() as unknown as { device: GPUDevice }).device.limits);
  const problem = problemOf(b, n);
  const defaultTile = resolveIrTile(problem, limits);
  const candidates = dedupe<IrTile>([
    ['default', defaultTile],
    // The default tile with the other split reduction.
    ...((defaultTile.splits ?? 1) > 1
      ? [
          irInlineReduce(defaultTile)
            ? (['default pass', { ...defaultTile, reduce: 'pass' }] as [string, IrTile])
            : (['default inline', { ...defaultTile, reduce: 'inline' }] as [string, IrTile]),
        ]
      : []),
    ...(NO_SWEEP ? [] : sweepTiles(problem, limits)),
  ]);

  const stock = await on('webgpu', async () => buildRunners(b, n).stock);
  const fusedRunners = await on('webgpu-fused', async () => buildRunners(b, n));
  const tileRuns = await on('webgpu-fused', async () =>
    candidates.map(([, tile]) => buildRunners(b, n, tile).block),
  );

  // Sweep the block tiles (GPU time), after a compile/warm-up pass.
  const reference = await readBack('webgpu', stock);
  const sweep: number[][] = candidates.map(() => []);
  let worstTileErr = 0;
  for (let i = 0; i < tileRuns.length; i++) {
    worstTileErr = Math.max(worstTileErr, maxRelErr(await readBack('webgpu-fused', tileRuns[i]), reference));
  }
  for (let r = 0; r < SWEEP_RUNS; r++) {
    for (let i = 0; i < tileRuns.length; i++) {
      sweep[i].push((await on('webgpu-fused', () => gpuTime(tileRuns[i]))).kernelMs);
    }
  }
  const sweepMedians = sweep.map(median);
  const best = sweepMedians.indexOf(Math.min(...sweepMedians));
  const runs: Record<VariantName, () => tf.Tensor> = { ...fusedRunners, stock, block: tileRuns[best] };
  const defaultRun = tileRuns[0];

  const errors: Record<string, number> = {
    blockTiles: worstTileErr,
    // Bitwise repeatability of the default and best tiles over many back-to-back runs
    // (a lost or stale split partial shows up here as a difference or NaN).
    repeatDefault: await on('webgpu-fused', () => maxRepeatDiff(tileRuns[0], REPEAT_CHECKS)),
    repeatBest: await on('webgpu-fused', () => maxRepeatDiff(tileRuns[best], REPEAT_CHECKS)),
  };
  for (const v of ['dwpw', 'pwdw'] as const) {
    errors[v] = maxRelErr(await readBack('webgpu-fused', runs[v]), reference);
  }

  // Paired rounds: the four variants and the default-tile block adjacent in time.
  const ms: Record<string, number[]> = {};
  const ratios: Record<string, number[]> = {};
  const dispatches: Record<string, number> = {};
  const order = [...VARIANTS, 'blockDefault'] as const;
  for (const v of order) {
    ms[v] = [];
    ratios[v] = [];
  }
  for (let r = 0; r < ROUNDS; r++) {
    const t: Record<string, number> = {};
    for (const v of order) {
      const timing =
        v === 'blockDefault'
          ? await on('webgpu-fused', () => gpuTime(defaultRun))
          : await on(backendOf(v), () => gpuTime(runs[v]));
      t[v] = timing.kernelMs;
      dispatches[v] = timing.dispatches;
      ms[v].push(timing.kernelMs);
    }
    for (const v of order) ratios[v].push(t.stock / t[v]);
  }

  // Un-profiled back-to-back repeats, interleaved.
  const b2b: Record<string, number[]> = {};
  for (const v of VARIANTS) {
    b2b[v] = [];
    await on(backendOf(v), () => backToBackMs(runs[v], 5));
  }
  for (let r = 0; r < B2B_ROUNDS; r++) {
    for (const v of VARIANTS) b2b[v].push(await on(backendOf(v), () => backToBackMs(runs[v], REPEATS)));
  }
  const b2bRatios = (v: VariantName) => median(b2b.stock.map((s, i) => s / b2b[v][i]));

  const variants: Record<string, unknown> = {};
  for (const v of order) {
    variants[v] = {
      gpuMsMedian: median(ms[v]),
      dispatches: dispatches[v],
      pairedGpuRatio: {
        median: median(ratios[v]),
        p25: quantile(ratios[v], 0.25),
        p75: quantile(ratios[v], 0.75),
      },
      ...(v !== 'blockDefault' ? { backToBackMs: median(b2b[v]), backToBackRatio: b2bRatios(v) } : {}),
    };
  }
  const fusedOnly = VARIANTS.filter((v) => v !== 'stock');
  const winner = [...VARIANTS].sort((p, q) => median(ms[p]) - median(ms[q]))[0];
  return {
    block: b.name,
    count: b.count,
    batch: n,
    residual: b.residual,
    winner,
    bestTile: { label: candidates[best][0], tile: candidates[best][1] },
    defaultTile: candidates[0][1],
    maxRelErrVsStock: errors,
    variants,
    sweep: candidates.map(([label], i) => ({ label, gpuMsMedian: sweepMedians[i] })),
    summary: fusedOnly.map((v) => `${v} ${median(ratios[v]).toFixed(2)}x`).join(', '),
  };
}

async function main() {
  if (!(await tf.setBackend('webgpu-fused')) || !(await tf.setBackend('webgpu'))) {
    throw new Error('WebGPU backends failed to initialize');
  }
  const device = deviceDescription();
  console.log(`blocks bench: ${device}, batches ${BATCHES.join(',')}, ${ROUNDS} paired rounds`);
  const results = [];
  for (const n of BATCHES) {
    for (const b of MOBILENET_V2_MID_BLOCKS) {
      if (ONLY && !b.name.includes(ONLY)) continue;
      const r = await measureBlock(b, n);
      results.push(r);
      // Written after every block, so a run cut short keeps what it measured.
      writeResults(args.out, device, { backend: BACKEND, kind: 'blocks', rounds: ROUNDS, results });
      const v = r.variants as Record<string, { gpuMsMedian: number; dispatches: number }>;
      console.log(
        `b${n} ${b.name.padEnd(22)} stock ${v.stock.gpuMsMedian.toFixed(4)} ms (${v.stock.dispatches}) ` +
          `block ${v.block.gpuMsMedian.toFixed(4)} (${v.block.dispatches}) | ${r.summary}, ` +
          `default tile ${(r.variants as Record<string, { pairedGpuRatio: { median: number } }>).blockDefault.pairedGpuRatio.median.toFixed(2)}x | ` +
          `winner ${r.winner} tile ${r.bestTile.label} err ${JSON.stringify(r.maxRelErrVsStock)}`,
      );
    }
    const ofBatch = results.filter((r) => r.batch === n);
    const geo = (v: string) => {
      let logSum = 0;
      let count = 0;
      for (const r of ofBatch) {
        const ratio = (r.variants as Record<string, { pairedGpuRatio: { median: number } }>)[v].pairedGpuRatio
          .median;
        logSum += r.count * Math.log(ratio);
        count += r.count;
      }
      return Math.exp(logSum / count);
    };
    console.log(
      `b${n} geo-mean over the 16 blocks: ` +
        ['dwpw', 'pwdw', 'block', 'blockDefault'].map((v) => `${v} ${geo(v).toFixed(2)}x`).join(', '),
    );
  }
  console.log('done');
}

runMain(main);
