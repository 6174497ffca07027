/**
 * Fits a device profile's fused-kernel calibration (`fusedEfficiency`:
 * scale · e^exponent per kernel kind) to measured planner-benchmark sites,
 * without a GPU. Two views:
 *   1. per site: for each kind, a grid of (scale, exponent) scored by the
 *      RMS of log(predicted / measured speedup) over every site of that kind
 *      at its measured tile, with how many sites each would call faster when
 *      they were measured slower (false wins) and the reverse (missed wins);
 *   2. per decision (`--decisions`): the planner re-plans the benchmark's
 *      models (models/<name>) under each candidate calibration, and its
 *      choices are scored on the measurements: chosen fusions measured
 *      slower than stock beyond the noise, and regret against the measured
 *      oracle. Coordinate descent over the three kinds' grids.
 *
 *   npx esbuild bench/planner/calibration_fit.ts --bundle --platform=node --outfile=/tmp/calibration_fit.cjs
 *   node /tmp/calibration_fit.cjs bench/results/planner-*.json [--decisions] [--try dwpw:5:2,pwdw:0.7:1.25]
 */

import { readFileSync } from 'fs';

import { fuseGraphModelArtifacts } from '../../src/graph-rewrite/index';
import {
  DeviceProfile,
  EfficiencyCalibration,
  FusedKernelKind,
  H100_LIKE_PROFILE,
} from '../../src/planner/device_profile';
import { artifactsFromDir, inputShapeOf } from '../../scripts/model_files';
import { withDynamicBatch } from '../peers/models';
import { PlannerSiteResult, predictSite } from './predict';

const KINDS: FusedKernelKind[] = ['dwpw', 'pwdw', 'pwdwpw'];

const SCALES = [0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 8, 12];
const EXPONENTS = [0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3];

interface Score {
  scale: number;
  exponent: number;
  rmsLogError: number;
  agree: number;
  falseWins: number;
  missedWins: number;
}

function score(sites: PlannerSiteResult[], kind: FusedKernelKind, scale: number, exponent: number): Score {
  const profile = {
    ...H100_LIKE_PROFILE,
    fusedEfficiency: { ...H100_LIKE_PROFILE.fusedEfficiency, [kind]: { scale, exponent } },
  };
  let agree = 0;
  let falseWins = 0;
  let missedWins = 0;
  let squares = 0;
  for (const site of sites) {
    const predicted = predictSite(site, profile);
    const measured = site.measured.speedup;
    if (predicted > 1 === measured > 1) agree++;
    if (predicted > 1 && measured < 0.97) falseWins++;
    if (predicted < 1 && measured > 1.03) missedWins++;
    squares += Math.log(predicted / measured) ** 2;
  }
  return { scale, exponent, rmsLogError: Math.sqrt(squares / sites.length), agree, falseWins, missedWins };
}

interface MeasuredCase {
  model: string;
  batch: number;
  stockGpuMs: number;
  sites: Array<PlannerSiteResult & { measured: { unfusedMs: number; fusedMs: number; spread: number[] } }>;
}

interface DecisionScore {
  losing: number;
  regret: number;
  unmeasured: number;
  perCase: string[];
}

/**
 * The planner's choices for each case under `profile`, scored on the
 * measurements of the same site at the same tile (the latest file that has
 * one). Oracle: the same planner over those measurements.
 */
function scoreDecisions(cases: MeasuredCase[], profile: DeviceProfile): DecisionScore {
  const score: DecisionScore = { losing: 0, regret: 0, unmeasured: 0, perCase: [] };
  for (const c of cases) {
    const dir = `models/${c.model}`;
    const inputShape = inputShapeOf(dir, c.batch);
    // A graph that fixes batch 1 was benchmarked at other batches with its batch made dynamic.
    const rebatch = inputShape[0] !== c.batch;
    inputShape[0] = c.batch;
    const artifacts = rebatch ? withDynamicBatch(artifactsOf(dir)) : artifactsOf(dir);
    const plan = fuseGraphModelArtifacts(artifacts, { plan: 'auto', profile, inputShape }).report.plan!;
    const lookup = (id: string, tile: unknown) =>
      c.sites.find((s) => s.id === id && JSON.stringify(s.tile) === JSON.stringify(tile));
    const measured = Object.fromEntries(
      plan.sites
        .map((s) => [s.id, s.fused != null ? lookup(s.id, s.fused.tile) : undefined] as const)
        .filter(([, m]) => m != null)
        .map(([id, m]) => [
          id,
          { unfusedMs: m!.measured.unfusedMs, fusedMs: m!.measured.fusedMs, tile: m!.tile },
        ]),
    );
    const oracle = fuseGraphModelArtifacts(artifacts, { plan: 'auto', profile, inputShape, measured }).report
      .plan!;
    const savingOf = (p: typeof plan) =>
      p.sites
        .filter((s) => s.decision === 'fused')
        .reduce(
          (sum, s) => sum + (measured[s.id] ? measured[s.id].unfusedMs - measured[s.id].fusedMs : 0),
          0,
        );
    let losing = 0;
    let unmeasured = 0;
    for (const s of plan.sites.filter((x) => x.decision === 'fused')) {
      const m = lookup(s.id, s.fused?.tile);
      if (m == null) unmeasured++;
      else if (m.measured.spread[1] < 1) losing++;
    }
    const regret = (savingOf(oracle) - savingOf(plan)) / c.stockGpuMs;
    score.losing += losing;
    score.unmeasured += unmeasured;
    score.regret = Math.max(score.regret, regret);
    score.perCase.push(
      `${c.model} b${c.batch}: losing ${losing}, regret ${(100 * regret).toFixed(1)} %` +
        (unmeasured > 0 ? `, ${unmeasured} chosen unmeasured` : ''),
    );
  }
  return score;
}

