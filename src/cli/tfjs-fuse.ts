/**
 * `tfjs-fuse`: rewrites a converted TensorFlow.js GraphModel offline so its
 * depthwise/pointwise sites run as fused ops, and writes the result as an
 * ordinary model directory (model.json + weight shards).
 *
 *   tfjs-fuse path/to/model.json --out dir [--plan auto|all|none|plan.json] [--blocks auto|all|none]
 *             [--input-shape 1,224,224,3] [--profile conservative|h100-like|profile.json]
 *             [--explain] [--report report.json] [--autotune [--cache file.json]]
 *
 * The library is imported lazily (built as `./index.mjs` next to this file):
 * with --autotune, WebGPU (Dawn, npm `webgpu`) must exist before
 * tfjs-backend-webgpu is evaluated, or its backend never registers.
 */

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import type { io } from '@tensorflow/tfjs-core';
import type { DeviceProfile, FusionPlan, FusionReport, MeasuredSite } from '../index';

type Library = typeof import('../index');

/** A tfjs converter's default shard size. */
const SHARD_BYTES = 4 * 1024 * 1024;

const USAGE = `Usage: tfjs-fuse MODEL.json --out DIR [options]

Rewrites a TensorFlow.js graph model so that its depthwise -> pointwise and
pointwise -> depthwise convolution pairs run as single fused WebGPU kernels
(backend 'webgpu-fused'), and writes the rewritten model.json and weight shards
to DIR. Load the result with the package's loadGraphModel(url, {plan: 'none'}),
or call registerFusedOps() before tf.loadGraphModel.

Options:
  --out DIR             where to write model.json and the weight shards (required)
  --plan P              auto (default: fuse where the cost model predicts a saving),
                        all (every legal site), none, or a saved plan (.json: a
                        report's "plan" or a whole --report file)
  --blocks B            whole inverted-residual blocks (1x1 -> depthwise -> 1x1,
                        + residual Add) as one kernel: auto (default: the planner
                        chooses between block, pairs and stock), all, none
  --input-shape S       input size to plan for, e.g. 1,224,224,3 (needed when the
                        model's height/width are dynamic); NAME=1,224,224,3 for one
                        input of a multi-input model (repeatable)
  --profile P           device profile to plan for: conservative (default),
                        h100-like, or a .json profile (e.g. from calibrate())
  --explain             print every site's decision and the planner's table
  --report FILE         also write the fusion report (JSON) to FILE
  --autotune            time every site stock vs fused on this machine's GPU
                        (Node + Dawn: needs the 'webgpu' npm package and an adapter)
                        and decide from the measurements
  --cache FILE          with --autotune: reuse/save timings in FILE
  -h, --help            this text`;

/** An error for the user: printed without a stack, exit status 1 (2 for usage). */
class CliError extends Error {
  constructor(
    message: string,
    readonly status = 1,
  ) {
    super(message);
  }
}

interface Args {
  model: string;
  out: string;
  plan: string;
  blocks: 'auto' | 'all' | 'none';
  inputShapes: Array<{ name?: string; shape: number[] }>;
  profile: string;
  explain: boolean;
  report?: string;
  autotune: boolean;
  cache?: string;
}

function parseShape(text: string): { name?: string; shape: number[] } {
  const at = text.lastIndexOf('=');
  const name = at > 0 ? text.slice(0, at) : undefined;
  const dims = text.slice(at + 1).split(',');
  const shape = dims.map((d) => Number(d.trim()));
  if (dims.length === 0 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new CliError(`tfjs-fuse: --input-shape '${text}' must be positive integers like 1,224,224,3`, 2);
  }
  return { name, shape };
}

