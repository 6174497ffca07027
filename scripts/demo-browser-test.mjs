// Checks the browser demo page in real headless Chromium (WebGPU on
// SwiftShader without a GPU): the page loads, runs the smallest bundled model
// (blazeface) once on stock webgpu and on webgpu-fused, and shows the plan,
// agreeing outputs, the timings and the chart. The page posts its visible
// results to the server; the checks read those (no screenshots).
//   node scripts/demo-browser-test.mjs
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers';

import { bundlePage, startServer } from './demo-browser.mjs';

const TIMEOUT_MS = Number(process.env.DEMO_TEST_TIMEOUT_MS ?? 10 * 60 * 1000);
const chrome = [
  process.env.CHROME_BIN,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
].find((p) => p != null && existsSync(p));
if (chrome == null) {
  console.error('demo-browser: no Chromium found (set CHROME_BIN)');
  console.log('demo-browser: 0 passed, 1 failed, 0 skipped');
  process.exit(1);
}

await bundlePage();
let resolveReport;
const reported = new Promise((r) => (resolveReport = r));
const { server, port } = await startServer({ port: 0, onReport: (body) => resolveReport(body) });
const profile = mkdtempSync(join(tmpdir(), 'demo-browser-chromium-'));
const url = `http://127.0.0.1:${port}/?model=blazeface&plan=all&runs=1&autorun=1&report=1`;
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const browser = spawn(
  chrome,
  [
    '--headless',
    '--disable-gpu', // as karma's ChromeHeadless: WebGPU then runs on SwiftShader
    '--enable-unsafe-webgpu',
    '--enable-dawn-features=allow_unsafe_apis',
    // Not karma's 9222: both may run at once.
    `--remote-debugging-port=${process.env.DEMO_DEBUG_PORT ?? 9333}`,
    `--user-data-dir=${profile}`,
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    ...(asRoot ? ['--no-sandbox'] : []),
    url,
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
let browserLog = '';
browser.stderr.on('data', (d) => (browserLog = (browserLog + d).slice(-4000)));

const started = Date.now();
const timeout = new Promise((r) => setTimeout(() => r(null), TIMEOUT_MS).unref());
const body = await Promise.race([reported, timeout]);
// Wait for Chromium to exit: it writes its profile until then.
const exited = browser.exitCode != null ? Promise.resolve() : new Promise((r) => browser.once('exit', r));
browser.kill('SIGTERM');
await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
server.close();

const results = { passed: 0, failed: 0 };
function check(name, ok, detail = '') {
  results[ok ? 'passed' : 'failed']++;
  console.log(`demo-browser: ${ok ? 'ok  ' : 'FAIL'} ${name}${ok || !detail ? '' : `\n      ${detail}`}`);
}

const page = body == null ? null : JSON.parse(body);
check(
  `the page loads and reports its results (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  page != null,
  `no report within ${TIMEOUT_MS / 1000} s; Chromium's last output:\n${browserLog}`,
);
if (page != null) {
  check('the run finished without an error', page.state === 'done', page.status);
  check(
    'the plan is shown: 32 DW->PW sites found and fused',
    /DW->PW: 32 found, 32 legal, 32 fused/.test(page.plan ?? ''),
    (page.plan ?? '').slice(0, 300),
  );
  check('the plan lists the planner table', /unfused ms\s+fused ms/.test(page.plan ?? ''), '');
  check(
    'stock and fused outputs agree',
    /outputs agree/.test(page.agreement ?? '') && page.agreement.includes('all finite'),
    page.agreement,
  );
  check(
    'the timings table and chart show stock and fused',
    ['load', 'first inference', 'load + first inference', 'median of'].every((row) =>
      (page.timings ?? '').includes(row),
    ) && ['stock', 'fused'].every((v) => page.chartBars?.filter((b) => b === v).length === 4),
    `${page.timings} / bars ${JSON.stringify(page.chartBars)}`,
  );
}
try {
  rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
} catch (e) {
  console.warn(`demo-browser: could not remove ${profile}: ${e.message}`);
}
console.log(`demo-browser: ${results.passed} passed, ${results.failed} failed, 0 skipped`);
process.exit(results.failed > 0 ? 1 : 0);
