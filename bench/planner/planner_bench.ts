/**
 * Planner fidelity on a real GPU: for every fusion site of nsfwjs
 * `mobilenet_v2_mid` and `posenet`, time unfused vs fused at the planner's
 * tile (≥ 5 interleaved rounds in one process, spread reported), compare
 * with the model's predictions, and score the plans: 'none', 'all', 'auto'
 * (model) and the per-site measured oracle (the same DP over measured
 * savings). Regret = oracle saving − plan saving, relative to the stock
 * model's GPU time.
 *
 *   bash ../shared/gpu/bundle.sh bench/planner/planner_bench.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/planner_bench.mjs --out $OUT/planner.json
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';

import '../../src/index';
import { fuseGraphModelArtifacts } from '../../src/graph-rewrite/index';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { makeSiteTimer } from '../../src/ops/site_timer';
import {
  deviceProfileFromLimits,
  FusionPlan,
  H100_LIKE_PROFILE,
  MeasuredSite,
} from '../../src/planner/index';
import { artifactsFromDir, inputShapeOf } from '../../scripts/model_files';
import { deviceDescription, gpuTime, median, parseArgs, runMain, writeResults } from '../util';

const args = parseArgs(process.argv.slice(2));
const ROUNDS = Number(args.rounds ?? 5);
const CASES: Array<[string, number]> = (args.cases ?? 'mobilenet_v2_mid:1,mobilenet_v2_mid:8,posenet:1')
  .split(',')
  .map((c) => {
    const [name, batch] = c.split(':');
    return [name, Number(batch)];
  });

const chosenSaving = (plan: FusionPlan, measured: Record<string, MeasuredSite>) =>
  plan.sites
    .filter((s) => s.decision === 'fused' && measured[s.id] != null)
    .reduce((sum, s) => sum + measured[s.id].unfusedMs - measured[s.id].fusedMs, 0);

async function measureCase(name: string, batch: number) {
  const dir = `models/${name}`;
  const shape = inputShapeOf(dir, batch);
  if (shape[0] !== batch) return null;
  await tf.setBackend('webgpu-fused');
  const limits = kernelLimitsOf((tf.backend() as unknown as { device: GPUDevice }).device.limits);
  const profile = deviceProfileFromLimits(limits, {}, H100_LIKE_PROFILE);
  const plans = Object.fromEntries(
    (['none', 'all', 'auto'] as const).map((policy) => [
      policy,
      fuseGraphModelArtifacts(artifactsFromDir(dir), { plan: policy, profile, inputShape: shape }).report
        .plan!,
    ]),
  );
  const sites = plans.auto.sites.filter((s) => s.legal && s.problem != null && s.fused != null);

  // Interleaved rounds over all sites: each round times every site once.
  const time = makeSiteTimer({ repeats: 20, rounds: 1 });
  const samples = new Map<string, { unfused: number[]; fused: number[] }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const site of sites) {
      const entry = samples.get(site.id) ?? { unfused: [], fused: [] };
      const kind = site.kind as 'dwpw' | 'pwdw';
      entry.unfused.push(await time(kind, site.problem!, { kind: 'unfused' }));
      entry.fused.push(await time(kind, site.problem!, { kind: 'fused', tile: site.fused!.tile }));
      samples.set(site.id, entry);
    }
  }
  const measured: Record<string, MeasuredSite> = {};
  const perSite = sites.map((site) => {
    const s = samples.get(site.id)!;
    measured[site.id] = { unfusedMs: median(s.unfused), fusedMs: median(s.fused), tile: site.fused!.tile };
    return {
      id: site.id,
      kind: site.kind,
      problem: site.problem,
      tile: site.fused!.tile,
      predicted: { unfusedMs: site.unfused?.ms, fusedMs: site.fused?.ms },
      measured: {
        unfusedMs: median(s.unfused),
        fusedMs: median(s.fused),
        unfusedRange: [Math.min(...s.unfused), Math.max(...s.unfused)],
        fusedRange: [Math.min(...s.fused), Math.max(...s.fused)],
      },
      decisions: { auto: site.decision, all: plans.all.sites.find((x) => x.id === site.id)?.decision },
    };
  });
  const oracle = fuseGraphModelArtifacts(artifactsFromDir(dir), {
    plan: 'auto',
    profile,
    inputShape: shape,
    measured,
  }).report.plan!;

  // The stock model's GPU time, for relative regret.
  await tf.setBackend('webgpu');
  const stockModel = await tfLoadGraphModel(tf.io.fromMemory(artifactsFromDir(dir)));
  const input = tf.randomUniform(shape, 0, 1);
  const run = () => {
    const out = stockModel.execute(input);
    if (!Array.isArray(out)) return out as tf.Tensor;
    tf.dispose(out.slice(1));
    return out[0];
  };
  const stockMs: number[] = [];
  for (let i = 0; i < 3 + ROUNDS; i++) stockMs.push((await gpuTime(run)).kernelMs);
  stockModel.dispose();
  input.dispose();
  const stockGpuMs = median(stockMs.slice(3));

  const savings = {
    none: 0,
    all: chosenSaving(plans.all, measured),
    auto: chosenSaving(plans.auto, measured),
    oracle: chosenSaving(oracle, measured),
  };
  const regret = (savings.oracle - savings.auto) / stockGpuMs;
  return {
    model: name,
    batch,
    stockGpuMs,
    savings,
    regretOfAuto: regret,
    oracleFused: oracle.sites.filter((s) => s.decision === 'fused').map((s) => s.id),
    sites: perSite,
  };
}

async function main() {
  if (!(await tf.setBackend('webgpu')) || !(await tf.setBackend('webgpu-fused')))
    throw new Error('no WebGPU');
  const device = deviceDescription();
  console.log(`planner bench: ${device}; ${ROUNDS} interleaved rounds`);
  const results = [];
  for (const [name, batch] of CASES) {
    const r = await measureCase(name, batch);
    if (r == null) continue;
    results.push(r);
    console.log(
      `${name} b${batch}: stock model GPU ${r.stockGpuMs.toFixed(3)} ms; measured saving (ms per inference, site pairs): ` +
        `none 0, all ${r.savings.all.toFixed(4)}, auto ${r.savings.auto.toFixed(4)}, oracle ${r.savings.oracle.toFixed(4)}; ` +
        `regret of auto ${(100 * r.regretOfAuto).toFixed(1)} % of the model`,
    );
    for (const s of r.sites) {
      console.log(
        `  ${s.id.padEnd(60)} pred ${s.predicted.unfusedMs?.toFixed(4)}/${s.predicted.fusedMs?.toFixed(4)} ` +
          `meas ${s.measured.unfusedMs.toFixed(4)}/${s.measured.fusedMs.toFixed(4)} auto ${s.decisions.auto}`,
      );
    }
  }
  writeResults(args.out, device, { results });
  console.log('done');
}

runMain(main);
