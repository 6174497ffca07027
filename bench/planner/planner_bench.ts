/**
 * Planner fidelity on a real GPU. For every fusion site of nsfwjs
 * `mobilenet_v2_mid` and `posenet` (DW→PW and PW→DW pairs and whole
 * PW→DW→PW blocks), the GPU time (timestamp queries) of the stock kernels
 * and of the fused kernel at the planner's tile, paired in time: each round
 * times every site's two variants back to back (order alternating), and a
 * site's speedup is the median of its per-round ratios (p25–p75 reported as
 * the spread). Plans scored on these measurements: 'none', 'all', 'auto'
 * (the cost model), 'tuned' (the planner deciding from on-device autotuning,
 * `autotune()`, whose chosen tiles are timed the same way where they differ
 * from the model's) and the per-site measured oracle (the same DP over
 * measured savings). Regret = oracle saving − plan saving, relative to the
 * stock model's GPU time. Then the whole model, rewritten under each plan,
 * in interleaved rounds: its GPU time relative to stock.
 *
 *   bash ../shared/gpu/bundle.sh bench/planner/planner_bench.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/planner_bench.mjs --out $OUT/planner.json \
 *     [--rounds 7] [--cases mobilenet_v2_mid:1,mobilenet_v2_mid:8,posenet:1]
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { GraphModel, loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';

import '../../src/index';
import { fuseGraphModelArtifacts, loadGraphModel } from '../../src/graph-rewrite/index';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { buildSiteRunner, makeSiteTimer } from '../../src/ops/site_timer';
import {
  AdapterIdentity,
  autotune,
  FusionPlan,
  MeasuredSite,
  SitePlan,
  profileForDevice,
} from '../../src/planner/index';
import { artifactsFromDir, inputShapeOf, smoothImage } from '../../scripts/model_files';
import { withDynamicBatch } from '../peers/models';
import { deviceDescription, gpuTime, median, parseArgs, quantile, runMain, writeResults } from '../util';

const args = parseArgs(process.argv.slice(2));
const ROUNDS = Number(args.rounds ?? 7);
const CASES: Array<[string, number]> = (
  args.cases ?? 'mobilenet_v2_mid:1,mobilenet_v2_mid:8,mobilenet_v2_mid:32,posenet:1,posenet:8'
)
  .split(',')
  .map((c) => {
    const [name, batch] = c.split(':');
    return [name, Number(batch)];
  });
const POLICIES = ['none', 'all', 'auto', 'tuned'] as const;

const chosenSaving = (plan: FusionPlan, measured: Record<string, MeasuredSite>) =>
  plan.sites
    .filter((s) => s.decision === 'fused' && measured[s.id] != null)
    .reduce((sum, s) => sum + measured[s.id].unfusedMs - measured[s.id].fusedMs, 0);

const kernelMs = async (run: () => tf.Tensor) => (await gpuTime(run)).kernelMs;

/** Paired per-round GPU times of every site's stock and fused variants. */
async function measureSites(sites: SitePlan[]) {
  const runners = sites.map((site) => ({
    site,
    unfused: buildSiteRunner(site.kind, site.problem!, { kind: 'unfused' }),
    fused: buildSiteRunner(site.kind, site.problem!, { kind: 'fused', tile: site.fused!.tile }),
  }));
  const samples = runners.map(() => ({ unfused: [] as number[], ratio: [] as number[] }));
  try {
    for (const r of runners) {
      await kernelMs(r.unfused.run); // compile
      await kernelMs(r.fused.run);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, r] of runners.entries()) {
        const first = round % 2 === 0 ? r.unfused : r.fused;
        const second = round % 2 === 0 ? r.fused : r.unfused;
        const a = await kernelMs(first.run);
        const b = await kernelMs(second.run);
        const [unfused, fused] = round % 2 === 0 ? [a, b] : [b, a];
        samples[i].unfused.push(unfused);
        samples[i].ratio.push(unfused / fused);
      }
    }
  } finally {
    for (const r of runners) {
      r.unfused.dispose();
      r.fused.dispose();
    }
  }
  return sites.map((site, i) => {
    const s = samples[i];
    const unfusedMs = median(s.unfused);
    const speedup = median(s.ratio);
    return {
      site,
      unfusedMs,
      fusedMs: unfusedMs / speedup,
      speedup,
      spread: [quantile(s.ratio, 0.25), quantile(s.ratio, 0.75)] as [number, number],
    };
  });
}

