// Builds dist/: type declarations (tsc) and four JavaScript builds (esbuild).
//   index.mjs / index.cjs   tfjs packages stay external (Node ESM, CJS, bundlers)
//   tfjs-backend-webgpu-fused.min.js   IIFE for <script> pages; uses global `tf`
//   tfjs-backend-webgpu-fused.esm.js   self-contained ES module (tfjs included)
//   cli.mjs   the `tfjs-fuse` command (Node); loads ./index.mjs at run time
// tfjs-backend-webgpu has no `exports` map and is not `"type": "module"`, so
// the few internal modules we reuse (WGSL snippet helpers) are bundled in;
// only the packages' roots are imported at run time.
import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TFJS_ROOTS = /^@tensorflow\/tfjs-(core|converter|backend-webgpu|layers)$/;

/** Keeps only the tfjs package roots external; deep imports get bundled. */
const externalTfjsRoots = {
  name: 'external-tfjs-roots',
  setup(build) {
    build.onResolve({ filter: TFJS_ROOTS }, (args) => ({ path: args.path, external: true }));
  },
};

/** Maps the tfjs package roots to the `tf` global of the script-tag builds. */
const tfjsFromGlobal = {
  name: 'tfjs-from-global',
  setup(build) {
    build.onResolve({ filter: TFJS_ROOTS }, (args) => ({ path: args.path, namespace: 'tf-global' }));
    build.onLoad({ filter: /.*/, namespace: 'tf-global' }, () => ({
      contents:
        'if (typeof globalThis.tf === "undefined") { throw new Error(' +
        '"tfjs-backend-webgpu-fused: load @tensorflow/tfjs-core, tfjs-converter, tfjs-layers and ' +
        'tfjs-backend-webgpu <script> bundles first"); }\nmodule.exports = globalThis.tf;',
      loader: 'js',
    }));
  },
};

/** The CLI imports the library lazily, as the built ./index.mjs next to it. */
const libraryFromIndex = {
  name: 'library-from-index',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/index$/ }, () => ({ path: './index.mjs', external: true }));
  },
};

const common = {
  absWorkingDir: root,
  bundle: true,
  target: 'es2020',
  keepNames: true, // tfjs names GPU programs after their class in profiles
  sourcemap: true,
  logLevel: 'warning',
  external: ['node:*'], // only the Node-only autotune file cache imports these, lazily
};

export async function build() {
  rmSync(resolve(root, 'dist'), { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: ['src/index.ts'],
      outfile: 'dist/index.mjs',
      format: 'esm',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      plugins: [externalTfjsRoots],
    }),
    esbuild.build({
      ...common,
      entryPoints: ['src/index.ts'],
      outfile: 'dist/index.cjs',
      format: 'cjs',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      plugins: [externalTfjsRoots],
    }),
    esbuild.build({
      ...common,
      entryPoints: ['src/index.ts'],
      outfile: 'dist/tfjs-backend-webgpu-fused.min.js',
      format: 'iife',
      globalName: 'tfWebGPUFused',
      platform: 'browser',
      minify: true,
      plugins: [tfjsFromGlobal],
    }),
    esbuild.build({
      ...common,
      entryPoints: ['src/bundle.ts'],
      outfile: 'dist/tfjs-backend-webgpu-fused.esm.js',
      format: 'esm',
      platform: 'browser',
      mainFields: ['module', 'main'],
      define: { global: 'globalThis' },
    }),
    esbuild.build({
      ...common,
      entryPoints: ['src/cli/tfjs-fuse.ts'],
      outfile: 'dist/cli.mjs',
      format: 'esm',
      platform: 'node',
      target: 'node18',
      banner: { js: '#!/usr/bin/env node' },
      plugins: [externalTfjsRoots, libraryFromIndex],
    }),
  ]);
  chmodSync(resolve(root, 'dist/cli.mjs'), 0o755);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await build();
  console.log('build: dist/ written');
}
