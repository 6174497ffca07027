// `npm test`: lint, type-check, build, the tfjs-fuse CLI checks, then the
// specs in Chromium (karma) and under Node+Dawn, the packaging checks and the
// browser demo page in headless Chromium. Without a GPU (CI) WebGPU runs
// on SwiftShader in both; set FUSED_NODE_GPU=1 to run the Node specs on the
// machine's real GPU instead.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => resolve(root, 'node_modules', '.bin', name);
const onCpu = process.env.FUSED_NODE_GPU !== '1';
const steps = [
  ['lint', bin('eslint'), ['.']],
  [
    'format',
    bin('prettier'),
    [
      '--check',
      '--no-error-on-unmatched-pattern',
      'src/**/*.ts',
      'test/**/*.ts',
      'bench/**/*.ts',
      'scripts/**/*.mjs',
      '*.js',
    ],
  ],
  ['typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']],
  ['build', process.execPath, ['scripts/build.mjs']],
  ['cli (tfjs-fuse)', process.execPath, ['scripts/cli-test.mjs']],
  ['karma (Chromium WebGPU)', bin('karma'), ['start', 'karma.conf.js']],
  ['node (Dawn WebGPU)', process.execPath, ['scripts/node-test.mjs', ...(onCpu ? ['--swiftshader'] : [])]],
  ['packaging', process.execPath, ['scripts/packaging-test.mjs', ...(onCpu ? ['--swiftshader'] : [])]],
  ['browser demo page (Chromium)', process.execPath, ['scripts/demo-browser-test.mjs']],
];

const SUMMARY = /(\d+) passed, (\d+) failed, (\d+) skipped/;
const total = { passed: 0, failed: 0, skipped: 0 };
const timings = [];
for (const [label, command, args] of steps) {
  const started = Date.now();
  console.log(`\n== ${label}`);
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: ['inherit', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  process.stdout.write(result.stdout ?? '');
  for (const line of (result.stdout ?? '').split('\n')) {
    const counts = SUMMARY.exec(line);
    if (counts) {
      total.passed += Number(counts[1]);
      total.failed += Number(counts[2]);
      total.skipped += Number(counts[3]);
    }
  }
  timings.push(`${label} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (result.status !== 0) {
    console.error(`\nnpm test: step '${label}' failed (exit ${result.status})`);
    console.log(`${total.passed} passed, ${Math.max(total.failed, 1)} failed, ${total.skipped} skipped`);
    process.exit(1);
  }
}
console.log(`\nnpm test: all steps passed (${timings.join(', ')})`);
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
