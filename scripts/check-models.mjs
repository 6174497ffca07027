// `node scripts/check-models.mjs [name...]`: checks the vendored models in models/ on the tfjs `cpu` backend.
//
// For every model: the weight files hold exactly the bytes the weightsManifest implies; op (or layer) counts;
// the depthwise -> pointwise (DW->PW) fusion sites, with the shapes measured by running the model; then one
// inference on a deterministic smooth input, printing output shapes and values, failing on NaN/Inf.
//
// LayersModels (models/mobilenet_v2) need @tensorflow/tfjs-layers, which is not a dependency of this package.
// If it cannot be resolved, the LayersModel gets the static checks only. To run it anyway without touching
// package.json, point TFJS_LAYERS_FROM at a directory whose node_modules/@tensorflow holds tfjs-layers 4.22
// (and a link to this repo's tfjs-core, so both share one copy).
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel } from '@tensorflow/tfjs-converter';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = join(root, 'models');

const DTYPE_BYTES = { float32: 4, int32: 4, uint16: 2, float16: 2, uint8: 1, bool: 1 };
const DW_OPS = new Set(['DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative']);
const CONV_OPS = new Set(['Conv2D', '_FusedConv2D']);

let failures = 0;
const fail = (msg) => {
  failures++;
  console.log(`  FAIL: ${msg}`);
};

function readModel(name) {
  const dir = join(modelsDir, name);
  const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights);
  const buffers = modelJson.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p))));
  const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
  return { dir, modelJson, weightSpecs, weightData };
}

/** An IOHandler that serves model.json + its weight files from disk. */
function fileHandler({ modelJson, weightSpecs, weightData }) {
  return { load: () => tf.io.getModelArtifactsForJSON(modelJson, async () => [weightSpecs, weightData]) };
}

function checkManifestBytes({ dir, modelJson, weightSpecs }) {
  modelJson.weightsManifest.forEach((group, i) => {
    const implied = group.weights.reduce((sum, w) => {
      const dtype = w.quantization ? w.quantization.dtype : w.dtype;
      return sum + w.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    }, 0);
    const onDisk = group.paths.reduce((s, p) => s + statSync(join(dir, p)).size, 0);
    if (implied !== onDisk) fail(`weight group ${i}: ${onDisk} bytes on disk, manifest implies ${implied}`);
  });
  const stored = {};
  for (const w of weightSpecs) {
    const key = w.quantization ? `${w.quantization.dtype}->${w.dtype}` : w.dtype;
    stored[key] = (stored[key] ?? 0) + 1;
  }
  return stored;
}