function parseArgs(argv: string[]): Args | 'help' {
  const args: Partial<Args> & { inputShapes: Args['inputShapes'] } = {
    plan: 'auto',
    blocks: 'auto',
    profile: 'conservative',
    explain: false,
    autotune: false,
    inputShapes: [],
  };
  const value = (i: number, flag: string) => {
    const v = argv[i + 1];
    if (v == null || (v.startsWith('--') && v.length > 2)) {
      throw new CliError(`tfjs-fuse: ${flag} needs a value (see --help)`, 2);
    }
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '-h':
      case '--help':
        return 'help';
      case '--out':
        args.out = value(i++, a);
        break;
      case '--plan':
        args.plan = value(i++, a);
        break;
      case '--blocks': {
        const blocks = value(i++, a);
        if (blocks !== 'auto' && blocks !== 'all' && blocks !== 'none') {
          throw new CliError(`tfjs-fuse: --blocks must be auto, all or none (got '${blocks}')`, 2);
        }
        args.blocks = blocks;
        break;
      }
      case '--input-shape':
        args.inputShapes.push(parseShape(value(i++, a)));
        break;
      case '--profile':
        args.profile = value(i++, a);
        break;
      case '--report':
        args.report = value(i++, a);
        break;
      case '--cache':
        args.cache = value(i++, a);
        break;
      case '--explain':
        args.explain = true;
        break;
      case '--autotune':
        args.autotune = true;
        break;
      default:
        if (a.startsWith('-')) throw new CliError(`tfjs-fuse: unknown option '${a}' (see --help)`, 2);
        if (args.model != null) throw new CliError(`tfjs-fuse: more than one model given ('${a}')`, 2);
        args.model = a;
    }
  }
  if (args.model == null) throw new CliError('tfjs-fuse: no model.json given (see --help)', 2);
  if (args.out == null) throw new CliError('tfjs-fuse: --out DIR is required (see --help)', 2);
  if (args.cache != null && !args.autotune) throw new CliError('tfjs-fuse: --cache needs --autotune', 2);
  return args as Args;
}

function readJson(path: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`tfjs-fuse: cannot read ${what} '${path}': ${(e as Error).message}`);
  }
  try {
    const json = JSON.parse(text);
    if (json == null || typeof json !== 'object' || Array.isArray(json)) throw new Error('not a JSON object');
    return json;
  } catch (e) {
    throw new CliError(`tfjs-fuse: ${what} '${path}' is not valid JSON: ${(e as Error).message}`);
  }
}

interface ModelFile {
  json: Record<string, unknown>;
  artifacts: io.ModelArtifacts;
}

/** Reads model.json and its weight files into artifacts, checking what the rewrite relies on. */
function readModel(path: string): ModelFile {
  if (existsSync(path) && statSync(path).isDirectory()) path = join(path, 'model.json');
  const json = readJson(path, 'model file');
  const topology = json.modelTopology as { node?: unknown } | undefined;
  if (json.format === 'layers-model' || (topology != null && 'model_config' in topology)) {
    throw new CliError(
      `tfjs-fuse: '${path}' is a LayersModel; only graph models (tfjs-converter 'graph-model' output) are rewritten`,
    );
  }
  if (topology == null || typeof topology !== 'object' || !Array.isArray(topology.node)) {
    throw new CliError(`tfjs-fuse: '${path}' is not a graph model (no modelTopology.node list)`);
  }
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) throw new CliError(`tfjs-fuse: '${path}' has no weightsManifest list`);
  const dir = dirname(path);
  const buffers: Uint8Array[] = [];
  const weightSpecs: io.WeightsManifestEntry[] = [];
  for (const group of manifest as io.WeightsManifestConfig) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) {
      throw new CliError(`tfjs-fuse: '${path}': every weightsManifest group needs 'paths' and 'weights'`);
    }
    weightSpecs.push(...group.weights);
    for (const p of group.paths) {
      const file = join(dir, p);
      if (!existsSync(file)) {
        throw new CliError(`tfjs-fuse: weight file '${file}' listed in '${path}' is missing`);
      }
      buffers.push(readFileSync(file));
    }
  }
  const data = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const b of buffers) {
    data.set(b, offset);
    offset += b.byteLength;
  }
  const artifacts: io.ModelArtifacts = {
    modelTopology: topology as io.ModelArtifacts['modelTopology'],
    weightSpecs,
    weightData: data.buffer,
    format: json.format as string | undefined,
    generatedBy: json.generatedBy as string | undefined,
    convertedBy: json.convertedBy as string | null | undefined,
    signature: json.signature as object | undefined,
    userDefinedMetadata: json.userDefinedMetadata as io.ModelArtifacts['userDefinedMetadata'],
    modelInitializer: json.modelInitializer as object | undefined,
  };
  return { json, artifacts };
}

