// `npm run bench:report`: turns bench/results/*.json into bench/REPORT.md with
// tables and SVG charts (bench/report/*.svg): per-layer speedups, per-model
// stock vs fused, planner savings, first-inference times, and a roofline of
// the layers on the calibrated device profile. Every figure names the device
// and date of its source file. Result files of kinds this script does not know
// are listed as skipped, so new benchmarks can add files before it learns them.
//   node scripts/bench-report.mjs [--results DIR] [--out FILE.md]
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';

import { barChart, logLogChart } from './svg-chart.mjs';

const argv = process.argv.slice(2);
const option = (name, fallback) =>
  argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback;
const resultsDir = option('results', 'bench/results');
const outFile = option('out', 'bench/REPORT.md');
const svgDir = join(dirname(outFile), 'report');

const x = (v) => (v == null || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`);
const ms = (v, d = 3) => (v == null || !Number.isFinite(v) ? '–' : v.toFixed(d));
const day = (iso) => String(iso ?? 'unknown date').slice(0, 10);
const geoMean = (v) => Math.exp(v.reduce((a, r) => a + Math.log(r), 0) / v.length);
const medianOf = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The kind of a result file: its `kind` field, else recognised by its fields (older files). */
function kindOf(data) {
  if (data.kind != null) return data.kind;
  if (data.profile != null && data.results == null) return 'profile';
  const first = data.results?.[0];
  if (first == null) return 'unknown';
  if (first.site != null && first.pairedGpuRatio != null) return 'layers';
  if (first.savings != null) return 'planner';
  if (first.coarse != null && first.paired != null) return 'dwpw-sweep';
  if (first.gpuMs != null && first.pairedGpuRatio != null) return 'models';
  if (first.agreementVsStock != null && first.gpuMs?.ort != null) return 'peers';
  return 'unknown';
}

const files = readdirSync(resultsDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => {
    const path = join(resultsDir, f);
    try {
      const data = JSON.parse(readFileSync(path, 'utf8'));
      return { path, name: basename(f, '.json'), data, kind: kindOf(data) };
    } catch (e) {
      return { path, name: basename(f, '.json'), kind: 'unreadable', error: e.message };
    }
  });

rmSync(svgDir, { recursive: true, force: true });
mkdirSync(svgDir, { recursive: true });
const md = [];
const skipped = [];

function figure(file, chart, svg, caption) {
  const name = `${file.name}-${chart}.svg`;
  writeFileSync(join(svgDir, name), svg);
  md.push(`![${caption}](${relative(dirname(outFile), join(svgDir, name))})`, '');
  md.push(`_${caption}_`, '');
}

const source = (file) =>
  `Device: ${file.data.device ?? 'unknown device'}; date: ${day(file.data.date)}; source: \`${file.path}\``;

/** Parses a layer site label ("dwpw 112²x48->24", "pwdw 56²x32->192 s2"): the work of the pair. */
function siteFlops(label, batch) {
  const m = /^(dwpw|pwdw) (\d+)²x(\d+)( s2)?->(\d+)( s2)?/.exec(label);
  if (m == null) return undefined;
  const [kind, h, c, , f] = [m[1], Number(m[2]), Number(m[3]), m[4], Number(m[5])];
  const stride = m[4] || m[6] ? 2 : 1;
  const out = Math.ceil(h / stride) ** 2;
  const k2 = 9; // MobileNetV2's 3x3 depthwise
  if (kind === 'dwpw') return batch * (2 * k2 * c * out + 2 * c * f * out);
  return batch * (2 * c * f * h * h + 2 * k2 * f * out);
}

function layersSection(file) {
  const { results } = file.data;
  const batches = [...new Set(results.map((r) => r.batch))].sort((a, b) => a - b);
  md.push(`### Per layer: \`${file.name}\``, '', source(file), '');
  md.push(
    '| batch | sites | median paired GPU ratio | geo-mean | faster fused | median back-to-back ratio |',
  );
  md.push('|---|---|---|---|---|---|');
  for (const b of batches) {
    const rows = results.filter((r) => r.batch === b);
    const ratios = rows.map((r) => r.pairedGpuRatio.median);
    const b2b = rows.map((r) => r.backToBackRatio?.median).filter((v) => v != null);
    md.push(
      `| ${b} | ${rows.length} | ${x(medianOf(ratios))} | ${x(geoMean(ratios))} | ` +
        `${ratios.filter((r) => r > 1).length}/${rows.length} | ${b2b.length ? x(medianOf(b2b)) : '–'} |`,
    );
  }
  md.push('', `Every site: [\`${file.name}.md\`](results/${file.name}.md).`, '');
  const sites = [...new Set(results.map((r) => r.site))];
  const svg = barChart({
    title: `Per-layer speedup, stock / fused paired GPU time (> 1: fused faster)`,
    subtitle: `${file.data.device ?? ''} · ${day(file.data.date)} · ${file.name}`,
    categories: sites,
    series: batches.map((b) => ({
      name: `batch ${b}`,
      values: sites.map(
        (s) => results.find((r) => r.site === s && r.batch === b)?.pairedGpuRatio.median ?? null,
      ),
    })),
    unit: '×',
    reference: 1,
  });
  figure(
    file,
    'speedup',
    svg,
    `Per-layer paired GPU-time ratio, ${file.data.device}, ${day(file.data.date)}`,
  );
}

function modelsSection(file) {
  const { results } = file.data;
  md.push(`### Per model: \`${file.name}\``, '', source(file), '');
  md.push(
    '| model | batch | variant | GPU ms | paired GPU ratio | wall ms | paired wall ratio | dispatches |',
  );
  md.push('|---|---|---|---|---|---|---|---|');
  const variants = [...new Set(results.flatMap((r) => Object.keys(r.gpuMs)))].filter((v) => v !== 'stock');
  for (const r of results) {
    for (const v of ['stock', ...variants]) {
      if (r.gpuMs[v] == null) continue;
      const stock = v === 'stock';
      md.push(
        `| ${r.model} | ${r.batch} | ${v} | ${ms(r.gpuMs[v].median)} | ${stock ? '1' : x(r.pairedGpuRatio[v]?.median)} | ` +
          `${ms(r.wallMs?.[v]?.median)} | ${stock ? '1' : x(r.pairedWallRatio?.[v]?.median)} | ${r.dispatches?.[v] ?? '–'} |`,
      );
    }
  }
  md.push('');
  const categories = results.map((r) => `${r.model} b${r.batch}`);
  for (const [metric, key] of [
    ['wall', 'pairedWallRatio'],
    ['GPU', 'pairedGpuRatio'],
  ]) {
    const svg = barChart({
      title: `Per model, stock / fused paired ${metric} time (> 1: fused faster)`,
      subtitle: `${file.data.device ?? ''} · ${day(file.data.date)} · ${file.name}`,
      categories,
      series: variants.map((v) => ({ name: v, values: results.map((r) => r[key]?.[v]?.median ?? null) })),
      unit: '×',
      reference: 1,
    });
    figure(
      file,
      metric.toLowerCase(),
      svg,
      `Per-model paired ${metric}-time ratio, ${file.data.device}, ${day(file.data.date)}`,
    );
  }
}

function plannerSection(file) {
  const { results } = file.data;
  // 'tuned' (the planner deciding from on-device autotuning) in newer files.
  const tuned = results.some((r) => r.savings.tuned != null);
  const plans = tuned ? ['none', 'all', 'auto', 'tuned'] : ['none', 'all', 'auto'];
  md.push(`### Planner fidelity: \`${file.name}\``, '', source(file), '');
  md.push(
    'Measured saving per inference (ms) of each plan; regret = oracle − plan, relative to the stock GPU time. ' +
      (tuned
        ? "'tuned': the planner deciding from on-device autotuning (wall time of back-to-back runs)."
        : ''),
    '',
  );
  md.push(
    '| model | batch | stock GPU ms | all | auto (model) |' +
      (tuned ? ' tuned |' : '') +
      ' oracle (measured) | regret of auto |' +
      (tuned ? ' regret of tuned |' : '') +
      ' chosen fusions slower beyond noise |' +
      ` whole model GPU speedup ${plans.join(' / ')} |`,
  );
  md.push(`|${'---|'.repeat(tuned ? 11 : 9)}`);
  for (const r of results) {
    const whole = r.modelSpeedup
      ? plans.map((p) => `${r.modelSpeedup[p].median.toFixed(3)}×`).join(' / ')
      : '–';
    const losing = r.losingChosenFusions ? String(r.losingChosenFusions.length) : '–';
    const losingTuned = r.losingTunedFusions ? ` (tuned ${r.losingTunedFusions.length})` : '';
    md.push(
      `| ${r.model} | ${r.batch} | ${ms(r.stockGpuMs)} | ${ms(r.savings.all)} | ${ms(r.savings.auto)} | ` +
        (tuned ? `${ms(r.savings.tuned)} | ` : '') +
        `${ms(r.savings.oracle)} | ${(100 * r.regretOfAuto).toFixed(1)} % | ` +
        (tuned ? `${(100 * r.regretOfTuned).toFixed(1)} % | ` : '') +
        `${losing}${losingTuned} | ${whole} |`,
    );
  }
  md.push('');
  const svg = barChart({
    title: 'Planner: measured saving per inference of each plan (ms)',
    subtitle: `${file.data.device ?? ''} · ${day(file.data.date)} · ${file.name}`,
    categories: results.map((r) => `${r.model} b${r.batch}`),
    series: [...plans.slice(1), 'oracle'].map((p) => ({ name: p, values: results.map((r) => r.savings[p]) })),
    unit: ' ms',
  });
  figure(file, 'savings', svg, `Planner savings, ${file.data.device}, ${day(file.data.date)}`);
}

function dwPwSweepSection(file) {
  const { results } = file.data;
  md.push(`### DW→PW tile sweep: \`${file.name}\``, '', source(file), '');
  md.push(
    'Paired GPU ratio stock / fused of the default tile and of the best tile found (p25–p75 over ' +
      `${file.data.rounds} interleaved rounds), with every tile's output checked against stock.`,
    '',
  );
  md.push('| site | tiles timed | default tile | default | best tile | best [p25–p75] |');
  md.push('|---|---|---|---|---|---|');
  for (const r of results) {
    const d = r.paired[0];
    md.push(
      `| ${r.name} | ${r.tiles} | ${d.label.replace(/^default /, '')} | ${x(d.ratio)} | ${r.best.label} | ` +
        `${x(r.best.ratio)} [${r.best.p25.toFixed(2)}–${r.best.p75.toFixed(2)}] |`,
    );
  }
  md.push('');
}

function pointwiseSection(file) {
  const { results } = file.data;
  md.push(`### 1x1 convolutions: \`${file.name}\``, '', source(file), '');
  md.push(
    "Paired GPU ratio tfjs's matmul / `webgpu-fused` (through `tf.fused.conv2d`: its pointwise program where " +
      "its rules take the shape, else tfjs's kernel, ratio ≈ 1) and of the best swept tile (the default tile " +
      `when no sweep ran), median of ${file.data.rounds} interleaved rounds; back-to-back: un-profiled repeats.`,
    '',
  );
  md.push('| layer | batch | stock GPU ms | webgpu-fused | back-to-back | tile | best tile | best |');
  md.push('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const v = r.variants;
    const t = r.defaultTile;
    const tile = `${t.pixels}x${t.filters} r${t.threadPixels}x${t.threadFilters}${t.splits ? ` s${t.splits}` : ''}`;
    md.push(
      `| ${r.layer} | ${r.batch} | ${ms(v.stock.gpuMsMedian, 4)} | ${x(v.ours.pairedGpuRatio.median)} | ` +
        `${x(v.ours.backToBackRatio)} | ${tile} | ${r.bestTile.label} | ${x(v.best.pairedGpuRatio.median)} |`,
    );
  }
  md.push('');
}

function firstInferenceSection(file) {
  const { results } = file.data;
  const variants = ['stock', 'stock:parallel', 'fused', 'fused:parallel'];
  md.push(`### First inference: \`${file.name}\``, '', source(file), '');
  md.push(
    'Cold first inference (fresh device, clock from execute to outputs read back; ":parallel" = tfjs\'s ' +
      'parallel compilation, compile-only pass + `checkCompileCompletionAsync()` included), median ms.',
    '',
  );
  md.push(
    '| model | batch | plan | fused sites | ' + variants.join(' | ') + ' | second inference stock / fused |',
  );
  md.push('|---|---|---|---|' + variants.map(() => '---|').join('') + '---|');
  for (const r of results) {
    const cell = (v) => {
      const e = r.variants[v];
      if (e == null) return '–';
      return ms(e.firstMs.median, 1) + (e.compileMs != null ? ` (compile ${ms(e.compileMs.median, 1)})` : '');
    };
    md.push(
      `| ${r.model} | ${r.batch} | ${r.plan} | ${r.fusedSites} | ${variants.map(cell).join(' | ')} | ` +
        `${ms(r.variants.stock?.secondMs.median, 2)} / ${ms(r.variants.fused?.secondMs.median, 2)} |`,
    );
  }
  md.push('');
  const svg = barChart({
    title: 'Cold first inference (ms, median)',
    subtitle: `${file.data.device ?? ''} · ${day(file.data.date)} · ${file.name}`,
    categories: results.map((r) => `${r.model} b${r.batch}`),
    series: variants.map((v) => ({
      name: v,
      values: results.map((r) => r.variants[v]?.firstMs.median ?? null),
    })),
    unit: '',
  });
  figure(file, 'first', svg, `Cold first inference, ${file.data.device}, ${day(file.data.date)}`);
}

function rooflineSection(layers, profileFile) {
  const p = profileFile.data.profile;
  const bw = p.memoryBandwidthGBps; // GB/s = bytes/ns
  const peak = p.flopRateGflops;
  const points = (side) =>
    layers.data.results
      .map((r) => {
        const flops = siteFlops(r.site, r.batch);
        const bytes = r.bytes?.[side];
        const gpuMs = r[side]?.gpuMsMedian;
        if (flops == null || !bytes || !gpuMs) return undefined;
        return { x: flops / bytes, y: flops / (gpuMs * 1e6), label: `${r.site} b${r.batch} ${side}` };
      })
      .filter(Boolean);
  const stock = points('stock');
  const fused = points('fused');
  if (stock.length === 0) return false;
  const xs = [...stock, ...fused].map((q) => q.x);
  const [lo, hi] = [Math.min(...xs) / 2, Math.max(...xs) * 2];
  const ridge = peak / bw;
  const roof = [lo, Math.min(Math.max(ridge, lo), hi), hi].map((ai) => ({
    x: ai,
    y: Math.min(peak, bw * ai),
  }));
  md.push(`### Roofline: \`${layers.name}\` on \`${profileFile.name}\``, '');
  md.push(
    `Layers: ${source(layers)}.`,
    '',
    `Roof: ${source(profileFile)}: ${bw.toFixed(0)} GB/s streaming bandwidth, ${(peak / 1000).toFixed(1)} TFLOP/s ` +
      '(tfjs matmul) from `calibrate()`.',
    '',
    'Each point is one site shape at one batch: FLOPs of the DW+PW pair over the bytes each variant moves ' +
      '(x, FLOP/byte) and FLOPs over its median GPU time (y, GFLOP/s). Fusion moves a site right (fewer bytes ' +
      'for the same work); it pays off when the point also moves up.',
    '',
  );
  const svg = logLogChart({
    title: 'Roofline: depthwise/pointwise sites, stock vs fused',
    subtitle: `${layers.data.device ?? ''} · layers ${day(layers.data.date)} · profile ${day(profileFile.data.date)}`,
    xLabel: 'arithmetic intensity (FLOP/byte)',
    yLabel: 'achieved GFLOP/s',
    lines: [{ name: 'roof', points: roof }],
    series: [
      { name: 'stock', points: stock },
      { name: 'fused', points: fused },
    ],
  });
  figure(layers, 'roofline', svg, `Roofline, ${layers.data.device}, ${day(layers.data.date)}`);
  return true;
}

md.push(
  '# Benchmark report: stock tfjs-backend-webgpu vs webgpu-fused',
  '',
  'Generated by `npm run bench:report` (`scripts/bench-report.mjs`) from `bench/results/*.json`; do not edit by ' +
    'hand. Ratios are stock / fused (> 1 means fused is faster), paired in time (see `bench/README.md`). Every ' +
    'table and figure names the device and the date of the run it comes from.',
  '',
);

/** Inverted-residual blocks: paired GPU ratio of each way to run a block, and the winner. */
function blocksSection(file) {
  const { results } = file.data;
  md.push(`### Per block: \`${file.name}\``, '', source(file), '');
  md.push(
    '| block | batch | stock GPU ms | DW→PW FCM | PW→DW FCM | block kernel (tile) | block, default tile | winner |',
  );
  md.push('|---|---|---|---|---|---|---|---|');
  const ratio = (r, v) => x(r.variants[v]?.pairedGpuRatio?.median);
  for (const r of results) {
    md.push(
      `| ${r.block} | ${r.batch} | ${ms(r.variants.stock.gpuMsMedian)} | ${ratio(r, 'dwpw')} | ${ratio(r, 'pwdw')} | ` +
        `${ratio(r, 'block')} (${r.bestTile.label}) | ${ratio(r, 'blockDefault')} | ${r.winner} |`,
    );
  }
  md.push('');
  const svg = barChart({
    title: 'Per block, stock / variant paired GPU time (> 1: faster than stock)',
    subtitle: `${file.data.device ?? ''} · ${day(file.data.date)} · ${file.name}`,
    categories: results.map((r) => `${r.block} b${r.batch}`),
    series: ['dwpw', 'pwdw', 'block'].map((v) => ({
      name: v,
      values: results.map((r) => r.variants[v]?.pairedGpuRatio?.median ?? null),
    })),
    unit: '×',
    reference: 1,
  });
  figure(file, 'blocks', svg, `Per-block paired GPU-time ratio, ${file.data.device}, ${day(file.data.date)}`);
}

/** ONNX Runtime WebGPU next to stock tfjs and webgpu-fused. */
function peersSection(file) {
  const { results, cold } = file.data;
  md.push(`### Peers: \`${file.name}\``, '', source(file), '');
  md.push(
    '| model | batch | runtime | wall ms (input resident) | wall ms (with upload) | GPU ms | dispatches | max rel diff vs stock |',
  );
  md.push('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    for (const rt of ['ort', 'stock', 'fused']) {
      md.push(
        `| ${r.model} | ${r.batch} | ${rt} | ${ms(r.wallMs[`${rt} resident`]?.median)} | ` +
          `${ms(r.wallMs[`${rt} upload`]?.median)} | ${ms(r.gpuMs[rt]?.median)} | ${r.dispatches?.[rt] ?? '–'} | ` +
          `${rt === 'stock' ? '–' : (r.agreementVsStock[rt]?.rel ?? NaN).toExponential(1)} |`,
      );
    }
  }
  md.push('');
  if (cold != null) {
    md.push('Cold first inference (fresh process: load + first run, ms, median):', '');
    md.push('| model/batch | ort | stock | fused |', '|---|---|---|---|');
    for (const [key, byRuntime] of Object.entries(cold)) {
      const first = (rt) => {
        const m = byRuntime[rt]?.median;
        return m == null ? '–' : ms(m.loadMs + m.firstRunMs);
      };
      md.push(`| ${key} | ${first('ort')} | ${first('stock')} | ${first('fused')} |`);
    }
    md.push('');
  }
  const svg = barChart({
    title: 'Wall ms per inference, input resident (lower is better)',
    subtitle: `${file.data.device ?? ''} · ${day(file.data.date)} · ${file.name}`,
    categories: results.map((r) => `${r.model} b${r.batch}`),
    series: ['ort', 'stock', 'fused'].map((rt) => ({
      name: rt,
      values: results.map((r) => r.wallMs[`${rt} resident`]?.median ?? null),
    })),
    unit: ' ms',
  });
  figure(
    file,
    'peers',
    svg,
    `ONNX Runtime WebGPU vs tfjs, wall ms, ${file.data.device}, ${day(file.data.date)}`,
  );
}