const countBy = (items, key) => {
  const counts = {};
  for (const it of items) counts[key(it)] = (counts[key(it)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
};
const fmtCounts = (counts) =>
  Object.entries(counts)
    .map(([k, v]) => `${k} x${v}`)
    .join(', ');

// ---------------------------------------------------------------------------------------------------------
// GraphModel structure

const decodeS = (s) => Buffer.from(s, 'base64').toString('utf8');
const attrList = (node, name) => node.attr?.[name]?.list ?? {};
const ints = (node, name) => (attrList(node, name).i ?? []).map(Number);
const fusedOps = (node) => (attrList(node, 'fused_ops').s ?? []).map(decodeS);
const strAttr = (node, name) => (node.attr?.[name]?.s != null ? decodeS(node.attr[name].s) : undefined);
const producerOf = (input) => input.replace(/^\^/, '').replace(/:\d+$/, '');

/** Finds DW->PW sites: a (Fused)DepthwiseConv2dNative whose only consumer is a 1x1 (_Fused)Conv2D. */
function graphSites(modelJson) {
  const nodes = modelJson.modelTopology.node;
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const consumers = new Map(nodes.map((n) => [n.name, new Set()]));
  for (const n of nodes) for (const i of n.input ?? []) consumers.get(producerOf(i))?.add(n);
  const specShape = new Map(
    modelJson.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, w.shape]),
  );
  const constShape = (name) => {
    const n = byName.get(producerOf(name));
    if (n?.op !== 'Const') return undefined;
    return specShape.get(n.name) ?? n.attr?.value?.tensor?.tensorShape?.dim?.map((d) => Number(d.size));
  };
  const isPointwise = (n) => {
    const f = n && CONV_OPS.has(n.op) ? constShape(n.input[1]) : undefined;
    return f != null && f[0] === 1 && f[1] === 1;
  };
  const onlyConsumer = (n) => {
    const c = [...consumers.get(n.name)];
    return c.length === 1 ? c[0] : undefined;
  };
  const sites = [];
  const notSites = [];
  for (const dw of nodes.filter((n) => DW_OPS.has(n.op))) {
    const pw = onlyConsumer(dw);
    const f = constShape(dw.input[1]);
    const desc = {
      dw,
      kernel: f ? `${f[0]}x${f[1]}` : '?',
      multiplier: f?.[3],
      stride: ints(dw, 'strides')[1] ?? 1,
      dilation: ints(dw, 'dilations')[1] ?? 1,
      padding: strAttr(dw, 'padding'),
      format: strAttr(dw, 'data_format') ?? 'NHWC',
      dwFused: fusedOps(dw),
    };
    if (!isPointwise(pw) || producerOf(pw.input[0]) !== dw.name) {
      const c = [...consumers.get(dw.name)].map((n) => n.op);
      notSites.push({ ...desc, why: `consumers: ${c.join(', ') || 'none'}` });
      continue;
    }
    const expansion = byName.get(producerOf(dw.input[0]));
    const pwNext = onlyConsumer(pw);
    sites.push({
      ...desc,
      pw,
      pwFused: pw.op === 'Conv2D' ? [] : fusedOps(pw),
      pwStride: ints(pw, 'strides')[1] ?? 1,
      chain: isPointwise(expansion) && onlyConsumer(expansion) === dw,
      residual: pwNext != null && (pwNext.op === 'AddV2' || pwNext.op === 'Add'),
      pwNextOp: pwNext?.op ?? `${consumers.get(pw.name).size} consumers`,
    });
  }
  return { sites, notSites };
}

const siteForm = (s) =>
  `${s.dw.op}[${s.dwFused.join(',')}] -> ${s.pw.op}[${s.pwFused.join(',')}] -> ${s.pwNextOp}`;

function inputShapeOf(model) {
  return model.inputs[0].shape.map((d) => (d == null || d < 0 ? 1 : d));
}

/** Deterministic smooth input in [0, 1]. */
function smoothInput(shape) {
  const [n, h, w, c] = shape;
  const data = new Float32Array(n * h * w * c);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++)
          data[i++] = 0.5 + 0.25 * Math.sin((y / h) * 6.1 + k) + 0.2 * Math.cos((x / w) * 4.3 - 0.7 * k + b);
  return tf.tensor4d(data, shape);
}

async function report(outputs, names) {
  for (const [i, t] of outputs.entries()) {
    const v = await t.data();
    let bad = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const x of v) {
      if (!Number.isFinite(x)) bad++;
      else {
        min = Math.min(min, x);
        max = Math.max(max, x);
      }
    }
    const head = Array.from(v.slice(0, 5), (x) => x.toPrecision(5)).join(', ');
    console.log(
      `  output ${names[i]}: [${t.shape}] ${t.dtype} min ${min.toPrecision(4)} max ${max.toPrecision(4)} first [${head}]`,
    );
    if (bad) fail(`${names[i]} has ${bad} NaN/Inf values`);
  }
}

const sq = (t) => (t.shape[1] === t.shape[2] ? `${t.shape[1]}²` : `${t.shape[1]}x${t.shape[2]}`);

