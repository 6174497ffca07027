/**
 * `npm start`: the main job. Loads the bundled real model (nsfwjs
 * MobileNetV2 1.4, models/mobilenet_v2_mid), rewrites it for fusion, runs it
 * on `webgpu-fused` and on stock `webgpu` under Node+Dawn, checks the fused
 * outputs (logits and every fused site) against stock, and prints the fusion
 * plan and the timings side by side.
 *
 *   node scripts/demo.mjs [--runs N] [--batch B] [--plan auto|all|none] [--autotune]
 */

import '../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { GraphModel, loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';
import { readFileSync } from 'node:fs';

import { BACKEND_NAME } from '../src/index';
import { explainFusion, loadGraphModel } from '../src/graph-rewrite/index';
import { autotune, deviceProfileFromLimits, H100_LIKE_PROFILE } from '../src/planner/index';
import { makeSiteTimer } from '../src/ops/site_timer';
import { kernelLimitsOf } from '../src/kernels/fused_conv_util';
import { WebGPUFusedBackend } from '../src/backend/webgpu_fused_backend';
import { gpuTime, median, runMain, wallMs } from '../bench/util';
import { fileHandler, smoothImage } from '../scripts/model_files';

const NO_ADAPTER_EXIT = 3;
const MODEL_DIR = 'models/mobilenet_v2_mid';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string, fallback: string) => {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? argv[at + 1] : fallback;
};

const step = (message: string) => console.log(`demo: ${message}`);

/** The node feeding Softmax: logits compare meaningfully where probabilities saturate. */
function logitsNode(dir: string): string {
  const nodes = JSON.parse(readFileSync(`${dir}/model.json`, 'utf8')).modelTopology.node as Array<{
    op: string;
    input: string[];
  }>;
  return nodes.find((n) => n.op === 'Softmax')!.input[0];
}

