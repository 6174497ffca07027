// Checks each way users load the built package (run after `npm run build`):
// plain Node ESM import, Node CommonJS require, an application bundled by
// esbuild, and in Chromium the <script>-tag and ES-module builds.
//   node scripts/packaging-test.mjs [--swiftshader]
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

import { dawnEnv } from './dawn-env.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const env = dawnEnv({ swiftshader: process.argv.includes('--swiftshader') });
const outDir = join(root, '.karma-tmp', 'packaging');
mkdirSync(outDir, { recursive: true });

function run(label, command, args) {
  const result = spawnSync(command, args, { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`packaging: ${label} FAILED`);
    process.exit(1);
  }
}

run('node ESM', process.execPath, ['test/packaging/node-esm.mjs']);
run('node CJS', process.execPath, ['test/packaging/node-cjs.cjs']);

const bundled = join(outDir, 'bundler-app.mjs');
const { metafile } = await esbuild.build({
  absWorkingDir: root,
  entryPoints: ['test/packaging/bundler-prelude.mjs', 'test/packaging/bundler-app.mjs'].map((p) =>
    join(root, p),
  ),
  outdir: outDir,
  entryNames: '[name]',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  mainFields: ['module', 'main'],
  external: ['webgpu'],
  metafile: true,
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});
const coreCopies = Object.keys(metafile.inputs).filter((p) =>
  /tfjs-core\/dist\/(index\.js|tf-core\.node\.js)$/.test(p),
);
if (coreCopies.length !== 1) {
  console.error(`packaging: bundle holds ${coreCopies.length} copies of tfjs-core: ${coreCopies.join(', ')}`);
  process.exit(1);
}
// The prelude installs Dawn's navigator.gpu before the app (and tfjs) loads.
run('bundled app', process.execPath, [
  '--input-type=module',
  '-e',
  `await import(${JSON.stringify(join(outDir, 'bundler-prelude.mjs'))}); await import(${JSON.stringify(bundled)});`,
]);

run('browser builds', process.execPath, [
  join(root, 'node_modules/karma/bin/karma'),
  'start',
  'karma.packaging.conf.js',
]);
console.log('packaging (node consumers): 3 passed, 0 failed, 0 skipped');
