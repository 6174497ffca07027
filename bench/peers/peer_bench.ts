/**
 * Peer benchmark on a real GPU (Node): ONNX Runtime's WebGPU execution
 * provider (onnxruntime-node, its own Dawn) vs stock tfjs `webgpu` vs
 * `webgpu-fused` with the planner's plan ('auto'), on the same models
 * (exported to ONNX by onnx_export.ts), in one process with rounds
 * interleaved:
 *
 * - wall ms per inference (run + readback of every output, median after
 *   warm-up), with the input already on the GPU ("resident") and uploaded
 *   from a Float32Array on every run ("upload"). ONNX Runtime's node binding
 *   has no upload API; a GPU-resident input is the gpu-buffer output of a
 *   one-node Identity session (preferredOutputLocation 'gpu-buffer', the
 *   binding's IO binding path), fed to the model's session.
 * - GPU ms per inference: tfjs from tf.profile timestamps (bench/util.ts
 *   gpuTime), ONNX Runtime from its session profiler (enableProfiling; the
 *   WebGPU EP records one 'Api' event per dispatch from timestamp queries).
 * - first inference, cold: a fresh child process per runtime (model load +
 *   first run with shader compiles + readback).
 * - output agreement with stock tfjs.
 *
 *   bash ../shared/gpu/bundle.sh bench/peers/peer_bench.ts -- --minify
 *   bash bench/peers/pack_gpu.sh          # trimmed onnxruntime-node + the bundle, xz, in .gpu-runtime/peers/
 *   # GPU machine:
 *   bash bench/peers/gpu_run.sh --out-dir $OUT
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { GraphModel, loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import '../../src/index'; // registers webgpu-fused
import { loadGraphModel } from '../../src/graph-rewrite/index';
import { deviceProfileFromLimits, H100_LIKE_PROFILE } from '../../src/planner/index';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { artifactsFromDir, smoothImage } from '../../scripts/model_files';
import { deviceDescription, gpuTime, median, parseArgs, quantile, runMain, writeResults } from '../util';
import { exportToOnnx, identityModel } from './onnx_export';
import { agreement, withDynamicBatch } from './models';
import { loadOrt, Ort, OrtSession, OrtTensor } from './ort';

const args = parseArgs(process.argv.slice(2));
const MODELS = (args.models ?? 'mobilenet_v2_mid,posenet').split(',');
const BATCHES = (args.batches ?? '1,8,32').split(',').map(Number);
const WARMUP = Number(args.warmup ?? 50);
const RUNS = Number(args.runs ?? 50);
const GPU_ROUNDS = Number(args['gpu-rounds'] ?? 20);
const COLD = Number(args.cold ?? 2);
const RUNTIMES = ['ort', 'stock', 'fused'] as const;
/**
 * Cold runs: 'fused' loads as users do (pipelines compiled in parallel during
 * the load, the default); 'fused-lazy' with `precompile: false` (each
 * pipeline compiled when first dispatched, as stock tfjs does).
 */
const COLD_RUNTIMES = [...RUNTIMES, 'fused-lazy'] as const;
type ColdRuntime = (typeof COLD_RUNTIMES)[number];
const ORT_EP = { name: 'webgpu' };
const CHILD_TAG = 'PEER_CHILD_RESULT ';

const summary = (v: number[]) => ({
  median: median(v),
  p25: quantile(v, 0.25),
  p75: quantile(v, 0.75),
  n: v.length,
});
const onnxPath = (model: string) => join(tmpdir(), `peers-${process.pid}-${model}.onnx`);

interface Prepared {
  model: string;
  artifacts: tf.io.ModelArtifacts;
  outputs: string[];
  onnx: Uint8Array;
  inputName: string;
  exportMs: number;
  convs: number;
}

/** Exports each model (dynamic batch) and records the tfjs output order. */
async function prepare(): Promise<Prepared[]> {
  await tf.setBackend('cpu');
  const prepared: Prepared[] = [];
  for (const model of MODELS) {
    const artifacts = withDynamicBatch(artifactsFromDir(`models/${model}`));
    const probe = await tfLoadGraphModel({ load: async () => artifacts });
    const outputs = probe.outputNodes.map((o) => o.replace(/:0$/, ''));
    probe.dispose();
    const start = performance.now();
    const exported = await exportToOnnx(artifacts, { outputs });
    const exportMs = performance.now() - start;
    writeFileSync(onnxPath(model), exported.bytes);
    prepared.push({
      model,
      artifacts,
      outputs,
      onnx: exported.bytes,
      inputName: exported.inputName,
      exportMs,
      convs: exported.convs,
    });
  }
  return prepared;
}

