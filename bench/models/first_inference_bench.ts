/**
 * First-inference benchmark (Node+Dawn): the cold first inference of each
 * vendored GraphModel, stock `webgpu` vs `webgpu-fused`, each with tfjs's
 * ordinary path (every pipeline compiled synchronously when first dispatched)
 * and with its parallel compilation (flag WEBGPU_ENGINE_COMPILE_ONLY: one
 * pass that only creates pipelines with createComputePipelineAsync, then
 * `checkCompileCompletionAsync()`, then the real inference).
 *
 * "Cold" means a fresh backend on a fresh GPUDevice for every measurement,
 * so no pipeline is cached by tfjs or Dawn; the model is loaded before the
 * clock starts (weights are uploaded by the first inference, as for users).
 * The variants' order rotates between rounds. Drivers may keep their own
 * shader cache on disk (NVIDIA: disable it with __GL_SHADER_DISK_CACHE=0).
 *
 *   bash ../shared/gpu/bundle.sh bench/models/first_inference_bench.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/first_inference_bench.mjs --rounds 5 --out $OUT/first.json
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { GraphModel, loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';

import { registerWebGPUFusedBackend } from '../../src/index';
import { loadGraphModel } from '../../src/graph-rewrite/index';
import { deviceProfileFromLimits, H100_LIKE_PROFILE } from '../../src/planner/index';
import { fileHandler, inputShapeOf, smoothImage } from '../../scripts/model_files';
import { deviceDescription, median, parseArgs, quantile, runMain, writeResults } from '../util';

const args = parseArgs(process.argv.slice(2));
const MODELS = (args.models ?? 'mobilenet_v2_mid,posenet,blazeface,handskeleton').split(',');
const BATCH = Number(args.batch ?? 1);
const PLAN = (args.plan ?? 'auto') as 'auto' | 'all';
const ROUNDS = Number(args.rounds ?? 5);

const VARIANTS = ['stock', 'stock:parallel', 'fused', 'fused:parallel'] as const;
type Variant = (typeof VARIANTS)[number];

interface Sample {
  /** Clock start to the first inference's outputs read back (compile pass included). */
  firstMs: number;
  /** Parallel variants: the compile-only pass + checkCompileCompletionAsync. */
  compileMs?: number;
  /** The second inference (pipelines cached): what is left of first-inference cost without compiles. */
  secondMs: number;
  outputs: Float32Array[];
  fusedSites: number;
}

let fresh = 0;