async function runOnce(model: GraphModel, input: tf.Tensor, names: string[]): Promise<Float32Array[]> {
  const outputs = model.execute(input, names) as tf.Tensor[];
  const values = await Promise.all(outputs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(outputs);
  return values;
}

function compare(a: Float32Array, b: Float32Array): { maxAbs: number; maxRel: number; finite: boolean } {
  let maxAbs = 0;
  let scale = 1e-6;
  let finite = true;
  for (let i = 0; i < a.length; i++) {
    finite &&= Number.isFinite(a[i]) && Number.isFinite(b[i]);
    maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { maxAbs, maxRel: maxAbs / scale, finite };
}

async function main(): Promise<void> {
  const adapter = await navigator.gpu.requestAdapter();
  if (adapter == null) {
    console.error('demo: no WebGPU adapter');
    process.exit(NO_ADAPTER_EXIT);
  }
  const onCpu = (adapter as unknown as { info?: GPUAdapterInfo }).info?.architecture === 'swiftshader';

  const runs = Number(option('runs', onCpu ? '3' : '30'));
  const batch = Number(option('batch', '1'));
  const policy = option('plan', 'auto') as 'auto' | 'all' | 'none';
  const shape = [batch, 224, 224, 3];

  const info = (adapter as unknown as { info?: GPUAdapterInfo }).info;
  step(
    `adapter: ${[info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ')}`,
  );
  if (!(await tf.setBackend(BACKEND_NAME)) || !(await tf.setBackend('webgpu'))) {
    throw new Error('demo: the WebGPU backends failed to initialize');
  }

  step(`loading ${MODEL_DIR} (stock, on webgpu)...`);
  let loadStart = performance.now();
  const stock = await tfLoadGraphModel(fileHandler(MODEL_DIR));
  const stockLoad = performance.now() - loadStart;
  const stockInput = tf.tensor(smoothImage(shape), shape);

  await tf.setBackend(BACKEND_NAME);
  const fusedBackend = tf.backend() as WebGPUFusedBackend;
  const profile = deviceProfileFromLimits(kernelLimitsOf(fusedBackend.limits), {}, H100_LIKE_PROFILE);
  let measured;
  if (flag('autotune')) {
    step('autotuning: timing each site stock vs fused on this device (slow on a CPU adapter)...');
    const probe = await loadGraphModel(fileHandler(MODEL_DIR), { plan: 'auto', profile, inputShape: shape });
    const info = fusedBackend.adapterDescription;
    measured = await autotune(probe.fusion.plan!, makeSiteTimer(), {
      deviceKey: `${info.vendor}/${info.architecture}/${info.device}/${info.description}`,
      onProgress: (done, total) => step(`  autotune ${done}/${total}`),
    });
    probe.dispose();
  }
  step(
    `loading ${MODEL_DIR} rewritten with plan '${policy}' (on ${BACKEND_NAME}; compiles shaders in parallel)...`,
  );
  loadStart = performance.now();
  const fused = await loadGraphModel(fileHandler(MODEL_DIR), {
    plan: policy,
    profile,
    inputShape: shape,
    measured,
  });
  const fusedLoad = performance.now() - loadStart;
  const fusedInput = tf.tensor(smoothImage(shape), shape);
  console.log('\n' + explainFusion(fused.fusion));

  const fusedSites = fused.fusion.sites.filter((s) => s.decision === 'fused' && s.output != null);
  const names = [logitsNode(MODEL_DIR), ...fusedSites.map((s) => s.output!)];
  step(`first inference, stock (compiles shaders)...`);
  await tf.setBackend('webgpu');
  let start = performance.now();
  const stockValues = await runOnce(stock, stockInput, names);
  const stockFirst = performance.now() - start;
  step(`first inference, fused...`);
  await tf.setBackend(BACKEND_NAME);
  start = performance.now();
  const fusedValues = await runOnce(fused, fusedInput, names);
  const fusedFirst = performance.now() - start;

  let worst = 0;
  for (let i = 0; i < names.length; i++) {
    const { maxRel, finite } = compare(fusedValues[i], stockValues[i]);
    if (!finite) throw new Error(`demo: non-finite values at ${names[i]}`);
    worst = Math.max(worst, maxRel);
  }
  const logits = compare(fusedValues[0], stockValues[0]);
  const top = (v: Float32Array) =>
    Array.from(v.slice(0, v.length / batch))
      .map((p, i) => [p, i])
      .sort((a, b) => b[0] - a[0])[0][1];
  step(
    `check vs stock webgpu: logits max |diff| ${logits.maxAbs.toExponential(2)} (rel ${logits.maxRel.toExponential(2)}), ` +
      `worst of ${fusedSites.length} fused site outputs rel ${worst.toExponential(2)}, top class ${top(fusedValues[0])} vs ${top(stockValues[0])}`,
  );
  if (!(worst < 1e-3) || top(fusedValues[0]) !== top(stockValues[0]))
    throw new Error('demo: fused outputs differ from stock');

  step(`timing ${runs} inferences each, stock and fused alternating (median wall: execute + readback)...`);
  const runStock = () => stock.execute(stockInput) as tf.Tensor;
  const runFused = () => fused.execute(fusedInput) as tf.Tensor;
  const wall = { stock: [] as number[], fused: [] as number[] };
  const gpu = { stock: [] as number[], fused: [] as number[] };
  let dispatches = { stock: 0, fused: 0 };
  for (let i = 0; i < runs; i++) {
    await tf.setBackend('webgpu');
    wall.stock.push(await wallMs(runStock));
    await tf.setBackend(BACKEND_NAME);
    wall.fused.push(await wallMs(runFused));
  }
  for (let i = 0; i < Math.min(runs, 5); i++) {
    await tf.setBackend('webgpu');
    const s = await gpuTime(runStock);
    await tf.setBackend(BACKEND_NAME);
    const f = await gpuTime(runFused);
    gpu.stock.push(s.kernelMs);
    gpu.fused.push(f.kernelMs);
    dispatches = { stock: s.dispatches, fused: f.dispatches };
  }

  const row = (label: string, a: string, b: string) =>
    console.log(`${label.padEnd(26)}${a.padStart(14)}${b.padStart(16)}`);
  console.log(
    `\nmobilenet_v2_mid, input [${shape.join(',')}], ` +
      (onCpu ? 'SwiftShader (CPU) adapter: timings are not GPU figures' : 'GPU adapter'),
  );
  row('', 'stock webgpu', 'webgpu-fused');
  row('GPU dispatches', String(dispatches.stock), String(dispatches.fused));
  row('GPU ms (profiled, median)', median(gpu.stock).toFixed(3), median(gpu.fused).toFixed(3));
  row('wall ms (median)', median(wall.stock).toFixed(3), median(wall.fused).toFixed(3));
  row('load ms', stockLoad.toFixed(0), fusedLoad.toFixed(0));
  row('first inference ms', stockFirst.toFixed(0), fusedFirst.toFixed(0));
  row('load + first inference ms', (stockLoad + stockFirst).toFixed(0), (fusedLoad + fusedFirst).toFixed(0));

  tf.dispose([stockInput, fusedInput]);
  stock.dispose();
  fused.dispose();
}

runMain(main);
