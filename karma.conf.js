// Karma runs the jasmine specs in test/ inside Chromium with WebGPU.
//
//   npm run test:karma            headless Chromium, WebGPU on the CPU (SwiftShader)
//   npm run test:gpu              Chrome/Chromium on the machine's real GPU
//
// Environment:
//   CHROME_BIN     browser binary (default /usr/bin/chromium when present)
//   KARMA_BROWSER  'cpu' (default) or 'gpu'
//   KARMA_HEADLESS '0' shows the browser window for the gpu launcher
//   KARMA_GREP     only run specs whose full name contains this text
const fs = require('fs');
const path = require('path');

// karma-esbuild writes its bundle entry into os.tmpdir() and imports specs by
// a relative path, which breaks when the checkout itself lives under /tmp.
// Keep its temp files inside the checkout instead, wherever that is.
const tmpDir = path.join(__dirname, '.karma-tmp');
fs.mkdirSync(tmpDir, { recursive: true });
process.env.TMPDIR = tmpDir;

if (!process.env.CHROME_BIN) {
  for (const candidate of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) {
    if (fs.existsSync(candidate)) {
      process.env.CHROME_BIN = candidate;
      break;
    }
  }
}

const WEBGPU_FLAGS = [
  // ChromeHeadless pins port 9222; a later flag wins, so parallel runs can differ.
  `--remote-debugging-port=${process.env.KARMA_DEBUG_PORT || 9222}`,
  '--enable-unsafe-webgpu',
  // Unquantized timestamp queries for the profiling helpers.
  '--enable-dawn-features=allow_unsafe_apis',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const sandboxFlags = asRoot ? ['--no-sandbox'] : [];

const headless = process.env.KARMA_HEADLESS !== '0';
const customLaunchers = {
  // CI: no GPU; Chromium's SwiftShader gives a WebGPU adapter on the CPU.
  ChromeHeadlessWebGPUCpu: {
    base: 'ChromeHeadless',
    flags: [...sandboxFlags, ...WEBGPU_FLAGS],
  },
  // A real GPU: plain Chrome base (ChromeHeadless adds --disable-gpu).
  ChromeWebGPUGpu: {
    base: 'Chrome',
    flags: [
      ...sandboxFlags,
      ...WEBGPU_FLAGS,
      ...(headless ? ['--headless=new'] : []),
      '--enable-features=Vulkan',
      '--ignore-gpu-blocklist',
    ],
  },
};
const browser = process.env.KARMA_BROWSER === 'gpu' ? 'ChromeWebGPUGpu' : 'ChromeHeadlessWebGPUCpu';

/** Prints one closing line `karma: N passed, N failed, N skipped`. */
function SummaryReporter(baseReporterDecorator) {
  baseReporterDecorator(this);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  this.onSpecComplete = (browserInfo, result) => {
    if (result.skipped || result.pending) counts.skipped++;
    else if (result.success) counts.passed++;
    else counts.failed++;
  };
  this.onRunComplete = () => {
    this.write(`karma: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  };
  // The progress/dots reporter prints the details; this one only the summary.
  this.onBrowserLog = () => {};
  this.specSuccess = this.specFailure = this.specSkipped = () => {};
}
SummaryReporter.$inject = ['baseReporterDecorator'];

/** Settings shared by every karma configuration of this package. */
function baseConfig() {
  return {
    basePath: __dirname,
    frameworks: ['jasmine'],
    plugins: [
      'karma-jasmine',
      'karma-chrome-launcher',
      'karma-esbuild',
      { 'reporter:summary': ['type', SummaryReporter] },
    ],
    reporters: ['dots', 'summary'],
    browsers: [browser],
    customLaunchers,
    client: {
      jasmine: { random: false, timeoutInterval: 120000 },
      args: process.env.KARMA_GREP ? ['--grep', process.env.KARMA_GREP] : [],
      captureConsole: true,
    },
    browserConsoleLogOptions: { level: 'warn', terminal: true },
    captureTimeout: 120000,
    browserNoActivityTimeout: 600000,
    browserDisconnectTimeout: 60000,
    browserDisconnectTolerance: 0,
    failOnEmptyTestSuite: true,
    singleRun: true,
    concurrency: 1,
  };
}

module.exports = (config) => {
  config.set({
    ...baseConfig(),
    // Each spec imports test/setup.ts itself: karma-esbuild does not keep file order.
    files: ['test/**/*.spec.ts'],
    preprocessors: {
      'test/**/*.ts': ['esbuild'],
    },
    esbuild: {
      target: 'es2020',
      define: { global: 'globalThis' },
      // tfjs-core's package.json `sideEffects` omits its *_test.js files;
      // without this the peer suite's specs are tree-shaken away.
      ignoreAnnotations: true,
      keepNames: true,
      mainFields: ['module', 'browser', 'main'],
      singleBundle: true,
      external: ['node:*'], // the Node-only autotune file cache, imported lazily
    },
  });
};
module.exports.baseConfig = baseConfig;
