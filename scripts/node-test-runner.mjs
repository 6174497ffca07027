// Child process of node-test.mjs: loads the spec bundle into jasmine and runs
// it, ending with one line `node: N passed, N failed, N skipped`.
import Jasmine from 'jasmine';

const [bundle, grep] = process.argv.slice(2);
const runner = new Jasmine({ globals: true });
runner.exitOnCompletion = false;
runner.loadConfig({ random: false, spec_files: [] });
globalThis.jasmine.DEFAULT_TIMEOUT_INTERVAL = 120000;

const counts = { passed: 0, failed: 0, skipped: 0 };
runner.addReporter({
  specDone(result) {
    if (result.status === 'passed') counts.passed++;
    else if (result.status === 'failed') counts.failed++;
    else counts.skipped++;
  },
});

await import(bundle);
if (grep) {
  // Narrow the suite's own filter (test/setup.ts) instead of replacing it.
  const suiteFilter = runner.env.configuration().specFilter;
  runner.env.configure({ specFilter: (spec) => suiteFilter(spec) && spec.getFullName().includes(grep) });
}
const started = Date.now();
const outcome = await runner.execute();
console.log(
  `node: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped` +
    ` (${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
process.exit(
  outcome.overallStatus === 'passed' || (outcome.overallStatus === 'incomplete' && counts.failed === 0)
    ? 0
    : 1,
);