/** Writes the artifacts as model.json + `group1-shardNofM.bin` files of at most SHARD_BYTES. */
function writeModel(dir: string, original: Record<string, unknown>, artifacts: io.ModelArtifacts): string[] {
  mkdirSync(dir, { recursive: true });
  const data = artifacts.weightData;
  const bytes = new Uint8Array(
    data == null
      ? new ArrayBuffer(0)
      : Array.isArray(data)
        ? data.reduce((all, b) => {
            const out = new Uint8Array(all.byteLength + b.byteLength);
            out.set(new Uint8Array(all));
            out.set(new Uint8Array(b), all.byteLength);
            return out.buffer;
          }, new ArrayBuffer(0))
        : data,
  );
  const count = Math.max(1, Math.ceil(bytes.byteLength / SHARD_BYTES));
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `group1-shard${i + 1}of${count}.bin`;
    writeFileSync(join(dir, name), bytes.subarray(i * SHARD_BYTES, (i + 1) * SHARD_BYTES));
    paths.push(name);
  }
  // Unknown top-level keys of the original travel unchanged.
  const json: Record<string, unknown> = {
    ...original,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths, weights: artifacts.weightSpecs ?? [] }],
  };
  const file = join(dir, 'model.json');
  writeFileSync(file, JSON.stringify(json));
  return [file, ...paths.map((p) => join(dir, p))];
}

function planChoice(plan: string): 'auto' | 'all' | 'none' | FusionPlan {
  if (plan === 'auto' || plan === 'all' || plan === 'none') return plan;
  if (!plan.endsWith('.json')) {
    throw new CliError(`tfjs-fuse: --plan must be auto, all, none or a saved plan .json (got '${plan}')`, 2);
  }
  const json = readJson(plan, 'saved plan');
  // A whole --report file carries the plan under "plan".
  const saved = (Array.isArray(json.sites) && 'profile' in json && !('counts' in json) ? json : json.plan) as
    | FusionPlan
    | undefined;
  if (saved == null || !Array.isArray(saved.sites)) {
    throw new CliError(
      `tfjs-fuse: '${plan}' holds no fusion plan (a report's "plan": {profile, sites, ...})`,
    );
  }
  return saved;
}

function profileChoice(lib: Library, profile: string): DeviceProfile {
  if (profile === 'conservative') return lib.CONSERVATIVE_PROFILE;
  if (profile === 'h100-like') return lib.H100_LIKE_PROFILE;
  if (!profile.endsWith('.json')) {
    throw new CliError(
      `tfjs-fuse: --profile must be conservative, h100-like or a profile .json (got '${profile}')`,
      2,
    );
  }
  const json = readJson(profile, 'profile');
  // Benchmark files store it under "profile" next to date and device.
  return (json.profile ?? json) as DeviceProfile;
}

function inputShapeOption(shapes: Args['inputShapes']): number[] | Record<string, number[]> | undefined {
  if (shapes.length === 0) return undefined;
  if (shapes.length === 1 && shapes[0].name == null) return shapes[0].shape;
  if (shapes.some((s) => s.name == null)) {
    throw new CliError(
      'tfjs-fuse: with several --input-shape options, name each input (NAME=1,224,224,3)',
      2,
    );
  }
  return Object.fromEntries(shapes.map((s) => [s.name!, s.shape]));
}

/** Installs Dawn's navigator.gpu; must run before the library (and tfjs-backend-webgpu) loads. */
async function installDawn(): Promise<void> {
  let webgpu: { create(flags: string[]): GPU; globals: Record<string, unknown> };
  try {
    const name = 'webgpu'; // a computed specifier: optional, resolved at run time only
    webgpu = await import(/* @vite-ignore */ name);
  } catch {
    throw new CliError(
      "tfjs-fuse: --autotune needs WebGPU; in Node that is Dawn from the 'webgpu' npm package " +
        '(npm install webgpu), which could not be loaded',
    );
  }
  Object.assign(globalThis, webgpu.globals);
  Object.defineProperty(globalThis, 'navigator', {
    value: { gpu: webgpu.create(['disable-dawn-features=timestamp_quantization']) },
    configurable: true,
    writable: true,
  });
}

