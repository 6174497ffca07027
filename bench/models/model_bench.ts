/**
 * Model benchmark on a real GPU (Node+Dawn): each vendored model (GraphModels,
 * and the `mobilenet_v2` LayersModel through `loadLayersModel`) on stock
 * `webgpu` vs `webgpu-fused` (rewritten with each requested plan), in one
 * process: first-inference time (shader compiles included), outputs compared
 * with stock, paired GPU-time rounds (summed kernel time from timestamps,
 * stock and fused adjacent, median of per-round ratios), dispatch counts, and
 * un-profiled wall time per inference (execute + readback, median).
 *
 *   bash ../shared/gpu/bundle.sh bench/models/model_bench.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/model_bench.mjs --batches 1,8 --out $OUT/models.json
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { GraphModel, loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';
import { LayersModel, loadLayersModel as tfLoadLayersModel } from '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';

import '../../src/index'; // registers webgpu-fused
import { FusionReport, loadGraphModel } from '../../src/graph-rewrite/index';
import { loadLayersModel } from '../../src/layers-rewrite/index';
import { autotune, deviceProfileFromLimits, H100_LIKE_PROFILE } from '../../src/planner/index';
import { makeSiteTimer } from '../../src/ops/site_timer';
import { POINTWISE_FLAG } from '../../src/kernels/pointwise_conv2d';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { fileHandler, inputShapeOf, smoothImage } from '../../scripts/model_files';
import {
  deviceDescription,
  gpuTime,
  median,
  parseArgs,
  quantile,
  wallMs,
  runMain,
  writeResults,
} from '../util';

const args = parseArgs(process.argv.slice(2));
const MODELS = (args.models ?? 'mobilenet_v2_mid,mobilenet_v2,posenet,blazeface,handskeleton').split(',');
const BATCHES = (args.batches ?? '1,8').split(',').map(Number);
/**
 * Plans to run; `PLAN:noreplay` loads a GraphModel with replay of recorded dispatches off, `PLAN:nopw`
 * runs its 1x1 convolutions with tfjs's kernels instead of the pointwise program.
 */
const PLANS = (args.plans ?? 'all,auto,tuned').split(',');
const ROUNDS = Number(args.rounds ?? 20);
const WARMUP = Number(args.warmup ?? 30);
const WALL_RUNS = Number(args['wall-runs'] ?? 30);

interface Runner {
  label: string;
  backend: string;
  model: { dispose(): unknown };
  input: tf.Tensor;
  run: () => tf.Tensor;
}

/** A GraphModel (execute) or a LayersModel (predict): both give one output tensor here. */
type Model = GraphModel | LayersModel;

async function makeRunner(
  label: string,
  backend: string,
  model: Model,
  shape: number[],
  data: Float32Array,
  pointwise = true,
) {
  await tf.setBackend(backend);
  const input = tf.tensor(data, shape);
  const infer = () => {
    // A LayersModel's execute() needs output names; predict() is its inference call.
    const out = model instanceof LayersModel ? model.predict(input) : (model as GraphModel).execute(input);
    return Array.isArray(out) ? out[0] : out;
  };
  // ':nopw' runs 1x1 convolutions with tfjs's kernels instead of the pointwise program.
  const run = pointwise
    ? infer
    : () => {
        tf.env().set(POINTWISE_FLAG, false);
        try {
          return infer();
        } finally {
          tf.env().set(POINTWISE_FLAG, true);
        }
      };
  return { label, backend, model, input, run } as Runner;
}

/** A converted Keras model (LayersModel): its topology has a model config instead of graph nodes. */
function isLayersModel(dir: string): boolean {
  const json = JSON.parse(readFileSync(`${dir}/model.json`, 'utf8'));
  return !Array.isArray(json.modelTopology?.node);
}

/** A LayersModel's input shape (its first input layer) with the dynamic batch set to `batch`. */
function layersInputShape(dir: string, batch: number): number[] {
  const topology = JSON.parse(readFileSync(`${dir}/model.json`, 'utf8')).modelTopology;
  const config = (topology.model_config ?? topology).config;
  const input = config.layers.find((l: { name: string }) => l.name === config.input_layers[0][0]);
  const dims = input.config.batch_input_shape as Array<number | null>;
  return [dims[0] ?? batch, ...(dims.slice(1) as number[])];
}

