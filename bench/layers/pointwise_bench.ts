/**
 * Pointwise (1x1) convolution benchmark on a real GPU (Node+Dawn): every
 * distinct 1x1 convolution of nsfwjs mobilenet_v2_mid and human-models
 * posenet, at each batch size, tfjs-webgpu's kernel (`tf.fused.conv2d` on
 * `webgpu`) against `webgpu-fused`'s PointwiseConv2DProgram at its default
 * tile and at a few swept tiles, in one process. GPU time from timestamp
 * queries in paired rounds (adjacent in time, median of per-round ratios
 * stock / ours), plus un-profiled back-to-back repeats, interleaved.
 *
 *   bash ../shared/gpu/bundle.sh bench/layers/pointwise_bench.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/pointwise_bench.mjs --batches 1,8,32 --out $OUT/pointwise.json
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

import '../../src/index';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { runPointwiseConv2D } from '../../src/kernels/pointwise_conv2d';
import {
  defaultPointwiseTile,
  PointwiseProblem,
  PointwiseTile,
  pwTileFits,
  pwWorkgroupCount,
} from '../../src/kernels/pointwise_tile';
import { KernelLimits } from '../../src/kernels/types';
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
  randomArray,
} from '../util';

const args = parseArgs(process.argv.slice(2));
const BATCHES = (args.batches ?? '1,8,32').split(',').map(Number);
const ROUNDS = Number(args.rounds ?? 9);
const SWEEP_RUNS = Number(args['sweep-runs'] ?? 3);
const REPEATS = Number(args.repeats ?? 20);
const B2B_ROUNDS = Number(args['b2b-rounds'] ?? 3);
const NO_SWEEP = args['no-sweep'] != null;
/** `--chunks 16,32`: reduction chunks the sweep tries (default 16). */
const CHUNKS = (args.chunks ?? '16').split(',').map(Number);
const ONLY = args.only;
const BACKEND = 'Node + Dawn (npm webgpu 0.6.2), tfjs 4.22.0';

interface Layer {
  model: string;
  /** Map side, input and output channels, activation, occurrences at that shape. */
  h: number;
  cin: number;
  cout: number;
  activation: 'relu6' | 'linear';
  count: number;
}

const layer = (
  model: string,
  h: number,
  cin: number,
  cout: number,
  activation: Layer['activation'],
  count = 1,
): Layer => ({
  model,
  h,
  cin,
  cout,
  activation,
  count,
});

/** Every distinct 1x1 convolution of the two models. */
const LAYERS: Layer[] = [
  // mobilenet_v2_mid: expansions (relu6), projections (linear), the last 1x1 (relu6).
  layer('mobilenet_v2_mid', 112, 48, 24, 'linear'),
  layer('mobilenet_v2_mid', 112, 24, 144, 'relu6'),
  layer('mobilenet_v2_mid', 56, 144, 32, 'linear'),
  layer('mobilenet_v2_mid', 56, 32, 192, 'relu6', 2),
  layer('mobilenet_v2_mid', 56, 192, 32, 'linear'),
  layer('mobilenet_v2_mid', 28, 192, 48, 'linear'),
  layer('mobilenet_v2_mid', 28, 48, 288, 'relu6', 3),
  layer('mobilenet_v2_mid', 28, 288, 48, 'linear', 2),
  layer('mobilenet_v2_mid', 14, 288, 88, 'linear'),
  layer('mobilenet_v2_mid', 14, 88, 528, 'relu6', 4),
  layer('mobilenet_v2_mid', 14, 528, 88, 'linear', 3),
  layer('mobilenet_v2_mid', 14, 528, 136, 'linear'),
  layer('mobilenet_v2_mid', 14, 136, 816, 'relu6', 3),
  layer('mobilenet_v2_mid', 14, 816, 136, 'linear', 2),
  layer('mobilenet_v2_mid', 7, 816, 224, 'linear'),
  layer('mobilenet_v2_mid', 7, 224, 1344, 'relu6', 3),
  layer('mobilenet_v2_mid', 7, 1344, 224, 'linear', 2),
  layer('mobilenet_v2_mid', 7, 1344, 448, 'linear'),
  layer('mobilenet_v2_mid', 7, 448, 1792, 'relu6'),
  // posenet (MobileNetV1 at 385²): pointwise layers (relu6) and the four heads (linear).
  layer('posenet', 193, 24, 48, 'relu6'),
  layer('posenet', 97, 48, 96, 'relu6'),
  layer('posenet', 97, 96, 96, 'relu6'),
  layer('posenet', 49, 96, 192, 'relu6'),
  layer('posenet', 49, 192, 192, 'relu6'),
  layer('posenet', 25, 192, 384, 'relu6'),
  layer('posenet', 25, 384, 384, 'relu6', 6),
  layer('posenet', 25, 384, 32, 'linear', 2),
  layer('posenet', 25, 384, 17, 'linear'),
  layer('posenet', 25, 384, 34, 'linear'),
];