const SECTIONS = [
  ['layers', 'Per-layer benchmarks', layersSection],
  ['models', 'Per-model benchmarks', modelsSection],
  ['blocks', 'Inverted-residual blocks', blocksSection],
  ['first-inference', 'First inference', firstInferenceSection],
  ['peers', 'Peer runtimes (ONNX Runtime WebGPU)', peersSection],
  ['planner', 'Planner fidelity', plannerSection],
  ['dwpw-sweep', 'DW→PW tile sweeps', dwPwSweepSection],
  ['pointwise', '1x1 convolutions (pointwise program vs tfjs matmul)', pointwiseSection],
];
const known = new Set([...SECTIONS.map(([k]) => k), 'profile']);
for (const [kind, title, section] of SECTIONS) {
  const of = files.filter((f) => f.kind === kind);
  if (of.length === 0) continue;
  md.push(`## ${title}`, '');
  for (const f of of) {
    try {
      section(f);
    } catch (e) {
      skipped.push(`\`${f.path}\`: kind '${kind}' but unexpected content (${e.message})`);
    }
  }
}

const profiles = files.filter((f) => f.kind === 'profile' && f.data.profile?.memoryBandwidthGBps > 0);
const rooflines = files
  .filter((f) => f.kind === 'layers')
  .map((layers) => [layers, profiles.find((p) => p.data.device === layers.data.device)])
  .filter(([, profile]) => profile != null);
if (rooflines.length > 0) {
  md.push('## Roofline', '');
  for (const [layers, profile] of rooflines) rooflineSection(layers, profile);
} else if (profiles.length > 0) {
  md.push('## Roofline', '', 'No layers result was measured on the device of a calibrated profile.', '');
}

for (const f of files) {
  if (f.kind === 'unreadable') skipped.push(`\`${f.path}\`: not readable JSON (${f.error})`);
  else if (!known.has(f.kind))
    skipped.push(`\`${f.path}\`: result kind '${f.kind}' is not known to this report yet`);
}
if (skipped.length > 0) md.push('## Skipped result files', '', ...skipped.map((s) => `- ${s}`), '');

writeFileSync(outFile, md.join('\n'));
console.log(`bench-report: ${outFile} and ${readdirSync(svgDir).length} charts in ${svgDir}`);
