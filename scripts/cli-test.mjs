// Checks the built `tfjs-fuse` command (dist/cli.mjs, run `npm run build` first):
// real models rewritten on disk load with tf.loadGraphModel + the package's
// fused ops and equal the originals on tfjs's cpu backend; bad input exits
// non-zero with a message. No GPU needed.
//   node scripts/cli-test.mjs
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/cli.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'tfjs-fuse-test-'));
const results = { passed: 0, failed: 0 };

const runCli = (...args) => spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8' });

async function check(name, fn) {
  try {
    await fn();
    results.passed++;
    console.log(`cli: ok   ${name}`);
  } catch (e) {
    results.failed++;
    console.log(`cli: FAIL ${name}\n      ${e.message.split('\n').join('\n      ')}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// tfjs-core through the package's own Node build, so both share one tfjs.
const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-cpu');
const { loadGraphModel } = await import('@tensorflow/tfjs-converter');
const { registerFusedOps } = await import(join(root, 'dist/index.mjs'));
await tf.setBackend('cpu');
registerFusedOps();

function fileHandler(dir) {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const bytes = Buffer.concat(
    json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))),
  );
  const weightData = new Uint8Array(bytes).buffer;
  return {
    load: () =>
      tf.io.getModelArtifactsForJSON(json, async () => [
        json.weightsManifest.flatMap((g) => g.weights),
        weightData,
      ]),
  };
}

/** A smooth image in [0, 1] (what image models see), deterministic. */
function smoothImage([n, h, w, c]) {
  const data = new Float32Array(n * h * w * c);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++)
          data[i++] = 0.5 + 0.45 * Math.sin((x + 5 * b) / 11 + ch) * Math.cos((y - 3 * ch) / 17);
  return data;
}

async function outputs(dir, shape, names) {
  const model = await loadGraphModel(fileHandler(dir));
  const x = tf.tensor(smoothImage(shape), shape);
  const ys = [model.execute(x, names)].flat();
  const values = await Promise.all(ys.map((y) => y.data()));
  tf.dispose([x, ...ys]);
  model.dispose();
  return values;
}

async function roundTrip(model, shape, names, args, expectFused) {
  const out = join(tmp, model);
  const r = runCli(`models/${model}/model.json`, '--out', out, ...args);
  assert(r.status === 0, `exit ${r.status}: ${r.stderr}`);
  const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
  const fusedNodes = json.modelTopology.node.filter((n) =>
    /^(Fused(DwPw|PwDw)Conv2D|FusedInvertedResidualBlock)$/.test(n.op),
  ).length;
  assert(
    fusedNodes === expectFused,
    `${fusedNodes} fused nodes in the written model, expected ${expectFused}`,
  );
  assert(r.stdout.includes(`${expectFused} fused`) || r.stdout.includes('fused'), `no summary: ${r.stdout}`);
  const before = tf.memory().numTensors;
  const original = await outputs(`models/${model}`, shape, names);
  const fused = await outputs(out, shape, names);
  assert(tf.memory().numTensors === before, 'tensors leaked');
  for (const [i, name] of names.entries()) {
    const [a, b] = [fused[i], original[i]];
    assert(a.length === b.length && a.length > 0, `${name}: ${a.length} values vs ${b.length}`);
    for (let k = 0; k < a.length; k++) {
      const ok = Number.isFinite(a[k]) && Math.abs(a[k] - b[k]) <= 1e-4 + 1e-4 * Math.abs(b[k]);
      assert(ok, `${name}[${k}]: rewritten ${a[k]} vs original ${b[k]}`);
    }
  }
  return { r, json, out };
}

await check('blazeface --plan all: every DW->PW site fused, outputs equal the original on cpu', async () => {
  await roundTrip(
    'blazeface',
    [1, 256, 256, 3],
    ['Identity', 'Identity_1', 'Identity_2', 'Identity_3'],
    ['--plan', 'all'],
    32,
  );
});

await check(
  'mobilenet_v2_mid --plan all --input-shape --explain --report: 4 MiB shards, table, report, equal on cpu',
  async () => {
    const report = join(tmp, 'report.json');
    const { r, json, out } = await roundTrip(
      'mobilenet_v2_mid',
      [1, 224, 224, 3],
      ['StatefulPartitionedCall/sequential/dense/BiasAdd', 'Identity'],
      ['--plan', 'all', '--input-shape', '1,224,224,3', '--explain', '--report', report],
      17,
    );
    assert(
      r.stdout.includes('DW->PW: 17 found, 17 legal'),
      `no explain counts in: ${r.stdout.slice(0, 400)}`,
    );
    assert(/unfused ms\s+fused ms/.test(r.stdout), 'no planner table in --explain output');
    // 4 MiB shards; folded weights are float32, so the fused model is larger than the quantized original.
    const shards = json.weightsManifest[0].paths.map((p) => statSync(join(out, p)).size);
    assert(
      shards.length >= 2 && shards.slice(0, -1).every((size) => size === 4 * 1024 * 1024),
      `shards: ${json.weightsManifest[0].paths} (${shards})`,
    );
    assert(json.userDefinedMetadata?.signature != null, 'signature metadata lost');
    const saved = JSON.parse(readFileSync(report, 'utf8'));
    assert(saved.counts.dwpw.found === 17 && saved.plan != null, 'report.json without counts/plan');
    // The saved report replays as a plan: same decisions.
    const again = runCli(
      'models/mobilenet_v2_mid/model.json',
      '--out',
      join(tmp, 'replay'),
      '--plan',
      report,
    );
    assert(again.status === 0, `replay exit ${again.status}: ${again.stderr}`);
    const replayed = JSON.parse(readFileSync(join(tmp, 'replay/model.json'), 'utf8'));
    assert(
      JSON.stringify(replayed.modelTopology) === JSON.stringify(json.modelTopology),
      'replayed plan differs',
    );
    assert(out !== join(tmp, 'replay'), 'distinct dirs');
    // --blocks none: pairs only.
    const pairs = runCli(
      'models/mobilenet_v2_mid/model.json',
      '--out',
      join(tmp, 'pairs'),
      '--blocks',
      'none',
    );
    assert(pairs.status === 0, `--blocks none exit ${pairs.status}: ${pairs.stderr}`);
    const pairNodes = JSON.parse(readFileSync(join(tmp, 'pairs/model.json'), 'utf8')).modelTopology.node;
    assert(
      !pairNodes.some((n) => n.op === 'FusedInvertedResidualBlock') &&
        json.modelTopology.node.some((n) => n.op === 'FusedInvertedResidualBlock'),
      'blocks fused by default and not with --blocks none',
    );
  },
);

const bad = [
  [
    'a model path that does not exist',
    ['missing/model.json', '--out', join(tmp, 'x')],
    /cannot read model file/,
  ],
  ['no --out', ['models/blazeface/model.json'], /--out DIR is required/],
  [
    'a bad --blocks',
    ['models/blazeface/model.json', '--out', join(tmp, 'x'), '--blocks', 'some'],
    /--blocks must be auto, all or none/,
  ],
  [
    'an unknown option',
    ['models/blazeface/model.json', '--out', join(tmp, 'x'), '--fast'],
    /unknown option '--fast'/,
  ],
  [
    'a bad --plan',
    ['models/blazeface/model.json', '--out', join(tmp, 'x'), '--plan', 'most'],
    /--plan must be/,
  ],
  [
    'a bad --input-shape',
    ['models/blazeface/model.json', '--out', join(tmp, 'x'), '--input-shape', '1,a'],
    /--input-shape/,
  ],
  [
    'an --input-shape contradicting the model',
    ['models/blazeface/model.json', '--out', join(tmp, 'x'), '--input-shape', '1,300,300,3'],
    /does not match input/,
  ],
  ['a LayersModel', ['models/mobilenet_v2/model.json', '--out', join(tmp, 'x')], /is a LayersModel/],
  [
    '--out the model directory itself',
    ['models/blazeface/model.json', '--out', 'models/blazeface'],
    /own directory/,
  ],
];
writeFileSync(join(tmp, 'malformed.json'), '{"modelTopology": {"node": [');
bad.push(['malformed JSON', [join(tmp, 'malformed.json'), '--out', join(tmp, 'x')], /is not valid JSON/]);
writeFileSync(
  join(tmp, 'notgraph.json'),
  JSON.stringify({ modelTopology: { versions: {} }, weightsManifest: [] }),
);
bad.push([
  'a JSON file that is no graph model',
  [join(tmp, 'notgraph.json'), '--out', join(tmp, 'x')],
  /not a graph model/,
]);
const noWeights = mkdtempSync(join(tmp, 'noweights-'));
copyFileSync('models/blazeface/model.json', join(noWeights, 'model.json'));
bad.push([
  'a missing weight file',
  [join(noWeights, 'model.json'), '--out', join(tmp, 'x')],
  /blazeface\.bin' listed in .* is missing/,
]);
const shortWeights = mkdtempSync(join(tmp, 'shortweights-'));
copyFileSync('models/blazeface/model.json', join(shortWeights, 'model.json'));
writeFileSync(
  join(shortWeights, 'blazeface.bin'),
  readFileSync('models/blazeface/blazeface.bin').subarray(0, 1000),
);
bad.push([
  'a truncated weight file',
  [join(shortWeights, 'model.json'), '--out', join(tmp, 'x')],
  /weight|bytes|shorter/i,
]);

for (const [name, args, message] of bad) {
  await check(`exits non-zero with a message on ${name}`, async () => {
    const r = runCli(...args);
    assert(r.status !== 0 && r.status != null, `exit status ${r.status}`);
    assert(message.test(r.stderr), `stderr does not match ${message}: ${r.stderr.trim()}`);
    assert(!/^\s+at /m.test(r.stderr), `stack trace printed: ${r.stderr.trim()}`);
  });
}

await check('--help prints the usage and exits 0', async () => {
  const r = runCli('--help');
  assert(r.status === 0 && r.stdout.includes('Usage: tfjs-fuse'), `exit ${r.status}: ${r.stdout}`);
});

rmSync(tmp, { recursive: true, force: true });
console.log(`cli: ${results.passed} passed, ${results.failed} failed, 0 skipped`);
process.exit(results.failed > 0 ? 1 : 0);