async function autotuneSites(
  lib: Library,
  artifacts: io.ModelArtifacts,
  inputShape: ReturnType<typeof inputShapeOption>,
  cachePath: string | undefined,
): Promise<{ profile: DeviceProfile; measured: Record<string, MeasuredSite> }> {
  const tf = await import('@tensorflow/tfjs-core');
  const adapter = await navigator.gpu.requestAdapter();
  if (adapter == null || !(await tf.setBackend(lib.BACKEND_NAME))) {
    throw new CliError(
      'tfjs-fuse: --autotune found no WebGPU adapter (Dawn sees no GPU; set VK_ICD_FILENAMES ' +
        'to a Vulkan driver, e.g. SwiftShader, to tune on the CPU)',
    );
  }
  const backend = tf.backend() as InstanceType<Library['WebGPUFusedBackend']>;
  const info = backend.adapterDescription;
  const deviceKey = `${info.vendor}/${info.architecture}/${info.device}/${info.description}`;
  console.log(`tfjs-fuse: autotuning on ${deviceKey.replace(/\/+$/, '')}`);
  const profile = lib.deviceProfileFromLimits(backend.limits, {}, lib.H100_LIKE_PROFILE);
  const probe = lib.fuseGraphModelArtifacts(artifacts, { plan: 'auto', profile, inputShape }).report;
  if (probe.plan == null) return { profile, measured: {} };
  const cache = cachePath != null ? await lib.fileCache(cachePath) : undefined;
  const measured = await lib.autotune(probe.plan, lib.makeSiteTimer(), {
    deviceKey,
    cache,
    onProgress: (done, total) => process.stdout.write(`\rtfjs-fuse: autotune ${done}/${total} sites`),
  });
  process.stdout.write('\n');
  await cache?.save();
  return { profile, measured };
}

function summary(report: FusionReport): string {
  const c = report.counts;
  return (
    `DW->PW ${c.dwpw.fused}/${c.dwpw.found} fused, PW->DW ${c.pwdw.fused}/${c.pwdw.found} fused ` +
    `(policy '${report.policy}', profile '${report.profile}')`
  );
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args === 'help') {
    console.log(USAGE);
    return 0;
  }
  const modelPath = resolve(args.model);
  const outDir = resolve(args.out);
  const { json, artifacts } = readModel(modelPath);
  const inDir = existsSync(modelPath) && statSync(modelPath).isDirectory() ? modelPath : dirname(modelPath);
  if (resolve(inDir) === outDir) {
    throw new CliError(`tfjs-fuse: --out '${args.out}' is the model's own directory; choose another`);
  }
  const plan = planChoice(args.plan);
  const inputShape = inputShapeOption(args.inputShapes);
  if (args.autotune) await installDawn();
  // Relative to the built file: dist/cli.mjs imports dist/index.mjs.
  const lib: Library = await import('../index');
  let profile = profileChoice(lib, args.profile);
  let measured: Record<string, MeasuredSite> | undefined;
  if (args.autotune) {
    if (plan === 'none') throw new CliError('tfjs-fuse: --autotune with --plan none has nothing to tune', 2);
    ({ profile, measured } = await autotuneSites(lib, artifacts, inputShape, args.cache));
  }
  let result;
  try {
    result = lib.fuseGraphModelArtifacts(artifacts, {
      plan,
      profile,
      inputShape,
      measured,
      blocks: args.blocks,
    });
  } catch (e) {
    throw new CliError(`tfjs-fuse: ${basename(modelPath)}: ${(e as Error).message}`);
  }
  const { report } = result;
  if (args.explain) console.log(lib.explainFusion(report));
  const written = writeModel(outDir, json, result.artifacts);
  if (args.report != null) {
    writeFileSync(args.report, JSON.stringify(report, null, 1));
    written.push(resolve(args.report));
  }
  console.log(`tfjs-fuse: ${summary(report)}`);
  console.log(`tfjs-fuse: wrote ${written.join(', ')}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (e) => {
    if (e instanceof CliError) {
      console.error(e.message);
      process.exit(e.status);
    }
    console.error(e);
    process.exit(1);
  },
);