const nameOf = (l: Layer) => `${l.model === 'posenet' ? 'posenet' : 'mnv2'} ${l.h}²x${l.cin}->${l.cout}`;

/** A runner of the layer on the current backend: tf.fused.conv2d, or the program with `tile`. */
function buildRunner(l: Layer, n: number, tile?: PointwiseTile): () => tf.Tensor {
  const x = tf.tensor4d(randomArray(n * l.h * l.h * l.cin, 1, 1), [n, l.h, l.h, l.cin]);
  const filter = tf.tensor4d(randomArray(l.cin * l.cout, 1 / Math.sqrt(l.cin), 2), [1, 1, l.cin, l.cout]);
  const bias = tf.tensor1d(randomArray(l.cout, 0.1, 3));
  if (tile == null) {
    return () => tf.fused.conv2d({ x, filter, strides: 1, pad: 'valid', bias, activation: l.activation });
  }
  // Through a kernel of its own, so tf.profile times it like any other kernel.
  return () =>
    tf.engine().runKernel(TILED_KERNEL, { x, filter, bias }, {
      activation: l.activation,
      tile,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** Bench-only kernel: the pointwise program with the tile given in its attributes. */
const TILED_KERNEL = 'PointwiseConv2DTiled';
tf.registerKernel({
  kernelName: TILED_KERNEL,
  backendName: 'webgpu-fused',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { x, filter, bias } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias: tf.TensorInfo };
    const { activation, tile } = attrs as unknown as { activation: Layer['activation']; tile: PointwiseTile };
    const out = runPointwiseConv2D(
      backend as WebGPUBackend,
      x,
      filter,
      { strides: 1, pad: 'valid' },
      { bias, activation, leakyreluAlpha: 0 },
      tile,
    );
    if (out == null) throw new Error(`the pointwise program declined ${JSON.stringify(tile)}`);
    return out;
  },
});

/** A few tiles around the default: register tiles × workgroup tiles × reduction splits. */
function sweepTiles(problem: PointwiseProblem, limits: KernelLimits): Array<[string, PointwiseTile]> {
  const tiles: Array<[string, PointwiseTile]> = [];
  for (const pixels of [32, 64, 128]) {
    for (const [threadPixels, threadFilters] of [
      [4, 4],
      [4, 8],
      [8, 8],
      [8, 16],
    ]) {
      const fit = Math.ceil(problem.outChannels / threadFilters) * threadFilters;
      const filters = fit <= 16 * threadFilters ? fit : 8 * threadFilters;
      for (const chunk of CHUNKS) {
        const base: PointwiseTile = { pixels, filters, threadPixels, threadFilters, chunk };
        const invocations = (pixels / threadPixels) * (filters / threadFilters);
        if (invocations < 32) continue;
        const fill = Math.min(
          64,
          Math.floor(problem.inChannels / 64),
          Math.ceil(264 / pwWorkgroupCount(problem, base)),
        );
        for (const splits of new Set([1, Math.max(1, fill)])) {
          const tile = splits > 1 ? { ...base, splits } : base;
          if (!pwTileFits(tile, limits).supported) continue;
          tiles.push([`${pixels}x${filters} r${threadPixels}x${threadFilters} c${chunk} s${splits}`, tile]);
        }
      }
    }
  }
  return tiles;
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i]));
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst;
}

