/**
 * How well the planner's cost model (with the H100 profile's calibration)
 * predicts measured speedups, without a GPU. Reads either
 * - a blocks benchmark result (bench/layers/blocks_bench.ts: paired GPU
 *   ratios vs stock of the DW→PW pair, the PW→DW pair and the whole-block
 *   kernel at the default tiles, per MobileNetV2 block and batch), or
 * - a planner benchmark result (bench/planner/planner_bench.ts: paired GPU
 *   ratios of every site of a model at the planner's tile),
 * and prints per row the measured and predicted speedup, whether both agree
 * on "faster than stock", and a summary (agreement, median error).
 *
 *   npx esbuild bench/planner/model_fit.ts --bundle --platform=node --outfile=/tmp/model_fit.cjs
 *   node /tmp/model_fit.cjs bench/results/blocks-2026-11-26-h100-v7.json [--json out.json]
 */

import { readFileSync, writeFileSync } from 'fs';

import { defaultDwPwTile } from '../../src/kernels/depthwise_pointwise_tile';
import { defaultIrTile } from '../../src/kernels/inverted_residual_tile';
import { defaultPwDwTile } from '../../src/kernels/pointwise_depthwise_tile';
import { DwPwProblem, DwPwTile, IrProblem, IrTile, PwDwProblem, PwDwTile } from '../../src/kernels/types';
import { DeviceProfile, H100_LIKE_PROFILE } from '../../src/planner/device_profile';
import { dwPwFusedCost, irFusedCost, pwDwFusedCost } from '../../src/planner/fused_costs';
import { predictMs } from '../../src/planner/kernel_cost';
import {
  dwLayerOfDwPw,
  dwLayerOfIr,
  dwLayerOfPwDw,
  expandLayerOfIr,
  projectLayerOfIr,
  pwLayerOfDwPw,
  pwLayerOfPwDw,
  pwOutputElements,
} from '../../src/planner/layer_shapes';
import { BlockSiteProblem, dwPwProblemOf, pwDwProblemOf } from '../../src/planner/graph';
import { SitePlan } from '../../src/planner/plan';
import { stockAddCost, stockDepthwiseCost, stockPointwiseCost } from '../../src/planner/stock_costs';

interface BlockResult {
  block: string;
  batch: number;
  residual: boolean;
  variants: Record<string, { pairedGpuRatio?: { median: number } }>;
}

/** '14²x136->816 s2->224' → the block's problem (3x3 depthwise, SAME padding). */
export function irProblemOfLabel(label: string, batch: number): IrProblem {
  const m = /^(\d+)²x(\d+)->(\d+)( s(\d+))?->(\d+)$/.exec(label);
  if (m == null) throw new Error(`model_fit: cannot read block label '${label}'`);
  const size = Number(m[1]);
  const stride = m[5] != null ? Number(m[5]) : 1;
  const out = Math.ceil(size / stride);
  return {
    batch,
    inHeight: size,
    inWidth: size,
    inChannels: Number(m[2]),
    expandedChannels: Number(m[3]),
    outChannels: Number(m[6]),
    kernelSize: 3,
    stride,
    outHeight: out,
    outWidth: out,
  };
}

/** Predicted ms of each variant the blocks benchmark times. */
export function predictVariants(problem: IrProblem, residual: boolean, profile: DeviceProfile) {
  const limits = profile.limits;
  const expand = expandLayerOfIr(problem);
  const dw = dwLayerOfIr(problem);
  const project = projectLayerOfIr(problem);
  const ms = predictMs;
  const add = residual ? ms(stockAddCost(pwOutputElements(project)), profile) : 0;
  const expandMs = ms(stockPointwiseCost(expand), profile);
  const dwMs = ms(stockDepthwiseCost(dw), profile);
  const projectMs = ms(stockPointwiseCost(project), profile);
  const dwPw = dwPwProblemOf(dw, project);
  const pwDw = pwDwProblemOf(expand, dw);
  return {
    stock: expandMs + dwMs + projectMs + add,
    dwpw: expandMs + ms(dwPwFusedCost(dwPw, defaultDwPwTile(dwPw, limits)), profile) + add,
    pwdw: ms(pwDwFusedCost(pwDw, defaultPwDwTile(pwDw, limits)), profile) + projectMs + add,
    block: ms(irFusedCost(problem, defaultIrTile(problem, limits), residual), profile),
  };
}

