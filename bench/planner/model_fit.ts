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

import { H100_LIKE_PROFILE } from '../../src/planner/device_profile';
import { BlockResult, irProblemOfLabel, PlannerSiteResult, predictSite, predictVariants } from './predict';

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
