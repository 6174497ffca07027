// Runs the spec files of test/ under Node with Dawn (npm `webgpu`) instead of
// a browser. On a machine without a GPU pass --swiftshader: Dawn then uses
// the SwiftShader Vulkan driver that ships with Debian's chromium package.
//
//   node scripts/node-test.mjs [--swiftshader] [--grep TEXT] [--bundle-only [OUT.mjs]]
//
// The bundle is self-contained but for `webgpu`, so `--bundle-only` output can
// run on a GPU machine without node_modules (see bench/README.md).
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
const bundleOnlyAt = args.indexOf('--bundle-only');

function specFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return specFiles(path);
    return name.endsWith('.spec.ts') ? [path] : [];
  });
}

mkdirSync(outDir, { recursive: true });
const entry = join(outDir, 'entry.ts');
const importPath = (p) => relative(outDir, p).replace(/\\/g, '/');
const modules = [
  join(root, 'scripts/jasmine_globals.mjs'),
  join(root, 'scripts/dawn_prelude.ts'),
  join(root, 'test/setup.ts'),
  ...specFiles(join(root, 'test')).sort(),
];
writeFileSync(
  entry,
  modules.map((p) => `import '${importPath(p)}';`).join('\n') +
    `\nimport { runRegisteredSpecs } from '${importPath(modules[0])}';\n` +
    'process.exit(await runRegisteredSpecs(process.argv[2] || process.env.KARMA_GREP));\n',
);

const bundle =
  bundleOnlyAt >= 0 && args[bundleOnlyAt + 1] && !args[bundleOnlyAt + 1].startsWith('--')
    ? resolve(args[bundleOnlyAt + 1])
    : join(outDir, 'specs.mjs');
await esbuild.build({
  entryPoints: [entry],
  outfile: bundle,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node18',
  mainFields: ['module', 'main'], // one copy of each tfjs package
  external: ['webgpu'],
  ignoreAnnotations: true, // keep tfjs-core's *_test.js (see karma.conf.js)
  keepNames: true,
  logLevel: 'error',
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});
if (bundleOnlyAt >= 0) {
  console.log(`node-test: wrote ${relative(root, bundle)}`);
  process.exit(0);
}

const env = dawnEnv({ swiftshader: args.includes('--swiftshader') });
const result = spawnSync(process.execPath, [bundle, grep ?? ''], { env, stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