async function measureModel(name: string, batch: number, device: string) {
  const dir = `models/${name}`;
  const layers = isLayersModel(dir);
  const shape = layers ? layersInputShape(dir, batch) : inputShapeOf(dir, batch);
  if (shape[0] !== batch) return null; // fixed-batch model: only its own batch
  const data = smoothImage(shape);
  type FuseOptions = Parameters<typeof loadGraphModel>[1] & Parameters<typeof loadLayersModel>[1];
  const loadFused = async (options: FuseOptions): Promise<Model & { fusion: FusionReport }> =>
    layers
      ? loadLayersModel(fileHandler(dir), { ...options, keepOriginal: false })
      : // Compiles stay in the timed first inference, as for stock (loadGraphModel precompiles by default).
        loadGraphModel(fileHandler(dir), { ...options, precompile: false });

  await tf.setBackend('webgpu');
  const stockModel = layers
    ? await tfLoadLayersModel(fileHandler(dir))
    : await tfLoadGraphModel(fileHandler(dir));
  const runners: Runner[] = [await makeRunner('stock', 'webgpu', stockModel, shape, data)];
  await tf.setBackend('webgpu-fused');
  const limits = kernelLimitsOf((tf.backend() as unknown as { device: GPUDevice }).device.limits);
  const profile = deviceProfileFromLimits(limits, {}, H100_LIKE_PROFILE);
  const reports: Record<string, unknown> = {};
  for (const variant of PLANS) {
    const [plan, flag] = variant.split(':') as ['all' | 'auto' | 'none' | 'tuned', string | undefined];
    // 'tuned': the planner deciding from on-device autotuning instead of its model.
    let measured;
    let tuneMs = 0;
    if (plan === 'tuned') {
      const start = performance.now();
      const probe = await loadFused({ plan: 'auto', profile, inputShape: shape });
      measured = await autotune(probe.fusion.plan!, makeSiteTimer(), { deviceKey: device });
      probe.dispose();
      tuneMs = performance.now() - start;
    }
    const model = await loadFused({
      plan: plan === 'tuned' ? 'auto' : plan,
      profile,
      inputShape: shape,
      measured,
      replay: flag !== 'noreplay',
    });
    if (plan === 'tuned') reports.tuneMs = tuneMs;
    reports[variant] = { counts: model.fusion.counts, plan: model.fusion.plan?.totals ?? null };
    runners.push(await makeRunner(`fused:${variant}`, 'webgpu-fused', model, shape, data, flag !== 'nopw'));
  }

  // First inference: shader compiles + the run + readback.
  const firstMs: Record<string, number> = {};
  const outputs: Record<string, Float32Array> = {};
  for (const r of runners) {
    await tf.setBackend(r.backend);
    const start = performance.now();
    const y = r.run();
    outputs[r.label] = (await y.data()) as Float32Array;
    firstMs[r.label] = performance.now() - start;
    y.dispose();
  }
  const maxRelErr: Record<string, number> = {};
  const ref = outputs.stock;
  const refMax = Math.max(...Array.from(ref, Math.abs), 1e-6);
  for (const r of runners.slice(1)) {
    let worst = 0;
    outputs[r.label].forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref[i]) / refMax)));
    maxRelErr[r.label] = Number.isFinite(worst) ? worst : Infinity;
  }

  for (let i = 0; i < WARMUP; i++) {
    for (const r of runners) {
      await tf.setBackend(r.backend);
      await wallMs(r.run);
    }
  }

  const gpu: Record<string, number[]> = Object.fromEntries(runners.map((r) => [r.label, []]));
  const ratios: Record<string, number[]> = Object.fromEntries(runners.slice(1).map((r) => [r.label, []]));
  const dispatches: Record<string, number> = {};
  const programs: Record<string, string[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const times: Record<string, number> = {};
    for (const r of runners) {
      await tf.setBackend(r.backend);
      const t = await gpuTime(r.run);
      times[r.label] = t.kernelMs;
      gpu[r.label].push(t.kernelMs);
      dispatches[r.label] = t.dispatches;
      programs[r.label] = t.programs;
    }
    for (const r of runners.slice(1)) ratios[r.label].push(times.stock / times[r.label]);
  }

  const wall: Record<string, number[]> = Object.fromEntries(runners.map((r) => [r.label, []]));
  const wallRatios: Record<string, number[]> = Object.fromEntries(runners.slice(1).map((r) => [r.label, []]));
  for (let i = 0; i < WALL_RUNS; i++) {
    const times: Record<string, number> = {};
    for (const r of runners) {
      await tf.setBackend(r.backend);
      times[r.label] = await wallMs(r.run);
      wall[r.label].push(times[r.label]);
    }
    for (const r of runners.slice(1)) wallRatios[r.label].push(times.stock / times[r.label]);
  }

  // Outputs again after the timed runs (GraphModels replay recorded dispatches by now).
  const maxRelErrLast: Record<string, number> = {};
  for (const r of runners.slice(1)) {
    await tf.setBackend(r.backend);
    const y = r.run();
    const values = (await y.data()) as Float32Array;
    y.dispose();
    let worst = 0;
    values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref[i]) / refMax)));
    maxRelErrLast[r.label] = Number.isFinite(worst) ? worst : Infinity;
  }

  for (const r of runners) {
    await tf.setBackend(r.backend);
    r.input.dispose();
    r.model.dispose();
  }
  const summary = (v: number[]) => ({ median: median(v), p25: quantile(v, 0.25), p75: quantile(v, 0.75) });
  return {
    model: name,
    kind: layers ? 'LayersModel' : 'GraphModel',
    batch,
    inputShape: shape,
    reports,
    firstInferenceMs: firstMs,
    maxRelErrVsStock: maxRelErr,
    maxRelErrVsStockAfterTimedRuns: maxRelErrLast,
    dispatches,
    /** The last profiled round's dispatches, slowest first. */
    slowestPrograms: Object.fromEntries(
      Object.entries(programs).map(([k, v]) => [
        k,
        [...v].sort((a, b) => Number(b.split(': ')[1]) - Number(a.split(': ')[1])).slice(0, 12),
      ]),
    ),
    gpuMs: Object.fromEntries(Object.entries(gpu).map(([k, v]) => [k, summary(v)])),
    pairedGpuRatio: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, summary(v)])),
    wallMs: Object.fromEntries(Object.entries(wall).map(([k, v]) => [k, summary(v)])),
    pairedWallRatio: Object.fromEntries(Object.entries(wallRatios).map(([k, v]) => [k, summary(v)])),
  };
}

