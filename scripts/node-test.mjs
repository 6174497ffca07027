// Runs the spec files of test/ under Node with Dawn (npm `webgpu`) instead of
// a browser. On a machine without a GPU pass --swiftshader: Dawn then uses
// the SwiftShader Vulkan driver that ships with Debian's chromium package.
//
//   node scripts/node-test.mjs [--swiftshader] [--grep TEXT] [--bundle-only]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

import { dawnEnv } from './dawn-env.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, '.karma-tmp', 'node');
const args = process.argv.slice(2);
const grepAt = args.indexOf('--grep');
const grep = grepAt >= 0 ? args[grepAt + 1] : process.env.KARMA_GREP;

function specFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return specFiles(path);
    return name.endsWith('.spec.ts') ? [path] : [];
  });
}

mkdirSync(outDir, { recursive: true });
const entry = join(outDir, 'entry.ts');
const imports = [
  join(root, 'test/node/prelude.ts'),
  join(root, 'test/setup.ts'),
  ...specFiles(join(root, 'test')).sort(),
];
writeFileSync(
  entry,
  imports.map((p) => `import '${relative(outDir, p).replace(/\\/g, '/')}';`).join('\n') + '\n',
);

const bundle = join(outDir, 'specs.mjs');
await esbuild.build({
  entryPoints: [entry],
  outfile: bundle,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node18',
  mainFields: ['module', 'main'], // one copy of each tfjs package
  external: ['webgpu', 'jasmine', 'jasmine-core'],
  ignoreAnnotations: true, // keep tfjs-core's *_test.js (see karma.conf.js)
  keepNames: true,
  sourcemap: 'inline',
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});
if (args.includes('--bundle-only')) process.exit(0);

const env = dawnEnv({ swiftshader: args.includes('--swiftshader') });
const runner = join(root, 'scripts', 'node-test-runner.mjs');
const result = spawnSync(process.execPath, [runner, bundle, grep ?? ''], {
  env,
  stdio: 'inherit',
  cwd: root,
});
process.exit(result.status ?? 1);