async function readOutputs(ys: tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  const list = Array.isArray(ys) ? ys : [ys];
  const data = await Promise.all(list.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(list);
  return data;
}

async function fusedModel(artifacts: tf.io.ModelArtifacts, shape: number[], lazy = false) {
  const limits = kernelLimitsOf((tf.backend() as unknown as { device: GPUDevice }).device.limits);
  const profile = deviceProfileFromLimits(limits, {}, H100_LIKE_PROFILE);
  return loadGraphModel(
    { load: async () => artifacts },
    { plan: 'auto', profile, inputShape: shape, ...(lazy ? { precompile: false } : {}) },
  );
}

// --- cold first inference (child process) --------------------------------------------------------

/** Child mode: one runtime, one model, one batch, from a fresh process; prints one JSON line. */
async function child() {
  const runtime = args.child as ColdRuntime;
  const model = args.model;
  const batch = Number(args.batch);
  const artifacts = withDynamicBatch(artifactsFromDir(`models/${model}`));
  const outputs = args.outputs.split(',');
  const shape = [batch, ...inputDims(artifacts)];
  const data = smoothImage(shape);
  const t0 = performance.now();
  let initMs = 0;
  let loadMs: number;
  let firstRunMs: number;
  let loadTimings: unknown;
  /** tfjs: compute pipelines the backend compiled (distinct programs). */
  let programs: number | undefined;
  /** tfjs: the part of the first run spent in execute() (encoding), before the read-back. */
  let executeMs: number | undefined;
  if (runtime === 'ort') {
    const ort = loadOrt();
    const bytes = readFileSync(args.onnx);
    const t1 = performance.now();
    initMs = t1 - t0; // loading the native binding
    const session = await ort.InferenceSession.create(bytes, { executionProviders: [ORT_EP] });
    const t2 = performance.now();
    loadMs = t2 - t1;
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, shape) });
    outputs.forEach((o) => void (out[o].data as Float32Array)[0]);
    firstRunMs = performance.now() - t2;
  } else {
    if (!(await tf.setBackend(runtime === 'stock' ? 'webgpu' : 'webgpu-fused'))) throw new Error('no WebGPU');
    const t1 = performance.now();
    initMs = t1 - t0;
    const m =
      runtime === 'stock'
        ? await tfLoadGraphModel({ load: async () => artifacts })
        : await fusedModel(artifacts, shape, runtime === 'fused-lazy');
    const t2 = performance.now();
    loadMs = t2 - t1;
    loadTimings = (m as { loadTimings?: unknown }).loadTimings;
    const x = tf.tensor(data, shape);
    const ys = m.execute(x, outputs);
    executeMs = performance.now() - t2;
    await readOutputs(ys);
    x.dispose();
    firstRunMs = performance.now() - t2;
    programs = Object.keys((tf.backend() as unknown as { pipelineCache: object }).pipelineCache).length;
  }
  const result = {
    initMs,
    loadMs,
    firstRunMs,
    firstResultSinceStartMs: performance.now(),
    loadTimings,
    programs,
    executeMs,
  };
  console.log(CHILD_TAG + JSON.stringify(result));
}

function inputDims(artifacts: tf.io.ModelArtifacts): number[] {
  type Placeholder = { op: string; attr?: { shape?: { shape?: { dim?: Array<{ size: string }> } } } };
  const node = (artifacts.modelTopology as { node: Placeholder[] }).node.find((n) => n.op === 'Placeholder');
  return (node?.attr?.shape?.shape?.dim ?? []).slice(1).map((d) => Number(d.size));
}

interface ColdResult {
  initMs: number;
  loadMs: number;
  firstRunMs: number;
  firstResultSinceStartMs: number;
  /** webgpu-fused: where loadGraphModel's time went (model.loadTimings). */
  loadTimings?: unknown;
  /** tfjs: compute pipelines compiled by the end of the first run. */
  programs?: number;
  executeMs?: number;
}

