import '../setup';

import {
  autotune,
  fileCache,
  H100_LIKE_PROFILE,
  memoryCache,
  planFusions,
  SiteProblem,
  SiteVariant,
  TimeSite,
} from '../../src/planner/index';
import { describePure } from '../helpers/describe';
import { mobileNetV2Graph } from './mobilenet_v2_fixture';

/** A fake device: fused DW→PW and whole blocks are slow, fused PW→DW fast, one tile fastest of all. */
function fakeDevice(): { time: TimeSite; calls: string[] } {
  const calls: string[] = [];
  const time: TimeSite = async (kind, problem: SiteProblem, variant: SiteVariant) => {
    calls.push(`${kind} ${JSON.stringify(problem)} ${JSON.stringify(variant)}`);
    if (variant.kind === 'unfused') return 0.05;
    if (kind === 'dwpw') return 0.08;
    if (kind === 'pwdwpw') return 0.09;
    const tile = variant.tile as { workgroupSize: number };
    return 0.04 - tile.workgroupSize * 1e-6;
  };
  return { time, calls };
}

describePure('planner autotune', () => {
  const graph = mobileNetV2Graph(1);
  const plan = planFusions(graph, H100_LIKE_PROFILE, { policy: 'auto' });

  it('times "don\'t fuse" and at least three tiles per site, and keeps the fastest', async () => {
    const device = fakeDevice();
    const measured = await autotune(plan, device.time, { deviceKey: 'fake', candidates: 3 });
    const tunable = plan.sites.filter((s) => s.legal && s.fused != null);
    expect(Object.keys(measured).sort()).toEqual(tunable.map((s) => s.id).sort());
    for (const site of tunable) {
      const m = measured[site.id];
      expect(m.unfusedMs).toBe(0.05);
      expect(m.fusedMs).toBe(
        site.kind === 'dwpw'
          ? 0.08
          : site.kind === 'pwdwpw'
            ? 0.09
            : Math.min(
                ...device.calls
                  .filter((c) => c.startsWith(`pwdw ${JSON.stringify(site.problem)} {"kind":"fused"`))
                  .map(
                    (c) => 0.04 - JSON.parse(c.slice(c.indexOf(' {"kind"') + 1)).tile.workgroupSize * 1e-6,
                  ),
              ),
      );
      const timedTiles = device.calls.filter((c) =>
        c.startsWith(`${site.kind} ${JSON.stringify(site.problem)} {"kind":"fused"`),
      );
      expect(timedTiles.length).toBeGreaterThanOrEqual(3);
    }
    const tuned = planFusions(graph, H100_LIKE_PROFILE, { policy: 'auto', measured });
    for (const site of tuned.sites.filter((s) => s.measured != null)) {
      if (site.kind !== 'pwdw') expect(site.decision).toBe('unfused');
    }
    expect(tuned.sites.some((s) => s.kind === 'pwdw' && s.decision === 'fused')).toBe(true);
  });

  it('measures each distinct shape once and nothing on a second run with the same cache', async () => {
    const cache = memoryCache();
    const first = fakeDevice();
    await autotune(plan, first.time, { deviceKey: 'fake', cache });
    expect(new Set(first.calls).size).toBe(first.calls.length);
    const second = fakeDevice();
    const again = await autotune(plan, second.time, { deviceKey: 'fake', cache });
    expect(second.calls).toEqual([]);
    expect(Object.keys(again).length).toBeGreaterThan(0);
    const otherDevice = fakeDevice();
    await autotune(plan, otherDevice.time, { deviceKey: 'other', cache });
    expect(otherDevice.calls.length).toBe(first.calls.length);
  });

  it('persists measurements in a file under Node', async () => {
    if (typeof process === 'undefined' || process.versions?.node == null) {
      pending('Node only: browsers use localStorageCache');
      return;
    }
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const path = join(tmpdir(), `autotune-cache-${Date.now()}-${Math.random()}.json`);
    const first = await fileCache(path);
    const device = fakeDevice();
    await autotune(plan, device.time, { deviceKey: 'fake', cache: first });
    await first.save();
    const second = await fileCache(path);
    const again = fakeDevice();
    await autotune(plan, again.time, { deviceKey: 'fake', cache: second });
    expect(again.calls).toEqual([]);
  });

  it('skips candidate tiles the device rejects instead of failing', async () => {
    const device = fakeDevice();
    let rejected = 0;
    const picky: TimeSite = async (kind, problem, variant) => {
      if (variant.kind === 'fused' && rejected++ % 2 === 0) throw new Error('exceeds the device limit');
      return device.time(kind, problem, variant);
    };
    const measured = await autotune(plan, picky, { deviceKey: 'picky', candidates: 3 });
    expect(Object.keys(measured).length).toBeGreaterThan(0);
    for (const m of Object.values(measured)) expect(Number.isFinite(m.fusedMs)).toBe(true);
  });
});