async function main() {
  if (!(await tf.setBackend('webgpu-fused')) || !(await tf.setBackend('webgpu'))) {
    throw new Error('WebGPU backends failed to initialize');
  }
  const device = deviceDescription();
  console.log(
    `model bench: ${device}; models ${MODELS.join(',')}; batches ${BATCHES.join(',')}; plans ${PLANS.join(',')}`,
  );
  const results = [];
  for (const batch of BATCHES) {
    for (const name of MODELS) {
      const r = await measureModel(name, batch, device);
      if (r == null) continue;
      results.push(r);
      const parts = Object.keys(r.pairedGpuRatio).map(
        (k) =>
          `${k}: gpu ${r.gpuMs[k].median.toFixed(3)} ms (x${r.pairedGpuRatio[k].median.toFixed(2)}) ` +
          `wall ${r.wallMs[k].median.toFixed(3)} ms (x${r.pairedWallRatio[k].median.toFixed(2)}) ` +
          `${r.dispatches[k]} disp, first ${r.firstInferenceMs[k].toFixed(0)} ms, err ${r.maxRelErrVsStock[k].toExponential(1)}`,
      );
      console.log(
        `b${batch} ${name}: stock gpu ${r.gpuMs.stock.median.toFixed(3)} ms wall ${r.wallMs.stock.median.toFixed(3)} ms ` +
          `${r.dispatches.stock} disp first ${r.firstInferenceMs.stock.toFixed(0)} ms | ${parts.join(' | ')}`,
      );
    }
  }
  writeResults(args.out, device, { backend: 'Node + Dawn (npm webgpu 0.6.2), tfjs 4.22.0', results });
  console.log('done');
}

runMain(main);
