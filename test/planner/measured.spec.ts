import '../setup';

import { H100_LIKE_PROFILE, MeasuredSite, planFusions } from '../../src/planner/index';
import { describePure } from '../helpers/describe';
import { mobileNetV2Graph } from './mobilenet_v2_fixture';

describePure('planner with on-device measurements', () => {
  const graph = mobileNetV2Graph(1);
  const predicted = planFusions(graph, H100_LIKE_PROFILE, { policy: 'auto' });

  it('lets measurements overrule the model in both directions', () => {
    const fusedByModel = predicted.sites.find((s) => s.decision === 'fused' && s.tileCandidates.length > 0)!;
    const legalSites = predicted.sites.filter((s) => s.legal && s.fused != null);
    expect(fusedByModel).toBeDefined();
    const measured: Record<string, MeasuredSite> = {};
    for (const site of legalSites) {
      // Every site measured slower fused, except one that the model rejects or left out.
      measured[site.id] = { unfusedMs: 0.05, fusedMs: 0.08, tile: site.fused!.tile };
    }
    const plan = planFusions(graph, H100_LIKE_PROFILE, { policy: 'auto', measured });
    expect(plan.sites.filter((s) => s.decision === 'fused').length).toBe(0);
    const slower = plan.sites.find((s) => s.id === fusedByModel.id)!;
    expect(slower.measured).toEqual(measured[fusedByModel.id]);
    expect(slower.reason).toMatch(
      /measured on this device: fused 0\.08\d* ms vs unfused 0\.05\d* ms; kept unfused/,
    );
    expect(slower.savingMs).toBeCloseTo(-0.03, 6);
  });

  it('uses the measured tile for the sites it fuses', () => {
    const site = predicted.sites.find((s) => s.kind === 'pwdw' && s.legal && s.fused != null)!;
    const tile = { tileH: 3, tileW: 5, channels: 8, threadPositions: 1, workgroupSize: 32 };
    const plan = planFusions(graph, H100_LIKE_PROFILE, {
      policy: 'auto',
      measured: { [site.id]: { unfusedMs: 0.09, fusedMs: 0.03, tile } },
    });
    const tuned = plan.sites.find((s) => s.id === site.id)!;
    expect(tuned.decision).toBe('fused');
    expect(tuned.fused!.tile).toEqual(tile);
    expect(tuned.savingMs).toBeCloseTo(0.06, 6);
  });

  it('is unchanged without measurements', () => {
    expect(JSON.stringify(planFusions(graph, H100_LIKE_PROFILE, { policy: 'auto', measured: {} }))).toBe(
      JSON.stringify(predicted),
    );
  });
});
