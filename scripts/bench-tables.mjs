// Turns bench/results/{layers,models}-*.json into readable markdown tables
// next to them (same name, .md): per site/model and batch, stock vs fused,
// paired GPU ratio, back-to-back / wall ratio, bytes, device and date.
//   node scripts/bench-tables.mjs [bench/results/file.json ...]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = 'bench/results';
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => join(dir, f));

const ms = (v) => (v == null ? '–' : v.toFixed(4));
const x = (v) => (v == null ? '–' : `${v.toFixed(2)}×`);
const mib = (b) => `${(b / 2 ** 20).toFixed(2)}`;

function tile(t) {
  if (t == null) return '–';
  if ('pixels' in t) {
    const split = (t.channelSplits ?? 1) > 1 ? ` s${t.channelSplits}` : '';
    return `p${t.pixels}/${t.threadPixels} f${t.filters}/${t.threadFilters} c${t.channelChunk}${split}`;
  }
  return `${t.tileH}x${t.tileW} c${t.channels}/${t.threadChannels ?? 4} p${t.threadPositions} w${t.workgroupSize}`;
}

function layersTable(data) {
  const lines = [
    '| batch | site | stock GPU ms | fused GPU ms | paired GPU ratio [p25–p75] | back-to-back stock / fused ms | b2b ratio | MiB stock → fused | HBM floor ms stock / fused | tile | max rel err |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of data.results) {
    const p = r.pairedGpuRatio;
    lines.push(
      `| ${r.batch} | ${r.site}${r.count > 1 ? ` (×${r.count})` : ''} | ${ms(r.stock.gpuMsMedian)} | ${ms(r.fused.gpuMsMedian)} | ` +
        `${x(p.median)} [${p.p25.toFixed(2)}–${p.p75.toFixed(2)}] | ${ms(r.stock.backToBackMs)} / ${ms(r.fused.backToBackMs)} | ` +
        `${x(r.backToBackRatio.median)} | ${mib(r.bytes.stock)} → ${mib(r.bytes.fused)} | ` +
        `${ms(r.bytes.hbmFloorMsStock)} / ${ms(r.bytes.hbmFloorMsFused)} | ${tile(r.fused.tile)} | ${r.maxRelErrVsStock.toExponential(1)} |`,
    );
  }
  const byBatch = {};
  for (const r of data.results) (byBatch[r.batch] ??= []).push(r.pairedGpuRatio.median);
  const summary = Object.entries(byBatch).map(([b, v]) => {
    const s = [...v].sort((a, b2) => a - b2);
    const geo = Math.exp(v.reduce((a, r) => a + Math.log(r), 0) / v.length);
    return `batch ${b}: median site ${x(s[s.length >> 1])}, geo-mean ${x(geo)}, ${v.filter((r) => r > 1).length}/${v.length} sites faster fused`;
  });
  return [
    `Paired GPU-time ratio (stock / fused; > 1 means fused is faster): ${summary.join('; ')}.`,
    '',
    ...lines,
  ];
}

function modelsTable(data) {
  const lines = [
    '| batch | model | variant | GPU ms (median) | paired GPU ratio | wall ms (median) | paired wall ratio | dispatches | first inference ms | max rel err |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of data.results) {
    for (const variant of Object.keys(r.gpuMs)) {
      const stock = variant === 'stock';
      lines.push(
        `| ${r.batch} | ${r.model} | ${variant} | ${ms(r.gpuMs[variant].median)} | ${stock ? '1' : x(r.pairedGpuRatio[variant].median)} | ` +
          `${ms(r.wallMs[variant].median)} | ${stock ? '1' : x(r.pairedWallRatio[variant].median)} | ${r.dispatches[variant]} | ` +
          `${r.firstInferenceMs[variant].toFixed(0)} | ${stock ? '–' : r.maxRelErrVsStock[variant].toExponential(1)} |`,
      );
    }
  }
  return lines;
}

function plannerTable(data) {
  // 'tuned' (the planner deciding from on-device autotuning) in newer files.
  const tuned = data.results.some((r) => r.savings.tuned != null);
  const plans = tuned ? ['none', 'all', 'auto', 'tuned'] : ['none', 'all', 'auto'];
  const lines = [
    'Measured saving per inference (ms; each site timed stock vs fused at the planner tile, GPU time, paired per round, medians of interleaved rounds) of each plan; regret = oracle − plan, relative to the stock model GPU time. Whole model: GPU time of stock over the model rewritten under each plan (median of per-round ratios).' +
      (tuned
        ? " 'tuned': the planner deciding from on-device autotuning (wall time of back-to-back runs)."
        : ''),
    '',
    `| model | batch | stock model GPU ms | ${plans.map((p) => (p === 'auto' ? 'auto (model)' : p)).join(' | ')} | oracle (measured) | regret of ${plans.slice(2).join(' / ')} | chosen fusions slower beyond noise (${plans.slice(2).join(' / ')}) | whole model ${plans.join(' / ')} |`,
    `|${'---|'.repeat(plans.length + 7)}`,
  ];
  for (const r of data.results) {
    const s = r.savings;
    const whole = r.modelSpeedup
      ? plans.map((p) => `${r.modelSpeedup[p].median.toFixed(3)}×`).join(' / ')
      : '–';
    const losing = [r.losingChosenFusions, ...(tuned ? [r.losingTunedFusions] : [])]
      .map((l) => (l ? l.length : '–'))
      .join(' / ');
    const regret = [r.regretOfAuto, ...(tuned ? [r.regretOfTuned] : [])]
      .map((v) => `${(100 * v).toFixed(1)} %`)
      .join(' / ');
    lines.push(
      `| ${r.model} | ${r.batch} | ${r.stockGpuMs.toFixed(3)} | 0 | ${plans
        .slice(1)
        .map((p) => s[p].toFixed(3))
        .join(' | ')} | ${s.oracle.toFixed(3)} | ${regret} | ${losing} | ${whole} |`,
    );
  }
  return lines;
}

const TITLES = { layers: 'Per-layer benchmark', models: 'Per-model benchmark', planner: 'Planner fidelity' };

for (const file of files) {
  const data = JSON.parse(readFileSync(file, 'utf8'));
  if (data.results == null) continue; // e.g. a calibrated profile
  const first = data.results[0] ?? {};
  const kind =
    data.kind ??
    (first.site != null
      ? 'layers'
      : first.savings != null
        ? 'planner'
        : first.gpuMs != null
          ? 'models'
          : undefined);
  const table = { layers: layersTable, models: modelsTable, planner: plannerTable }[kind];
  if (table == null) {
    console.log(
      `bench-tables: ${file}: no table for result kind '${kind ?? 'unknown'}' (see bench/REPORT.md)`,
    );
    continue;
  }
  const body = table(data);
  const md = [
    `# ${TITLES[kind]}: stock tfjs-webgpu vs webgpu-fused`,
    '',
    `- Date: ${data.date}`,
    `- Device: ${data.device}${data.backend ? ` (${data.backend})` : ''}`,
    `- Source: \`${file}\``,
    '',
    ...body,
    '',
  ].join('\n');
  writeFileSync(file.replace(/\.json$/, '.md'), md);
  console.log(`bench-tables: ${file.replace(/\.json$/, '.md')}`);
}