async function checkGraphModel(name) {
  const m = readModel(name);
  const stored = checkManifestBytes(m);
  const nodes = m.modelJson.modelTopology.node;
  const fnCount = m.modelJson.modelTopology.library?.function?.length ?? 0;
  console.log(
    `  ${m.modelJson.convertedBy ?? ''} generatedBy ${m.modelJson.generatedBy}; weights ${fmtCounts(stored)}`,
  );
  console.log(
    `  ${nodes.length} nodes${fnCount ? `, ${fnCount} library functions` : ''}: ${fmtCounts(countBy(nodes, (n) => n.op))}`,
  );
  const { sites, notSites } = graphSites(m.modelJson);

  const model = await loadGraphModel(fileHandler(m));
  const shape = inputShapeOf(model);
  console.log(
    `  inputs ${model.inputs.map((i) => `${i.name} [${i.shape}] ${i.dtype}`).join('; ')} -> running [${shape}]`,
  );
  const x = smoothInput(shape);
  const outNames = model.outputs.map((o) => o.name);
  const siteNodes = sites.flatMap((s) => [s.dw.input[0], s.dw.name, s.pw.name]);
  let all;
  try {
    all = model.execute(x, [...outNames, ...siteNodes]);
  } catch (e) {
    console.log(`  execute failed (${e.message.split('\n')[0]}); using executeAsync`);
    all = await model.executeAsync(x, [...outNames, ...siteNodes]);
  }
  all = Array.isArray(all) ? all : [all];
  await report(all.slice(0, outNames.length), outNames);

  console.log(`  DW->PW sites: ${sites.length} (DW nodes ${sites.length + notSites.length})`);
  console.log(`    forms: ${fmtCounts(countBy(sites, siteForm))}`);
  console.log(
    `    DW kernel ${fmtCounts(countBy(sites, (s) => s.kernel))}; stride ${fmtCounts(countBy(sites, (s) => s.stride))};` +
      ` padding ${fmtCounts(countBy(sites, (s) => s.padding))}; dilation ${fmtCounts(countBy(sites, (s) => s.dilation))};` +
      ` multiplier ${fmtCounts(countBy(sites, (s) => s.multiplier))}; ${fmtCounts(countBy(sites, (s) => s.format))};` +
      ` PW stride ${fmtCounts(countBy(sites, (s) => s.pwStride))}`,
  );
  console.log(
    `    PW->DW->PW chains ${sites.filter((s) => s.chain).length}, of which with residual add ` +
      `${sites.filter((s) => s.chain && s.residual).length}; sites followed by a residual add ${sites.filter((s) => s.residual).length}`,
  );
  let dwBytes = 0;
  const shapes = sites.map((s, i) => {
    const [dwIn, dwOut, pwOut] = all.slice(outNames.length + 3 * i, outNames.length + 3 * i + 3);
    dwBytes += dwOut.size * 4;
    const stride = s.stride === 1 ? '' : ` s${s.stride}`;
    const out = s.stride === 1 ? '' : `${sq(dwOut)}x`;
    return `${s.kernel}${stride} ${sq(dwIn)}x${dwIn.shape[3]}->${out}${pwOut.shape[3]}`;
  });
  console.log(`    site shapes (DW kernel, DW in HxWxC -> [PW out HxW x] PW out C): ${shapes.join('; ')}`);
  console.log(`    DW outputs per inference: ${(dwBytes / 2 ** 20).toFixed(2)} MiB (float32)`);
  for (const s of notSites) console.log(`    not a site: ${s.dw.name} (${s.dw.op}, ${s.why})`);
  tf.dispose([x, ...all]);
  model.dispose();
}

// ---------------------------------------------------------------------------------------------------------
// LayersModel structure

function layersSites(modelJson) {
  const layers = modelJson.modelTopology.model_config.config.layers;
  const consumers = new Map(layers.map((l) => [l.name, []]));
  for (const l of layers)
    for (const node of l.inbound_nodes) for (const [src] of node) consumers.get(src).push(l);
  const only = (l) => (consumers.get(l.name).length === 1 ? consumers.get(l.name)[0] : undefined);
  const PASS = new Set(['BatchNormalization', 'ReLU', 'Activation']);
  const isPw = (l) => l?.class_name === 'Conv2D' && l.config.kernel_size.every((k) => k === 1);
  const sites = [];
  for (const dw of layers.filter((l) => l.class_name === 'DepthwiseConv2D')) {
    const between = [];
    let next = only(dw);
    while (next && PASS.has(next.class_name)) {
      between.push(next.class_name === 'ReLU' ? `ReLU(${next.config.max_value})` : next.class_name);
      next = only(next);
    }
    if (!isPw(next)) continue;
    // Walk back from the DW through BN/ReLU/ZeroPadding2D to an expansion 1x1 conv.
    let prev = layers.find((l) => l.name === dw.inbound_nodes[0][0][0]);
    while (prev && (PASS.has(prev.class_name) || prev.class_name === 'ZeroPadding2D') && only(prev)) {
      prev = layers.find((l) => l.name === prev.inbound_nodes[0][0][0]);
    }
    let after = only(next);
    while (after && PASS.has(after.class_name)) after = only(after);
    sites.push({
      dw,
      pw: next,
      form: `DepthwiseConv2D -> ${between.join(' -> ')} -> Conv2D(1x1)`,
      kernel: dw.config.kernel_size.join('x'),
      stride: dw.config.strides[0],
      padding: dw.config.padding,
      chain: isPw(prev),
      residual: after?.class_name === 'Add',
    });
  }
  return { layers, sites };
}