/** GPU time of the stock model and of the model rewritten under each policy, in interleaved rounds. */
async function measureModels(
  artifacts: () => tf.io.ModelArtifacts,
  shape: number[],
  profile: ReturnType<typeof profileForDevice>,
  tuned: Record<string, MeasuredSite>,
) {
  await tf.setBackend('webgpu');
  const handler = () => ({ load: async () => artifacts() });
  const stock = await tfLoadGraphModel(handler());
  const stockInput = tf.tensor(smoothImage(shape), shape);
  await tf.setBackend('webgpu-fused');
  const fused: Record<string, GraphModel> = {};
  for (const policy of POLICIES) {
    fused[policy] = await loadGraphModel(handler(), {
      plan: policy === 'tuned' ? 'auto' : policy,
      profile,
      inputShape: shape,
      measured: policy === 'tuned' ? tuned : undefined,
    });
  }
  const fusedInput = tf.tensor(smoothImage(shape), shape);
  const runOf = (model: GraphModel, input: tf.Tensor) => () => {
    const out = model.execute(input);
    if (!Array.isArray(out)) return out as tf.Tensor;
    tf.dispose(out.slice(1));
    return out[0];
  };
  const timeOn = async (backend: string, model: GraphModel, input: tf.Tensor) => {
    await tf.setBackend(backend);
    return gpuTime(runOf(model, input));
  };
  const stockMs: number[] = [];
  const ratios: Record<string, number[]> = Object.fromEntries(POLICIES.map((p) => [p, []]));
  const dispatches: Record<string, number> = {};
  for (let round = 0; round < ROUNDS + 2; round++) {
    const s = await timeOn('webgpu', stock, stockInput);
    for (const policy of POLICIES) {
      const f = await timeOn('webgpu-fused', fused[policy], fusedInput);
      dispatches[policy] = f.dispatches;
      if (round >= 2) ratios[policy].push(s.kernelMs / f.kernelMs);
    }
    if (round >= 2) stockMs.push(s.kernelMs);
  }
  await tf.setBackend('webgpu');
  stock.dispose();
  stockInput.dispose();
  await tf.setBackend('webgpu-fused');
  Object.values(fused).forEach((m) => m.dispose());
  fusedInput.dispose();
  return {
    stockGpuMs: median(stockMs),
    speedupVsStock: Object.fromEntries(
      POLICIES.map((p) => [
        p,
        { median: median(ratios[p]), p25: quantile(ratios[p], 0.25), p75: quantile(ratios[p], 0.75) },
      ]),
    ),
    dispatches,
  };
}