async function measure(l: Layer, n: number) {
  await tf.setBackend('webgpu-fused');
  const limits = kernelLimitsOf((tf.backend() as WebGPUBackend).device.limits);
  const problem: PointwiseProblem = { pixels: n * l.h * l.h, inChannels: l.cin, outChannels: l.cout };
  const defaultTile = defaultPointwiseTile(problem, limits);
  const candidates = dedupe<PointwiseTile>([
    ['default', defaultTile],
    ...(NO_SWEEP ? [] : sweepTiles(problem, limits)),
  ]);
  const stock = await on('webgpu', async () => buildRunner(l, n));
  const ours = await on('webgpu-fused', async () => buildRunner(l, n));
  const tileRuns = await on('webgpu-fused', async () =>
    candidates.map(([, tile]) => buildRunner(l, n, tile)),
  );

  // First calls: pipeline creation (shader compile) + run + readback.
  const firstCallMs: Record<string, number> = {};
  let start = performance.now();
  const reference = await valuesOn('webgpu', stock);
  firstCallMs.stock = performance.now() - start;
  start = performance.now();
  const oursValues = await valuesOn('webgpu-fused', ours);
  firstCallMs.ours = performance.now() - start;
  let worstErr = maxRelErr(oursValues, reference);
  for (const run of tileRuns)
    worstErr = Math.max(worstErr, maxRelErr(await valuesOn('webgpu-fused', run), reference));

  const sweep: number[][] = candidates.map(() => []);
  for (let r = 0; r < SWEEP_RUNS; r++) {
    for (let i = 0; i < tileRuns.length; i++) {
      sweep[i].push((await on('webgpu-fused', () => gpuTime(tileRuns[i]))).kernelMs);
    }
  }
  const sweepMedians = sweep.map(median);
  const best = sweepMedians.indexOf(Math.min(...sweepMedians));

  // Paired rounds: stock, ours (default tile, through tf.fused.conv2d), the best swept tile.
  const variants: Array<[string, string, () => tf.Tensor]> = [
    ['stock', 'webgpu', stock],
    ['ours', 'webgpu-fused', ours],
    ['best', 'webgpu-fused', tileRuns[best]],
  ];
  const ms: Record<string, number[]> = {};
  const ratios: Record<string, number[]> = {};
  const dispatches: Record<string, number> = {};
  for (const [v] of variants) {
    ms[v] = [];
    ratios[v] = [];
  }
  for (let r = 0; r < ROUNDS; r++) {
    const t: Record<string, number> = {};
    for (const [v, backend, run] of variants) {
      const timing = await on(backend, () => gpuTime(run));
      t[v] = timing.kernelMs;
      dispatches[v] = timing.dispatches;
      ms[v].push(timing.kernelMs);
    }
    for (const [v] of variants) ratios[v].push(t.stock / t[v]);
  }
  const b2b: Record<string, number[]> = {};
  for (const [v, backend, run] of variants) {
    b2b[v] = [];
    await on(backend, () => backToBackMs(run, 5));
  }
  for (let r = 0; r < B2B_ROUNDS; r++) {
    for (const [v, backend, run] of variants)
      b2b[v].push(await on(backend, () => backToBackMs(run, REPEATS)));
  }
  const result: Record<string, unknown> = {};
  for (const [v] of variants) {
    result[v] = {
      gpuMsMedian: median(ms[v]),
      dispatches: dispatches[v],
      pairedGpuRatio: {
        median: median(ratios[v]),
        p25: quantile(ratios[v], 0.25),
        p75: quantile(ratios[v], 0.75),
      },
      backToBackMs: median(b2b[v]),
      backToBackRatio: median(b2b.stock.map((s, i) => s / b2b[v][i])),
    };
  }
  const flops = 2 * problem.pixels * l.cin * l.cout;
  return {
    layer: nameOf(l),
    model: l.model,
    count: l.count,
    batch: n,
    gflop: flops / 1e9,
    defaultTile,
    bestTile: { label: candidates[best][0], tile: candidates[best][1] },
    maxRelErrVsStock: worstErr,
    firstCallMs,
    variants: result,
    sweep: candidates.map(([label], i) => ({ label, gpuMsMedian: sweepMedians[i] })),
  };
}

const geoMean = (values: number[]) => Math.exp(values.reduce((a, v) => a + Math.log(v), 0) / values.length);

async function main() {
  if (!(await tf.setBackend('webgpu-fused')) || !(await tf.setBackend('webgpu'))) {
    throw new Error('WebGPU backends failed to initialize');
  }
  const device = deviceDescription();
  console.log(`pointwise bench: ${device}, batches ${BATCHES.join(',')}, ${ROUNDS} paired rounds`);
  const results = [];
  const layers = LAYERS.filter((l) => ONLY == null || nameOf(l).includes(ONLY));
  for (const n of BATCHES) {
    const perModel: Record<string, number[][]> = {};
    for (const l of layers) {
      const r = await measure(l, n);
      results.push(r);
      const v = r.variants as Record<
        string,
        { pairedGpuRatio: { median: number }; backToBackRatio: number; gpuMsMedian: number }
      >;
      const stockMs = v.stock.gpuMsMedian;
      console.log(
        `b${n} ${r.layer.padEnd(24)} stock ${stockMs.toFixed(4)} ms (${(r.gflop / stockMs).toFixed(1)} TFLOP/s) | ` +
          `ours ${v.ours.pairedGpuRatio.median.toFixed(2)}x (b2b ${v.ours.backToBackRatio.toFixed(2)}x), ` +
          `best ${v.best.pairedGpuRatio.median.toFixed(2)}x [${r.bestTile.label}] err ${r.maxRelErrVsStock.toExponential(1)} ` +
          `first ${r.firstCallMs.stock.toFixed(0)}/${r.firstCallMs.ours.toFixed(0)} ms`,
      );
      (perModel[l.model] ??= []).push(
        ...Array.from({ length: l.count }, () => [
          v.ours.pairedGpuRatio.median,
          v.best.pairedGpuRatio.median,
        ]),
      );
    }
    for (const [model, ratios] of Object.entries(perModel)) {
      console.log(
        `b${n} ${model}: geo-mean over its 1x1 layers (with repeats) ours ${geoMean(ratios.map((r) => r[0])).toFixed(2)}x, ` +
          `best ${geoMean(ratios.map((r) => r[1])).toFixed(2)}x`,
      );
    }
    // After each batch, so a run cut short keeps what it measured.
    writeResults(args.out, device, { backend: BACKEND, kind: 'pointwise', rounds: ROUNDS, results });
  }
  writeResults(args.out, device, { backend: BACKEND, kind: 'pointwise', rounds: ROUNDS, results });
  console.log('done');
}

runMain(main);