/** A stock backend on its own new device, created like tfjs-backend-webgpu creates 'webgpu'. */
function registerStockBackend(name: string): void {
  tf.registerBackend(
    name,
    async () => {
      const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (adapter == null) throw new Error('first-inference bench: no WebGPU adapter');
      const l = adapter.limits;
      const device = await adapter.requestDevice({
        requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
        requiredLimits: {
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
      return new WebGPUBackend(device, adapter.info);
    },
    -2,
  );
  tf.copyRegisteredKernels('webgpu', name);
}

async function readAll(ys: tf.Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ys.map((y) => y.data() as Promise<Float32Array>));
}

async function coldRun(dir: string, shape: number[], data: Float32Array, variant: Variant): Promise<Sample> {
  const fused = variant.startsWith('fused');
  const parallel = variant.endsWith(':parallel');
  const name = `${fused ? 'webgpu-fused' : 'webgpu'}-cold${++fresh}`;
  if (fused) registerWebGPUFusedBackend(name, {}, -2);
  else registerStockBackend(name);
  if (!(await tf.setBackend(name))) throw new Error(`first-inference bench: backend ${name} failed`);
  const backend = tf.backend() as WebGPUBackend;
  let model: GraphModel;
  let fusedSites = 0;
  if (fused) {
    const profile = deviceProfileFromLimits(backend.device.limits, {}, H100_LIKE_PROFILE);
    // Compiles stay in the timed first inference (or its parallel pass), as for stock.
    const m = await loadGraphModel(fileHandler(dir), {
      plan: PLAN,
      profile,
      inputShape: shape,
      precompile: false,
    });
    fusedSites = m.fusion.counts.dwpw.fused + m.fusion.counts.pwdw.fused + m.fusion.counts.pwdwpw.fused;
    model = m;
  } else {
    model = await tfLoadGraphModel(fileHandler(dir));
  }
  const x = tf.tensor(data, shape);
  const run = () => [model.execute(x)].flat();
  const start = performance.now();
  let compileMs: number | undefined;
  if (parallel) {
    tf.env().set('WEBGPU_ENGINE_COMPILE_ONLY', true);
    try {
      const warm = run();
      await backend.checkCompileCompletionAsync();
      tf.dispose(warm);
    } finally {
      tf.env().set('WEBGPU_ENGINE_COMPILE_ONLY', false);
    }
    compileMs = performance.now() - start;
  }
  const ys = run();
  const outputs = await readAll(ys);
  const firstMs = performance.now() - start;
  tf.dispose(ys);
  const secondStart = performance.now();
  const again = run();
  await readAll(again);
  const secondMs = performance.now() - secondStart;
  tf.dispose([...again, x]);
  model.dispose();
  tf.removeBackend(name);
  return { firstMs, compileMs, secondMs, outputs, fusedSites };
}

function maxRelErr(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((values, i) => {
    let scale = 1e-6;
    let diff = 0;
    for (let k = 0; k < values.length; k++) {
      if (!Number.isFinite(values[k])) return (worst = Infinity);
      diff = Math.max(diff, Math.abs(values[k] - b[i][k]));
      scale = Math.max(scale, Math.abs(b[i][k]));
    }
    worst = Math.max(worst, diff / scale);
  });
  return worst;
}

const stats = (v: number[]) => ({
  median: median(v),
  p25: quantile(v, 0.25),
  p75: quantile(v, 0.75),
  samples: v,
});

async function main(): Promise<void> {
  if (!(await tf.setBackend('webgpu-fused'))) throw new Error('first-inference bench: no WebGPU');
  const device = deviceDescription();
  console.log(`first-inference bench on ${device}, plan '${PLAN}', batch ${BATCH}, ${ROUNDS} rounds`);
  const results = [];
  for (const modelName of MODELS) {
    const dir = `models/${modelName}`;
    const shape = inputShapeOf(dir, BATCH);
    const data = smoothImage(shape);
    const samples: Record<Variant, Sample[]> = {
      stock: [],
      'stock:parallel': [],
      fused: [],
      'fused:parallel': [],
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < VARIANTS.length; i++) {
        const variant = VARIANTS[(i + round) % VARIANTS.length];
        const s = await coldRun(dir, shape, data, variant);
        samples[variant].push(s);
        console.log(
          `${modelName} round ${round + 1} ${variant.padEnd(15)} first ${s.firstMs.toFixed(1)} ms` +
            (s.compileMs != null ? ` (compile pass ${s.compileMs.toFixed(1)} ms)` : '') +
            `, second ${s.secondMs.toFixed(2)} ms`,
        );
      }
    }
    const reference = samples.stock[0].outputs;
    const variants = Object.fromEntries(
      VARIANTS.map((v) => [
        v,
        {
          firstMs: stats(samples[v].map((s) => s.firstMs)),
          ...(v.endsWith(':parallel') ? { compileMs: stats(samples[v].map((s) => s.compileMs!)) } : {}),
          secondMs: stats(samples[v].map((s) => s.secondMs)),
          maxRelErrVsStock: Math.max(...samples[v].map((s) => maxRelErr(s.outputs, reference))),
        },
      ]),
    );
    const result = {
      model: modelName,
      batch: BATCH,
      inputShape: shape,
      plan: PLAN,
      fusedSites: samples.fused[0].fusedSites,
      rounds: ROUNDS,
      variants,
    };
    const m = (v: Variant) => (variants[v] as { firstMs: { median: number } }).firstMs.median.toFixed(1);
    console.log(
      `${modelName}: first inference median ms: stock ${m('stock')}, stock parallel ${m('stock:parallel')}, ` +
        `fused ${m('fused')}, fused parallel ${m('fused:parallel')} (${result.fusedSites} fused sites)`,
    );
    for (const v of VARIANTS) {
      if ((variants[v] as { maxRelErrVsStock: number }).maxRelErrVsStock > 1e-3) {
        throw new Error(`first-inference bench: ${modelName} ${v} differs from stock`);
      }
    }
    results.push(result);
  }
  writeResults(args.out, device, {
    kind: 'first-inference',
    backend: 'Node + Dawn (npm webgpu 0.6.2), tfjs 4.22.0',
    results,
  });
}

runMain(main);