async function measureCase(name: string, batch: number) {
  const dir = `models/${name}`;
  const shape = inputShapeOf(dir, batch);
  // A graph that fixes batch 1 (PoseNet) runs other batches with its batch made dynamic, as the peer bench does.
  const rebatch = shape[0] !== batch;
  if (rebatch && shape[0] !== 1) return null;
  shape[0] = batch;
  const artifacts = () => (rebatch ? withDynamicBatch(artifactsFromDir(dir)) : artifactsFromDir(dir));
  await tf.setBackend('webgpu-fused');
  const backend = tf.backend() as unknown as { device: GPUDevice; adapterDescription?: AdapterIdentity };
  const profile = profileForDevice(kernelLimitsOf(backend.device.limits), backend.adapterDescription);
  const planOf = (plan: 'none' | 'all' | 'auto', measured?: Record<string, MeasuredSite>) =>
    fuseGraphModelArtifacts(artifacts(), { plan, profile, inputShape: shape, measured }).report.plan!;
  const plans: Record<string, FusionPlan> = {
    none: planOf('none'),
    all: planOf('all'),
    auto: planOf('auto'),
  };
  // The planner deciding from on-device autotuning (wall time of back-to-back runs).
  const tuneStart = performance.now();
  const tunedSites = await autotune(plans.auto, makeSiteTimer(), { deviceKey: deviceDescription() });
  const tuneMs = performance.now() - tuneStart;
  plans.tuned = planOf('auto', tunedSites);
  const sites = plans.auto.sites.filter((s) => s.legal && s.problem != null && s.fused != null);
  const timed = await measureSites(sites);
  const measured: Record<string, MeasuredSite> = {};
  for (const t of timed) {
    measured[t.site.id] = { unfusedMs: t.unfusedMs, fusedMs: t.fusedMs, tile: t.site.fused!.tile };
  }
  // Fusions the tuned plan takes at another tile than the model's: timed at that tile.
  const sameTile = (a: SitePlan, b: SitePlan | undefined) =>
    JSON.stringify(a.fused?.tile) === JSON.stringify(b?.fused?.tile);
  const retimed = await measureSites(
    plans.tuned.sites.filter(
      (s) =>
        s.decision === 'fused' &&
        !sameTile(
          s,
          plans.auto.sites.find((a) => a.id === s.id),
        ),
    ),
  );
  const measuredTuned: Record<string, MeasuredSite> = { ...measured };
  for (const t of retimed) {
    measuredTuned[t.site.id] = { unfusedMs: t.unfusedMs, fusedMs: t.fusedMs, tile: t.site.fused!.tile };
  }
  const oracle = planOf('auto', measured);
  const model = await measureModels(artifacts, shape, profile, tunedSites);

  const savings = {
    none: 0,
    all: chosenSaving(plans.all, measured),
    auto: chosenSaving(plans.auto, measured),
    tuned: chosenSaving(plans.tuned, measuredTuned),
    oracle: chosenSaving(oracle, measured),
  };
  const decided = (plan: FusionPlan, id: string) => plan.sites.find((x) => x.id === id)?.decision;
  const perSite = timed.map((t) => ({
    id: t.site.id,
    kind: t.site.kind,
    problem: t.site.problem,
    tile: t.site.fused!.tile,
    predicted: { unfusedMs: t.site.unfused?.ms, fusedMs: t.site.fused?.ms },
    measured: { unfusedMs: t.unfusedMs, fusedMs: t.fusedMs, speedup: t.speedup, spread: t.spread },
    decisions: {
      auto: decided(plans.auto, t.site.id),
      all: decided(plans.all, t.site.id),
      tuned: decided(plans.tuned, t.site.id),
      oracle: decided(oracle, t.site.id),
    },
  }));
  // A chosen fusion slower than stock beyond the noise: even its p75 ratio is below 1.
  const losing = perSite.filter((s) => s.decisions.auto === 'fused' && s.measured.spread[1] < 1);
  const retimedById = new Map(retimed.map((t) => [t.site.id, t]));
  const losingTuned = perSite.filter(
    (s) => s.decisions.tuned === 'fused' && (retimedById.get(s.id)?.spread ?? s.measured.spread)[1] < 1,
  );
  return {
    model: name,
    batch,
    profile: profile.name,
    stockGpuMs: model.stockGpuMs,
    savings,
    regretOfAuto: (savings.oracle - savings.auto) / model.stockGpuMs,
    regretOfTuned: (savings.oracle - savings.tuned) / model.stockGpuMs,
    losingChosenFusions: losing.map((s) => s.id),
    losingTunedFusions: losingTuned.map((s) => s.id),
    tuneMs,
    tunedTiles: retimed.map((t) => ({
      id: t.site.id,
      tile: t.site.fused!.tile,
      speedup: t.speedup,
      spread: t.spread,
    })),
    modelSpeedup: model.speedupVsStock,
    modelDispatches: model.dispatches,
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
    const pct = (ms: number) => `${((100 * ms) / r.stockGpuMs).toFixed(1)} %`;
    console.log(
      `${name} b${batch} (profile ${r.profile}): stock model GPU ${r.stockGpuMs.toFixed(3)} ms; ` +
        `measured site savings none 0, all ${pct(r.savings.all)}, auto ${pct(r.savings.auto)}, ` +
        `tuned ${pct(r.savings.tuned)}, oracle ${pct(r.savings.oracle)}; ` +
        `regret of auto ${(100 * r.regretOfAuto).toFixed(1)} %, tuned ${(100 * r.regretOfTuned).toFixed(1)} %; ` +
        `chosen fusions slower beyond noise: auto ${r.losingChosenFusions.length}, ` +
        `tuned ${r.losingTunedFusions.length} (tuning ${(r.tuneMs / 1000).toFixed(1)} s)`,
    );
    const m = r.modelSpeedup;
    console.log(
      `  whole model GPU speedup vs stock (median [p25, p75]): ` +
        POLICIES.map(
          (p) =>
            `${p} ${m[p].median.toFixed(3)} [${m[p].p25.toFixed(3)}, ${m[p].p75.toFixed(3)}] (${r.modelDispatches[p]} dispatches)`,
        ).join('; '),
    );
    for (const s of r.sites) {
      const id = s.id.length > 70 ? `…${s.id.slice(-69)}` : s.id;
      console.log(
        `  ${s.kind.padEnd(6)} ${id.padEnd(70)} pred ${s.predicted.unfusedMs?.toFixed(4)}/${s.predicted.fusedMs?.toFixed(4)} ` +
          `meas ${s.measured.unfusedMs.toFixed(4)}/${s.measured.fusedMs.toFixed(4)} ` +
          `x${s.measured.speedup.toFixed(2)} [${s.measured.spread.map((v) => v.toFixed(2)).join(', ')}] ` +
          `auto ${s.decisions.auto} tuned ${s.decisions.tuned} oracle ${s.decisions.oracle}`,
      );
    }
  }
  writeResults(args.out, device, { rounds: ROUNDS, results });
  console.log('done');
}

runMain(main);
