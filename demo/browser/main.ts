/**
 * The browser demo page (`npm run demo:browser`): loads a bundled model on
 * stock `webgpu` and, rewritten, on `webgpu-fused`, compares their outputs,
 * shows the fusion plan and charts the timings. Query parameters:
 * `model`, `plan`, `runs`, `autorun=1` (start at once) and `report=1` (post
 * the page's results to the server when done, for the headless test).
 */

import { converter, explainFusion, loadGraphModel, tf } from '../../src/bundle';
import { smoothImage } from '../../scripts/smooth_image';

/** The bundled graph models (models/README.md) and their input sizes. */
const MODELS: Record<string, number[]> = {
  blazeface: [1, 256, 256, 3],
  mobilenet_v2_mid: [1, 224, 224, 3],
  handskeleton: [1, 256, 256, 3],
  posenet: [1, 385, 385, 3],
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

function setStatus(state: 'idle' | 'running' | 'done' | 'error', message: string): void {
  const status = $('status');
  status.dataset.state = state;
  status.textContent = message;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Wall time of one inference with every output read back. */
async function timed(run: () => tf.Tensor[]): Promise<{ ms: number; values: Float32Array[] }> {
  const start = performance.now();
  const ys = run();
  const values = (await Promise.all(ys.map((y) => y.data()))) as Float32Array[];
  const ms = performance.now() - start;
  tf.dispose(ys);
  return { ms, values };
}

interface Agreement {
  maxAbs: number;
  maxRel: number;
  finite: boolean;
}

function agreement(fused: Float32Array[], stock: Float32Array[]): Agreement {
  let maxAbs = 0;
  let maxRel = 0;
  let finite = true;
  fused.forEach((values, i) => {
    let diff = 0;
    let scale = 1e-6;
    for (let k = 0; k < values.length; k++) {
      finite &&= Number.isFinite(values[k]) && Number.isFinite(stock[i][k]);
      diff = Math.max(diff, Math.abs(values[k] - stock[i][k]));
      scale = Math.max(scale, Math.abs(stock[i][k]));
    }
    maxAbs = Math.max(maxAbs, diff);
    maxRel = Math.max(maxRel, diff / scale);
  });
  return { maxAbs, maxRel, finite };
}

/** Horizontal bars, stock vs fused, for each measure (ms). */
function timingChart(rows: Array<{ label: string; stock: number; fused: number }>): string {
  const width = 640;
  const left = 190;
  const barH = 14;
  const groupH = 2 * barH + 12;
  const height = 30 + rows.length * groupH;
  const hi = Math.max(...rows.flatMap((r) => [r.stock, r.fused])) * 1.15 || 1;
  const w = (v: number) => ((width - left - 60) * v) / hi;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="timings">`,
    `<rect x="${left}" y="4" width="10" height="10" fill="#4e79a7"/><text x="${left + 14}" y="13" font-size="11">stock webgpu</text>`,
    `<rect x="${left + 110}" y="4" width="10" height="10" fill="#f28e2b"/><text x="${left + 124}" y="13" font-size="11">webgpu-fused</text>`,
  ];
  rows.forEach((r, i) => {
    const y = 24 + i * groupH;
    parts.push(
      `<text x="${left - 8}" y="${y + barH + 4}" font-size="12" text-anchor="end">${r.label}</text>`,
    );
    for (const [j, [name, v, color]] of (
      [
        ['stock', r.stock, '#4e79a7'],
        ['fused', r.fused, '#f28e2b'],
      ] as const
    ).entries()) {
      const by = y + j * barH;
      parts.push(
        `<rect class="bar" data-variant="${name}" x="${left}" y="${by}" width="${Math.max(1, w(v)).toFixed(1)}" height="${barH - 2}" fill="${color}"/>`,
        `<text x="${(left + w(v) + 4).toFixed(1)}" y="${by + barH - 3}" font-size="11">${v.toFixed(1)} ms</text>`,
      );
    }
  });
  parts.push('</svg>');
  return parts.join('');
}

async function run(): Promise<Record<string, unknown>> {
  const modelName = ($('model') as HTMLSelectElement).value;
  const plan = ($('plan') as HTMLSelectElement).value as 'auto' | 'all' | 'none';
  const runs = Math.max(1, Number(($('runs') as HTMLInputElement).value) || 1);
  const shape = MODELS[modelName];
  const url = new URL(`models/${modelName}/model.json`, location.href).href;
  const data = smoothImage(shape);
  $('agreement').textContent = '–';
  $('timings').textContent = '–';
  $('chart').innerHTML = '';
  $('plan-table').textContent = '–';

  setStatus('running', `Loading ${modelName} on stock webgpu...`);
  if (!(await tf.setBackend('webgpu'))) throw new Error('WebGPU is not available in this browser');
  let loadStart = performance.now();
  const stock = await converter.loadGraphModel(url);
  const stockLoad = performance.now() - loadStart;
  const stockX = tf.tensor(data, shape);
  setStatus('running', `Loading ${modelName} rewritten with plan '${plan}' on webgpu-fused...`);
  if (!(await tf.setBackend('webgpu-fused')))
    throw new Error('the webgpu-fused backend failed to initialize');
  loadStart = performance.now();
  const fused = await loadGraphModel(url, { plan, inputShape: shape }); // compiles its shaders in parallel
  const fusedLoad = performance.now() - loadStart;
  const fusedX = tf.tensor(data, shape);
  $('plan-table').textContent = explainFusion(fused.fusion);

  const onStock = async () => {
    await tf.setBackend('webgpu');
    return timed(() => [stock.execute(stockX)].flat());
  };
  const onFused = async () => {
    await tf.setBackend('webgpu-fused');
    return timed(() => [fused.execute(fusedX)].flat());
  };
  try {
    setStatus('running', 'First inference on each (stock compiles its shaders now)...');
    const stockFirst = await onStock();
    const fusedFirst = await onFused();
    const agree = agreement(fusedFirst.values, stockFirst.values);
    $('agreement').textContent =
      `${stockFirst.values.length} outputs, ${stockFirst.values.reduce((n, v) => n + v.length, 0)} values: ` +
      `max |fused − stock| ${agree.maxAbs.toExponential(2)}, relative ${agree.maxRel.toExponential(2)}, ` +
      (agree.finite ? 'all finite' : 'NOT all finite') +
      (agree.finite && agree.maxRel < 1e-3 ? ' — outputs agree' : ' — outputs DIFFER');

    const times = { stock: [] as number[], fused: [] as number[] };
    for (let i = 0; i < runs; i++) {
      setStatus('running', `Timing: run ${i + 1} of ${runs}, stock and fused alternating...`);
      times.stock.push((await onStock()).ms);
      times.fused.push((await onFused()).ms);
    }
    const rows = [
      { label: 'load', stock: stockLoad, fused: fusedLoad },
      { label: 'first inference', stock: stockFirst.ms, fused: fusedFirst.ms },
      { label: 'load + first inference', stock: stockLoad + stockFirst.ms, fused: fusedLoad + fusedFirst.ms },
      {
        label: `median of ${runs} run${runs > 1 ? 's' : ''}`,
        stock: median(times.stock),
        fused: median(times.fused),
      },
    ];
    const c = fused.fusion.counts;
    $('timings').innerHTML =
      `<table id="timing-table"><tr><th></th><th>stock webgpu</th><th>webgpu-fused</th><th>stock / fused</th></tr>` +
      rows
        .map(
          (r) =>
            `<tr><td>${r.label}</td><td>${r.stock.toFixed(2)} ms</td><td>${r.fused.toFixed(2)} ms</td>` +
            `<td>${(r.stock / r.fused).toFixed(2)}×</td></tr>`,
        )
        .join('') +
      `</table><p>${c.dwpw.fused + c.pwdw.fused + c.pwdwpw.fused} fused sites (DW→PW ${c.dwpw.fused}/${c.dwpw.found}, ` +
      `PW→DW ${c.pwdw.fused}/${c.pwdw.found}, whole blocks ${c.pwdwpw.fused}/${c.pwdwpw.found}); ` +
      `the fused load includes compiling its shaders in parallel; adapter: ${adapterName()}.</p>`;
    $('chart').innerHTML = timingChart(rows);
    setStatus('done', `Done: ${modelName}, plan '${plan}', ${runs} timed run${runs > 1 ? 's' : ''}.`);
    return { measured: { agreement: agree, rows, counts: c } };
  } finally {
    tf.dispose([stockX, fusedX]);
    stock.dispose();
    fused.dispose();
  }
}

function adapterName(): string {
  const backend = tf.findBackend('webgpu-fused') as
    | { adapterDescription?: Record<string, string> }
    | undefined;
  const info = backend?.adapterDescription ?? {};
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown';
}

/** What the headless test checks: the page's visible results. */
function pageContents(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    state: $('status').dataset.state,
    status: $('status').textContent,
    agreement: $('agreement').textContent,
    timings: $('timings').textContent,
    chartBars: Array.from($('chart').querySelectorAll('rect.bar')).map((r) => r.getAttribute('data-variant')),
    plan: $('plan-table').textContent,
    ...extra,
  };
}

async function onRun(): Promise<void> {
  const button = $('run') as HTMLButtonElement;
  button.disabled = true;
  let extra: Record<string, unknown> = {};
  try {
    extra = await run();
  } catch (e) {
    setStatus('error', `Error: ${(e as Error).message}`);
    console.error(e);
  } finally {
    button.disabled = false;
  }
  if (params.get('report') === '1') {
    await fetch('report', { method: 'POST', body: JSON.stringify(pageContents(extra)) });
  }
}

const select = $('model') as HTMLSelectElement;
for (const name of Object.keys(MODELS)) select.add(new Option(name, name));
select.value = params.get('model') ?? 'blazeface';
($('plan') as HTMLSelectElement).value = params.get('plan') ?? 'auto';
($('runs') as HTMLInputElement).value = params.get('runs') ?? '20';
$('run').addEventListener('click', () => void onRun());
if (params.get('autorun') === '1') void onRun();
