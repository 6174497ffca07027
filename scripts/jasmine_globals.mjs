// First module of the Node spec bundle: creates the jasmine runner (which
// installs describe/it/expect as globals before any spec module evaluates),
// and runs the registered specs once every module has loaded.
import Jasmine from 'jasmine';
import jasmineRequire from 'jasmine-core/lib/jasmine-core/jasmine.js';

// jasmine-core's package entry lists its files with fs at load time, which a
// bundle cannot; boot the core from its single-file build instead.
const jasmineCore = {
  boot() {
    const jasmine = jasmineRequire.core(jasmineRequire);
    const env = jasmine.getEnv({ suppressLoadErrors: true });
    Object.assign(globalThis, jasmineRequire.interface(jasmine, env));
    return jasmine;
  },
  version: () => jasmineRequire.version(),
};
const runner = new Jasmine({ globals: true, jasmineCore });
runner.exitOnCompletion = false;
runner.loadConfig({ random: false, spec_files: [] });
globalThis.jasmine.DEFAULT_TIMEOUT_INTERVAL = 120000;

/** Runs the specs; prints `node: N passed, N failed, N skipped`; returns the exit code. */
export async function runRegisteredSpecs(grep) {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  runner.addReporter({
    specDone(result) {
      if (result.status === 'passed') counts.passed++;
      else if (result.status === 'failed') counts.failed++;
      else counts.skipped++;
    },
  });
  if (grep) {
    // Narrow the suite's own filter (test/setup.ts) instead of replacing it.
    const suiteFilter = runner.env.configuration().specFilter;
    runner.env.configure({ specFilter: (spec) => suiteFilter(spec) && spec.getFullName().includes(grep) });
  }
  const started = Date.now();
  const outcome = await runner.execute();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `node: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (${seconds} s)`,
  );
  const ok =
    counts.failed === 0 && (outcome.overallStatus === 'passed' || outcome.overallStatus === 'incomplete');
  return ok ? 0 : 1;
}