function coldRun(runtime: ColdRuntime, p: Prepared, batch: number): ColdResult | { error: string } {
  const argv = [
    process.argv[1],
    '--child',
    runtime,
    '--model',
    p.model,
    '--batch',
    String(batch),
    '--outputs',
    p.outputs.join(','),
    '--onnx',
    onnxPath(p.model),
  ];
  // --child-profile DIR: a V8 CPU profile of each fused child (load, precompile, first run) in DIR.
  const profile =
    args['child-profile'] != null && runtime.startsWith('fused')
      ? ['--cpu-prof', '--cpu-prof-dir', args['child-profile']]
      : [];
  const r = spawnSync(process.execPath, [...profile, ...argv], {
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 64 << 20,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(CHILD_TAG));
  if (r.status !== 0 || line == null) {
    const err = `${r.error ?? ''} exit ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
    return { error: err };
  }
  return JSON.parse(line.slice(CHILD_TAG.length)) as ColdResult;
}

// --- ONNX Runtime session helpers ----------------------------------------------------------------

interface OrtSide {
  session: OrtSession;
  profiled: OrtSession;
  profilePrefix: string;
  upload: OrtSession;
  cpuInput: OrtTensor;
  resident: OrtTensor | null;
  residentNote: string;
}

async function ortSide(
  ort: Ort,
  p: Prepared,
  shape: number[],
  data: Float32Array,
  tag: string,
): Promise<OrtSide> {
  const session = await ort.InferenceSession.create(p.onnx, {
    executionProviders: [ORT_EP],
    logSeverityLevel: 2,
  });
  const profilePrefix = join(tmpdir(), `peers-${process.pid}-${tag}`);
  const profiled = await ort.InferenceSession.create(p.onnx, {
    executionProviders: [ORT_EP],
    enableProfiling: true,
    profileFilePrefix: profilePrefix,
  });
  const cpuInput = new ort.Tensor('float32', data, shape);
  const upload = await ort.InferenceSession.create(identityModel([-1, ...shape.slice(1)]), {
    executionProviders: [ORT_EP],
    graphOptimizationLevel: 'disabled',
    preferredOutputLocation: 'gpu-buffer',
  });
  let resident: OrtTensor | null = null;
  let residentNote = 'gpu-buffer output of an Identity session (IO binding)';
  try {
    const y = (await upload.run({ x: cpuInput })).y;
    if (y.location === 'gpu-buffer') resident = y;
    else residentNote = `the Identity session returned a '${y.location}' tensor: no GPU-resident input`;
  } catch (e) {
    residentNote = `GPU-resident input failed: ${(e as Error).message}`;
  }
  return { session, profiled, profilePrefix, upload, cpuInput, resident, residentNote };
}

async function ortRun(s: OrtSession, feedName: string, feed: OrtTensor, outputs: string[]) {
  const out = await s.run({ [feedName]: feed });
  return outputs.map((o) => out[o].data as Float32Array);
}

interface OrtProfile {
  gpuMs: number[];
  dispatches: number;
  nodesByProvider: Record<string, number>;
  note?: string;
}

/** GPU ms per run from the session's profile file (the last `rounds` of `runs` profiled runs). */
function ortProfile(side: OrtSide, runs: number, rounds: number): OrtProfile {
  side.profiled.endProfiling();
  const dir = tmpdir();
  const base = side.profilePrefix.slice(dir.length + 1);
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(base) && f.endsWith('.json'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0)
    return { gpuMs: [], dispatches: 0, nodesByProvider: {}, note: 'no profile file written' };
  const text = readFileSync(files[0], 'utf8');
  files.forEach((f) => rmSync(f, { force: true }));
  const events = JSON.parse(text) as Array<{
    cat: string;
    name: string;
    dur: number;
    args?: Record<string, string>;
  }>;
  const gpu = events.filter((e) => e.cat === 'Api');
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const nodesByProvider: Record<string, number> = {};
  for (const e of nodes) {
    const provider = e.args?.provider ?? '?';
    nodesByProvider[provider] = (nodesByProvider[provider] ?? 0) + 1;
  }
  for (const k of Object.keys(nodesByProvider)) nodesByProvider[k] = Math.round(nodesByProvider[k] / runs);
  if (gpu.length === 0) {
    return {
      gpuMs: [],
      dispatches: 0,
      nodesByProvider,
      note: 'no GPU events (timestamp queries unsupported?)',
    };
  }
  if (gpu.length % runs !== 0) {
    const mean = gpu.reduce((s, e) => s + e.dur, 0) / runs / 1000;
    return {
      gpuMs: [mean],
      dispatches: gpu.length / runs,
      nodesByProvider,
      note: 'uneven dispatches per run: mean',
    };
  }
  const perRun = gpu.length / runs;
  const gpuMs: number[] = [];
  for (let r = runs - rounds; r < runs; r++) {
    gpuMs.push(gpu.slice(r * perRun, (r + 1) * perRun).reduce((s, e) => s + e.dur, 0) / 1000);
  }
  return { gpuMs, dispatches: perRun, nodesByProvider };
}

// --- one model at one batch ----------------------------------------------------------------------

interface Variant {
  label: string;
  backend?: string;
  run: () => Promise<void>;
}

async function measure(ort: Ort, p: Prepared, batch: number) {
  const shape = [batch, ...inputDims(p.artifacts)];
  const data = smoothImage(shape);
  const tag = `${p.model}-b${batch}`;
  const side = await ortSide(ort, p, shape, data, tag);

  await tf.setBackend('webgpu');
  const stock: GraphModel = await tfLoadGraphModel({ load: async () => p.artifacts });
  const stockInput = tf.tensor(data, shape);
  await tf.setBackend('webgpu-fused');
  const fused = await fusedModel(p.artifacts, shape);
  const fusedInput = tf.tensor(data, shape);

  // First inference in this process (compiles) and agreement with stock.
  const ortOut = await ortRun(side.session, p.inputName, side.cpuInput, p.outputs);
  await tf.setBackend('webgpu');
  const stockOut = await readOutputs(stock.execute(stockInput, p.outputs));
  await tf.setBackend('webgpu-fused');
  const fusedOut = await readOutputs(fused.execute(fusedInput, p.outputs));
  const agreementVsStock = { ort: agreement(stockOut, ortOut), fused: agreement(stockOut, fusedOut) };

  const tfVariant = (
    label: string,
    backend: string,
    m: GraphModel,
    input: tf.Tensor,
    upload: boolean,
  ): Variant => ({
    label,
    backend,
    run: async () => {
      const x = upload ? tf.tensor(data, shape) : input;
      const ys = m.execute(x, p.outputs);
      if (upload) x.dispose();
      await readOutputs(ys);
    },
  });
  const variants: Variant[] = [
    {
      label: 'ort upload',
      run: async () => void (await ortRun(side.session, p.inputName, side.cpuInput, p.outputs)),
    },
    ...(side.resident
      ? [
          {
            label: 'ort resident',
            run: async () => void (await ortRun(side.session, p.inputName, side.resident!, p.outputs)),
          },
        ]
      : []),
    tfVariant('stock resident', 'webgpu', stock, stockInput, false),
    tfVariant('stock upload', 'webgpu', stock, stockInput, true),
    tfVariant('fused resident', 'webgpu-fused', fused, fusedInput, false),
    tfVariant('fused upload', 'webgpu-fused', fused, fusedInput, true),
  ];

  const wall: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v.label, []]));
  for (let i = 0; i < WARMUP + RUNS; i++) {
    for (const v of variants) {
      if (v.backend) await tf.setBackend(v.backend);
      const start = performance.now();
      await v.run();
      if (i >= WARMUP) wall[v.label].push(performance.now() - start);
    }
  }

  // GPU time: ONNX Runtime's profiled session and tf.profile, interleaved per round.
  const ortWarm = 5;
  for (let i = 0; i < ortWarm; i++) await ortRun(side.profiled, p.inputName, side.cpuInput, p.outputs);
  const gpu: Record<string, number[]> = { stock: [], fused: [] };
  const dispatches: Record<string, number> = {};
  for (let round = 0; round < GPU_ROUNDS; round++) {
    await ortRun(side.profiled, p.inputName, side.resident ?? side.cpuInput, p.outputs);
    for (const [label, backend, m, input] of [
      ['stock', 'webgpu', stock, stockInput],
      ['fused', 'webgpu-fused', fused, fusedInput],
    ] as const) {
      await tf.setBackend(backend);
      const t = await gpuTime(() => m.execute(input, p.outputs) as tf.Tensor | tf.Tensor[]);
      gpu[label].push(t.kernelMs);
      dispatches[label] = t.dispatches;
    }
  }
  const prof = ortProfile(side, ortWarm + GPU_ROUNDS, GPU_ROUNDS);
  gpu.ort = prof.gpuMs;
  dispatches.ort = prof.dispatches;

  side.resident?.dispose();
  await Promise.all([side.session.release(), side.profiled.release(), side.upload.release()]);
  await tf.setBackend('webgpu');
  stockInput.dispose();
  stock.dispose();
  await tf.setBackend('webgpu-fused');
  fusedInput.dispose();
  fused.dispose();

  return {
    model: p.model,
    batch,
    inputShape: shape,
    wallMs: Object.fromEntries(Object.entries(wall).map(([k, v]) => [k, summary(v)])),
    gpuMs: Object.fromEntries(Object.entries(gpu).map(([k, v]) => [k, v.length ? summary(v) : null])),
    dispatches,
    fusion: fused.fusion.counts,
    agreementVsStock,
    ortResidentInput: side.residentNote,
    ortNodesByProvider: prof.nodesByProvider,
    ortProfileNote: prof.note ?? null,
  };
}

// --- report ----------------------------------------------------------------------------------------

type Result = Awaited<ReturnType<typeof measure>>;
type Cold = Record<string, Record<ColdRuntime, { median: ColdResult | null; errors: string[] }>>;

function markdown(device: string, date: string, ortVersion: string, results: Result[], cold: Cold): string {
  const f = (x: number | undefined | null, d = 2) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(d));
  const lines = [
    `# Peer benchmark: ONNX Runtime WebGPU vs tfjs webgpu vs webgpu-fused`,
    '',
    `${device}, ${date}. onnxruntime-node ${ortVersion} (WebGPU EP, its own Dawn); tfjs 4.22.0 on Dawn ` +
      `(npm webgpu 0.6.2). Wall: median of ${RUNS} runs after ${WARMUP} warm-ups, variants interleaved, ` +
      `run + readback of every output. GPU: median of ${GPU_ROUNDS} profiled rounds (per-dispatch timestamps). ` +
      `Cold: fresh process per runtime, median of ${COLD}: model load + first inference.`,
    '',
    '| model | batch | runtime | wall resident ms | wall upload ms | GPU ms | dispatches | cold load + first ms | max rel. diff vs stock |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    for (const rt of RUNTIMES) {
      const c = cold[`${r.model}/${r.batch}`]?.[rt]?.median;
      const agree = rt === 'stock' ? '–' : r.agreementVsStock[rt].rel.toExponential(1);
      lines.push(
        `| ${r.model} | ${r.batch} | ${rt} | ${f(r.wallMs[`${rt} resident`]?.median)} | ` +
          `${f(r.wallMs[`${rt} upload`]?.median)} | ${f(r.gpuMs[rt]?.median, 3)} | ${r.dispatches[rt] ?? '–'} | ` +
          `${c ? `${f(c.loadMs + c.firstRunMs, 0)} (${f(c.loadMs, 0)} + ${f(c.firstRunMs, 0)})` : '–'} | ${agree} |`,
      );
    }
  }
  for (const r of results) {
    const c = cold[`${r.model}/${r.batch}`]?.['fused-lazy']?.median;
    if (c) {
      lines.push(
        `| ${r.model} | ${r.batch} | fused, precompile: false | – | – | – | – | ` +
          `${f(c.loadMs + c.firstRunMs, 0)} (${f(c.loadMs, 0)} + ${f(c.firstRunMs, 0)}) | – |`,
      );
    }
  }
  const notes = [...new Set(results.map((r) => r.ortResidentInput))];
  lines.push('', `ONNX Runtime resident input: ${notes.join('; ')}.`);
  const providers = results.map(
    (r) =>
      `${r.model} b${r.batch}: ${Object.entries(r.ortNodesByProvider)
        .map(([k, v]) => `${k} ${v.toFixed(0)}`)
        .join(', ')}`,
  );
  lines.push('', `ONNX Runtime nodes per run by provider: ${providers.join('; ')}.`, '');
  return lines.join('\n');
}