const artifactCache = new Map<string, ReturnType<typeof artifactsFromDir>>();
function artifactsOf(dir: string) {
  if (!artifactCache.has(dir)) artifactCache.set(dir, artifactsFromDir(dir));
  return artifactCache.get(dir)!;
}

const withCalibration = (
  base: DeviceProfile,
  kind: FusedKernelKind,
  calibration: EfficiencyCalibration,
): DeviceProfile => ({ ...base, fusedEfficiency: { ...base.fusedEfficiency, [kind]: calibration } });

/** Regret within 5 % in every case first, then fewer losing choices, then less regret. */
const decisionCost = (s: DecisionScore) =>
  (s.regret > 0.05 ? 100 : 0) + s.losing + s.unmeasured + 10 * s.regret;

function fitDecisions(cases: MeasuredCase[]) {
  let profile: DeviceProfile = H100_LIKE_PROFILE;
  let best = scoreDecisions(cases, profile);
  console.log(`decisions, current calibration: ${best.perCase.join('; ')}`);
  for (let round = 0; round < 3; round++) {
    for (const kind of KINDS) {
      for (const scale of SCALES) {
        for (const exponent of EXPONENTS) {
          const candidate = withCalibration(profile, kind, { scale, exponent });
          const s = scoreDecisions(cases, candidate);
          if (decisionCost(s) < decisionCost(best)) {
            best = s;
            profile = candidate;
          }
        }
      }
    }
    console.log(
      `after round ${round + 1}: ${JSON.stringify(profile.fusedEfficiency)}: ${best.perCase.join('; ')}`,
    );
  }
}

function main() {
  const args = process.argv.slice(2);
  const files = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--try');
  if (files.length === 0) throw new Error('usage: calibration_fit <planner-result.json>... [--decisions]');
  const sites: PlannerSiteResult[] = [];
  const cases = new Map<string, MeasuredCase>();
  for (const file of files) {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { results: MeasuredCase[] };
    for (const r of data.results) {
      sites.push(...r.sites);
      const key = `${r.model}:${r.batch}`;
      const known = cases.get(key);
      // Later files first: their measurements win lookups.
      cases.set(key, { ...r, sites: [...r.sites, ...(known?.sites ?? [])] });
    }
  }
  const format = (s: Score) =>
    `scale ${s.scale} exponent ${s.exponent}: rms log error ${s.rmsLogError.toFixed(3)}, ` +
    `agree ${s.agree}, false wins ${s.falseWins}, missed wins ${s.missedWins}`;
  for (const kind of KINDS) {
    const ofKind = sites.filter((s) => s.kind === kind);
    if (ofKind.length === 0) continue;
    const scores = SCALES.flatMap((scale) =>
      EXPONENTS.map((exponent) => score(ofKind, kind, scale, exponent)),
    );
    scores.sort((a, b) => a.rmsLogError - b.rmsLogError);
    const current = H100_LIKE_PROFILE.fusedEfficiency?.[kind];
    console.log(`${kind}: ${ofKind.length} sites`);
    if (current != null)
      console.log(`  current  ${format(score(ofKind, kind, current.scale, current.exponent))}`);
    for (const s of scores.slice(0, 5)) console.log(`  fit      ${format(s)}`);
  }
  if (args.includes('--decisions')) fitDecisions([...cases.values()]);
  // --try dwpw:5:2,pwdw:0.7:1.25 scores the decisions under that calibration.
  const tryAt = args.indexOf('--try');
  if (tryAt >= 0) {
    let profile: DeviceProfile = H100_LIKE_PROFILE;
    for (const part of args[tryAt + 1].split(',')) {
      const [kind, scale, exponent] = part.split(':');
      profile = withCalibration(profile, kind as FusedKernelKind, {
        scale: Number(scale),
        exponent: Number(exponent),
      });
    }
    const s = scoreDecisions([...cases.values()], profile);
    console.log(`decisions under ${JSON.stringify(profile.fusedEfficiency)}: ${s.perCase.join('; ')}`);
  }
}

main();
