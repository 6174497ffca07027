// `npm start`: bundles the demo for Node+Dawn and runs it on the machine's GPU,
// or on SwiftShader (WebGPU on the CPU) when no GPU adapter is found.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

import { dawnEnv } from './dawn-env.mjs';

const NO_ADAPTER_EXIT = 3;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, '.karma-tmp', 'demo');
mkdirSync(outDir, { recursive: true });
const bundle = join(outDir, 'demo.mjs');
console.log('demo: bundling...');
await esbuild.build({
  absWorkingDir: root,
  entryPoints: ['demo/node-main.ts'],
  outfile: bundle,
  bundle: true,
  format: 'esm',
  platform: 'node',
  mainFields: ['module', 'main'],
  external: ['webgpu'],
  keepNames: true,
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});

const run = (swiftshader) =>
  spawnSync(process.execPath, [bundle, ...process.argv.slice(2)], {
    cwd: root,
    env: dawnEnv({ swiftshader }),
    stdio: 'inherit',
  }).status;

let status = process.env.FUSED_DEMO_CPU === '1' ? NO_ADAPTER_EXIT : run(false);
if (status === NO_ADAPTER_EXIT) {
  console.log('demo: no GPU adapter found; using SwiftShader (WebGPU on the CPU, slow)');
  status = run(true);
}
process.exit(status ?? 1);