function deviceSlug(device: string): string {
  const known = /\b(h100|h200|a100|l40s?|l4|a10g?|rtx ?\d+|mi\d+x?)\b/i.exec(device);
  const slug = (known ? known[1] : device).toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return slug.replace(/^-|-$/g, '').slice(0, 40) || 'unknown';
}

async function main() {
  if (args.child) return child();
  const ort = loadOrt();
  const ortVersion = ort.env.versions?.node ?? '?';
  const prepared = await prepare();
  console.log(
    `peer bench: onnxruntime-node ${ortVersion}; models ${MODELS.join(',')}; batches ${BATCHES.join(',')}; ` +
      `warmup ${WARMUP}, runs ${RUNS}, gpu rounds ${GPU_ROUNDS}, cold ${COLD}`,
  );
  for (const p of prepared) {
    console.log(
      `export ${p.model}: ${(p.onnx.length / 2 ** 20).toFixed(1)} MiB, ${p.convs} Conv, ${p.exportMs.toFixed(0)} ms`,
    );
  }

  // Cold first inference before this process touches the GPU.
  const cold: Cold = {};
  for (const batch of BATCHES) {
    for (const p of prepared) {
      const key = `${p.model}/${batch}`;
      cold[key] = {} as Cold[string];
      for (const rt of COLD_RUNTIMES) {
        const runs = Array.from({ length: COLD }, () => coldRun(rt, p, batch));
        const ok = runs.filter((r): r is ColdResult => !('error' in r));
        const pick = (k: 'initMs' | 'loadMs' | 'firstRunMs' | 'firstResultSinceStartMs') =>
          median(ok.map((r) => r[k]));
        cold[key][rt] = {
          median: ok.length
            ? {
                initMs: pick('initMs'),
                loadMs: pick('loadMs'),
                firstRunMs: pick('firstRunMs'),
                firstResultSinceStartMs: pick('firstResultSinceStartMs'),
              }
            : null,
          errors: runs.filter((r): r is { error: string } => 'error' in r).map((r) => r.error),
        };
        const m = cold[key][rt].median;
        console.log(
          `cold ${key} ${rt}: ` +
            (m
              ? `load ${m.loadMs.toFixed(0)} ms + first run ${m.firstRunMs.toFixed(0)} ms ` +
                `(init ${m.initMs.toFixed(0)} ms, ${m.firstResultSinceStartMs.toFixed(0)} ms since process start)`
              : COLD === 0
                ? 'skipped (--cold 0)'
                : `failed: ${cold[key][rt].errors[0]}`),
        );
        ok.forEach(
          (r) =>
            (r.loadTimings != null || r.programs != null) &&
            console.log(
              `  ${r.programs ?? '?'} programs, execute ${r.executeMs?.toFixed(0)} ms; load timings ${JSON.stringify(r.loadTimings ?? null)}`,
            ),
        );
      }
    }
  }

  if (!(await tf.setBackend('webgpu-fused')) || !(await tf.setBackend('webgpu'))) {
    throw new Error('WebGPU backends failed to initialize');
  }
  const device = deviceDescription();
  console.log(`device: ${device}`);
  const results: Result[] = [];
  for (const batch of BATCHES) {
    for (const p of prepared) {
      const r = await measure(ort, p, batch);
      results.push(r);
      const w = (k: string) => r.wallMs[k]?.median.toFixed(2) ?? '–';
      const gm = (k: string) => r.gpuMs[k]?.median.toFixed(3) ?? '–';
      console.log(
        `b${batch} ${p.model}: wall resident/upload ms ort ${w('ort resident')}/${w('ort upload')} ` +
          `stock ${w('stock resident')}/${w('stock upload')} fused ${w('fused resident')}/${w('fused upload')} | ` +
          `gpu ms ort ${gm('ort')} stock ${gm('stock')} fused ${gm('fused')} | dispatches ` +
          `${r.dispatches.ort}/${r.dispatches.stock}/${r.dispatches.fused} | rel diff vs stock ort ` +
          `${r.agreementVsStock.ort.rel.toExponential(1)} fused ${r.agreementVsStock.fused.rel.toExponential(1)}` +
          (r.ortProfileNote ? ` | ort profile: ${r.ortProfileNote}` : ''),
      );
    }
  }

  const date = new Date().toISOString().slice(0, 10);
  const dir = args['out-dir'] ?? 'bench/results';
  const out = args.out ?? join(dir, `peers-${date}-${deviceSlug(device)}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  const exports = Object.fromEntries(
    prepared.map((p) => [p.model, { onnxBytes: p.onnx.length, convs: p.convs, exportMs: p.exportMs }]),
  );
  writeResults(out, device, {
    backend: `onnxruntime-node ${ortVersion} (webgpu EP); tfjs 4.22.0 on Node + Dawn (npm webgpu 0.6.2)`,
    config: { warmup: WARMUP, runs: RUNS, gpuRounds: GPU_ROUNDS, cold: COLD },
    exports,
    cold,
    results,
  });
  writeFileSync(out.replace(/\.json$/, '.md'), markdown(device, date, ortVersion, results, cold));
  prepared.forEach((p) => rmSync(onnxPath(p.model), { force: true }));
  console.log(`wrote ${out} and .md`);
}

runMain(main);
