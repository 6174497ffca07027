/**
 * Repeatability of a model's outputs on the GPU: loads the model stock and
 * fused in a fresh process, runs each `--runs` times from the very first
 * (cold) inference on, and reports how many distinct outputs each produced
 * (bitwise) and the largest difference between fused and stock and between
 * any two runs of the same side.
 *
 *   bash ../shared/gpu/bundle.sh bench/models/repeat_probe.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/repeat_probe.mjs --model mobilenet_v2_mid --batch 1 --runs 30
 */
import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import { GraphModel, loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';

import '../../src/index';
import { FusedGraphModel, loadGraphModel } from '../../src/graph-rewrite/index';
import { buildSiteRunner } from '../../src/ops/site_timer';
import { fileHandler, inputShapeOf, smoothImage } from '../../scripts/model_files';
import { parseArgs, runMain } from '../util';

const args = parseArgs(process.argv.slice(2));
const RUNS = Number(args.runs ?? 30);

const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst;
};

async function outputsOf(backend: string, model: GraphModel, shape: number[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const x = tf.tensor(smoothImage(shape), shape);
  const runs: Float32Array[] = [];
  for (let i = 0; i < RUNS; i++) {
    const y = model.execute(x) as tf.Tensor;
    runs.push((await y.data()) as Float32Array);
    y.dispose();
  }
  x.dispose();
  return runs;
}

/** Each fused site of the model's plan alone, fused kernel run `RUNS` times: distinct outputs. */
async function sites(model: FusedGraphModel) {
  await tf.setBackend('webgpu-fused');
  for (const site of model.fusion.plan?.sites ?? []) {
    if (site.decision !== 'fused' || site.problem == null || site.fused == null) continue;
    const runner = buildSiteRunner(site.kind, site.problem, { kind: 'fused', tile: site.fused.tile });
    const outs: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const y = runner.run();
      outs.push(Buffer.from(((await y.data()) as Float32Array).buffer).toString('base64'));
      y.dispose();
    }
    runner.dispose();
    const distinct = new Set(outs).size;
    console.log(
      `  ${site.kind} ${JSON.stringify(site.fused.tile)} ${JSON.stringify(site.problem)}: ${distinct} distinct`,
    );
  }
}

async function main() {
  const dir = `models/${args.model ?? 'mobilenet_v2_mid'}`;
  const shape = inputShapeOf(dir, Number(args.batch ?? 1));
  await tf.setBackend('webgpu');
  const stockModel = await tfLoadGraphModel(fileHandler(dir));
  await tf.setBackend('webgpu-fused');
  const fusedModel = await loadGraphModel(fileHandler(dir), { precompile: args.precompile === '1' });
  if (args.sites === '1') {
    await sites(fusedModel);
    return;
  }
  const stock = await outputsOf('webgpu', stockModel, shape);
  const fused = await outputsOf('webgpu-fused', fusedModel, shape);
  const distinct = (runs: Float32Array[]) =>
    new Set(runs.map((r) => Buffer.from(r.buffer).toString('base64'))).size;
  const spread = (runs: Float32Array[]) => Math.max(...runs.map((r) => maxAbsDiff(r, runs[0])));
  const scale = Math.max(...Array.from(stock[0], Math.abs), 1e-6);
  console.log(
    `${dir} [${shape}] ${RUNS} runs each: stock ${distinct(stock)} distinct outputs (spread ${spread(stock).toExponential(1)}), ` +
      `fused ${distinct(fused)} distinct (spread ${spread(fused).toExponential(1)}); ` +
      `fused vs stock max abs ${Math.max(...fused.map((f, i) => maxAbsDiff(f, stock[i]))).toExponential(2)} ` +
      `(output max ${scale.toExponential(2)}); first run fused vs stock ${maxAbsDiff(fused[0], stock[0]).toExponential(2)}`,
  );
}

runMain(main);