interface PlannerSiteResult {
  id: string;
  kind: SitePlan['kind'];
  problem: SitePlan['problem'];
  tile: DwPwTile | PwDwTile | IrTile;
  measured: { speedup: number };
}

/** Predicted speedup (stock / fused) of one planner-bench site at its tile. */
export function predictSite(site: PlannerSiteResult, profile: DeviceProfile): number {
  const ms = (c: Parameters<typeof predictMs>[0]) => predictMs(c, profile);
  if (site.kind === 'dwpw') {
    const p = site.problem as DwPwProblem;
    const stock = ms(stockDepthwiseCost(dwLayerOfDwPw(p))) + ms(stockPointwiseCost(pwLayerOfDwPw(p)));
    return stock / ms(dwPwFusedCost(p, site.tile as DwPwTile));
  }
  if (site.kind === 'pwdw') {
    const p = site.problem as PwDwProblem;
    const stock = ms(stockPointwiseCost(pwLayerOfPwDw(p))) + ms(stockDepthwiseCost(dwLayerOfPwDw(p)));
    return stock / ms(pwDwFusedCost(p, site.tile as PwDwTile));
  }
  const p = site.problem as BlockSiteProblem;
  const project = projectLayerOfIr(p);
  const stock =
    ms(stockPointwiseCost(expandLayerOfIr(p))) +
    ms(stockDepthwiseCost(dwLayerOfIr(p))) +
    ms(stockPointwiseCost(project)) +
    (p.residual ? ms(stockAddCost(pwOutputElements(project))) : 0);
  return stock / ms(irFusedCost(p, site.tile as IrTile, p.residual));
}

function main() {
  const args = process.argv.slice(2);
  const file = args[0];
  if (file == null) throw new Error('usage: model_fit <blocks-result.json> [--json out.json]');
  const jsonOut = args.indexOf('--json') >= 0 ? args[args.indexOf('--json') + 1] : undefined;
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    device: string;
    results: Array<BlockResult | { model: string; batch: number; sites: PlannerSiteResult[] }>;
  };
  const profile = H100_LIKE_PROFILE;
  const rows = [];
  for (const r of data.results) {
    if ('sites' in r) {
      for (const site of r.sites) {
        const label = `${r.model} ${site.id.length > 40 ? '…' + site.id.slice(-39) : site.id}`;
        rows.push({
          batch: r.batch,
          block: label,
          variant: site.kind as string,
          measured: site.measured.speedup,
          predicted: predictSite(site, profile),
        });
      }
      continue;
    }
    const problem = irProblemOfLabel(r.block, r.batch);
    const predicted = predictVariants(problem, r.residual, profile);
    for (const v of ['dwpw', 'pwdw', 'block'] as const) {
      const measured = r.variants[v]?.pairedGpuRatio?.median;
      if (measured == null) continue;
      const ratio = predicted.stock / predicted[v];
      rows.push({ batch: r.batch, block: r.block, variant: v as string, measured, predicted: ratio });
    }
  }
  console.log(`cost model (${profile.name}) vs ${file} (${data.device})`);
  console.log('batch  block / site                   variant  measured  predicted  agree');
  for (const row of rows) {
    const agree = row.measured > 1 === row.predicted > 1 ? 'yes' : 'NO';
    console.log(
      `${String(row.batch).padEnd(6)} ${row.block.padEnd(30)} ${row.variant.padEnd(8)} ` +
        `${row.measured.toFixed(2).padStart(8)} ${row.predicted.toFixed(2).padStart(10)}  ${agree}`,
    );
  }
  const agreeing = rows.filter((r) => r.measured > 1 === r.predicted > 1).length;
  const logErrors = rows.map((r) => Math.abs(Math.log(r.predicted / r.measured))).sort((a, b) => a - b);
  const medianLog = logErrors[Math.floor(logErrors.length / 2)];
  console.log(
    `agree on faster/slower: ${agreeing}/${rows.length}; median |predicted/measured| error ` +
      `${(100 * (Math.exp(medianLog) - 1)).toFixed(0)} %`,
  );
  if (jsonOut != null)
    writeFileSync(jsonOut, JSON.stringify({ source: file, profile: profile.name, rows }, null, 2));
}

main();