async function loadTfjsLayers() {
  const from = process.env.TFJS_LAYERS_FROM;
  try {
    const req = createRequire(from ? join(resolve(from), 'noop.js') : import.meta.url);
    return req('@tensorflow/tfjs-layers');
  } catch {
    return undefined;
  }
}

async function checkLayersModel(name) {
  const m = readModel(name);
  const stored = checkManifestBytes(m);
  const topo = m.modelJson.modelTopology;
  console.log(`  Keras ${topo.keras_version} (${topo.backend}); weights ${fmtCounts(stored)}`);
  const { layers, sites } = layersSites(m.modelJson);
  console.log(`  ${layers.length} layers: ${fmtCounts(countBy(layers, (l) => l.class_name))}`);
  console.log(`  DW->PW sites (relaxed): ${sites.length}: ${fmtCounts(countBy(sites, (s) => s.form))}`);
  console.log(
    `    DW kernel ${fmtCounts(countBy(sites, (s) => s.kernel))}; stride ${fmtCounts(countBy(sites, (s) => s.stride))};` +
      ` padding ${fmtCounts(countBy(sites, (s) => s.padding))}; PW->DW->PW chains ${sites.filter((s) => s.chain).length},` +
      ` with residual add ${sites.filter((s) => s.chain && s.residual).length}`,
  );
  const tfl = await loadTfjsLayers();
  if (!tfl) {
    console.log(
      '  @tensorflow/tfjs-layers is not installed: LayersModel inference skipped (static checks only)',
    );
    return;
  }
  const model = await tfl.loadLayersModel(fileHandler(m));
  const shape = model.inputs[0].shape.map((d) => d ?? 1);
  console.log(`  tfjs-layers ${tfl.version_layers}: input [${model.inputs[0].shape}] -> running [${shape}]`);
  const x = smoothInput(shape);
  const y = model.predict(x);
  const ys = Array.isArray(y) ? y : [y];
  await report(
    ys,
    model.outputs.map((o) => o.name),
  );
  tf.dispose([x, ...ys]);
  model.dispose();
}

// ---------------------------------------------------------------------------------------------------------

await tf.setBackend('cpu');
const wanted = process.argv.slice(2);
const names = readdirSync(modelsDir)
  .filter((d) => existsSync(join(modelsDir, d, 'model.json')))
  .filter((d) => wanted.length === 0 || wanted.includes(d))
  .sort();
let total = 0;
for (const f of readdirSync(modelsDir, { recursive: true })) {
  const st = statSync(join(modelsDir, f));
  if (st.isFile()) total += st.size;
}
for (const name of names) {
  const modelJson = JSON.parse(readFileSync(join(modelsDir, name, 'model.json'), 'utf8'));
  const isGraph = modelJson.format === 'graph-model' || modelJson.modelTopology?.node != null;
  console.log(`models/${name}: ${isGraph ? 'GraphModel' : 'LayersModel'}`);
  try {
    await (isGraph ? checkGraphModel(name) : checkLayersModel(name));
  } catch (e) {
    fail(e.stack);
  }
}
console.log(
  `models/ total ${total} bytes (${(total / 2 ** 20).toFixed(2)} MiB); tensors alive ${tf.memory().numTensors}`,
);
console.log(failures ? `${failures} FAILED` : 'all checks passed');
process.exitCode = failures ? 1 : 0;
