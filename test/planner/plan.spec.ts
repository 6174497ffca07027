import '../setup';

import { dwPwTileFits } from '../../src/kernels/depthwise_pointwise_tile';
import { irGeometry, irTileFits } from '../../src/kernels/inverted_residual_tile';
import { pwDwTileFits } from '../../src/kernels/pointwise_depthwise_tile';
import {
  DEFAULT_LIMITS,
  DwPwTile,
  IrTile,
  KernelLimits,
  PwDwProblem,
  PwDwTile,
} from '../../src/kernels/types';
import {
  BlockSiteProblem,
  DeviceProfile,
  FusionPlan,
  H100_LIKE_PROFILE,
  PLAN_VERSION,
  PlannerGraph,
  PlannerNode,
  deviceProfileFromLimits,
  explain,
  findSites,
  formatTile,
  planFusions,
} from '../../src/planner';
import { describePure } from '../helpers/describe';
import { mobileNetV2Graph } from './mobilenet_v2_fixture';

const H100_AT_DEFAULT_LIMITS = deviceProfileFromLimits(DEFAULT_LIMITS, {}, H100_LIKE_PROFILE);

function expectTilesFit(plan: FusionPlan, limits: KernelLimits) {
  for (const site of plan.sites) {
    for (const candidate of site.tileCandidates) {
      const support =
        site.kind === 'dwpw'
          ? dwPwTileFits(candidate.tile as DwPwTile, limits)
          : site.kind === 'pwdw'
            ? pwDwTileFits(
                candidate.tile as PwDwTile,
                (site.problem as PwDwProblem).kernelSize,
                (site.problem as PwDwProblem).stride,
                limits,
              )
            : irTileFits(candidate.tile as IrTile, irGeometry(site.problem as BlockSiteProblem), limits);
      expect(support.supported).withContext(`${site.id}: ${support.reason}`).toBe(true);
    }
  }
}

function expectNoOverlap(plan: FusionPlan) {
  const owner = new Map<string, string>();
  for (const site of plan.sites.filter((s) => s.decision === 'fused')) {
    for (const node of site.nodes) {
      expect(owner.get(node)).withContext(`${node} in ${site.id}`).toBeUndefined();
      owner.set(node, site.id);
    }
  }
}

const node = (
  id: string,
  kind: PlannerNode['kind'],
  channels: [number, number],
  consumers: string[],
  extra: Partial<PlannerNode> = {},
): PlannerNode => ({
  id,
  kind,
  inShape: [1, 16, 16, channels[0]],
  outShape: [1, 16, 16, channels[1]],
  consumers,
  ...(kind === 'dw' ? { kernelSize: 3 } : {}),
  ...extra,
});

/**
 * in → expand(pw) → dw → project(pw) → out, where the dw output also feeds a
 * second pointwise, and a second branch whose expansion is a graph output.
 */
function branchingGraph(): PlannerGraph {
  return {
    nodes: [
      node('in', 'other', [8, 8], ['expand', 'expand2']),
      node('expand', 'pw', [8, 48], ['dw']),
      node('dw', 'dw', [48, 48], ['project', 'side_pw']),
      node('project', 'pw', [48, 8], ['out']),
      node('side_pw', 'pw', [48, 16], ['out']),
      node('expand2', 'pw', [8, 32], ['dw2'], { isGraphOutput: true }),
      node('dw2', 'dw', [32, 32], ['project2']),
      node('project2', 'pw', [32, 8], ['out']),
      node('out', 'other', [8, 8], [], { isGraphOutput: true }),
    ],
  };
}

describePure('planner plans', () => {
  it('never fuses across a multi-consumer intermediate or a graph output', () => {
    for (const policy of ['auto', 'all', 'none'] as const) {
      const plan = planFusions(branchingGraph(), H100_AT_DEFAULT_LIMITS, { policy });
      const byId = new Map(plan.sites.map((s) => [s.id, s]));
      for (const id of ['dwpw:dw>project', 'dwpw:dw>side_pw', 'pwdw:expand2>dw2']) {
        const site = byId.get(id);
        expect(site).withContext(id).toBeDefined();
        expect(site?.legal).toBe(false);
        expect(site?.decision).toBe('unfused');
        expect(site?.reason).toMatch(/2 consumers|graph output/);
      }
      // The legal neighbours stay candidates.
      expect(byId.get('pwdw:expand>dw')?.legal).toBe(true);
      expect(byId.get('dwpw:dw2>project2')?.legal).toBe(true);
      if (policy === 'all') {
        expect(byId.get('pwdw:expand>dw')?.decision).toBe('fused');
        expect(byId.get('dwpw:dw2>project2')?.decision).toBe('fused');
      }
      if (policy === 'none') {
        expect(plan.sites.every((s) => s.decision === 'unfused')).toBe(true);
        expect(plan.totals.plannedMs).toBe(plan.totals.unfusedMs);
      }
      expectNoOverlap(plan);
    }
  });

  it('is deterministic: same input, identical JSON and text', () => {
    const a = planFusions(mobileNetV2Graph(1), H100_LIKE_PROFILE);
    const b = planFusions(
      mobileNetV2Graph(1),
      JSON.parse(JSON.stringify(H100_LIKE_PROFILE)) as DeviceProfile,
    );
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(explain(b)).toBe(explain(a));
    expect(a.version).toBe(PLAN_VERSION);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });

  it('explain() has a row for every site with its decision', () => {
    const plan = planFusions(branchingGraph(), H100_AT_DEFAULT_LIMITS);
    const text = explain(plan);
    const rows = text.split('\n');
    for (const site of plan.sites) {
      const row = rows.find((line) => line.startsWith(site.id + ' '));
      expect(row).withContext(site.id).toBeDefined();
      expect(row).toContain(site.decision);
    }
    expect(text).toContain("policy 'auto'");
  });

  it('names every non-default choice of a DW→PW tile', () => {
    expect(formatTile({ pixels: 8, filters: 32, channelChunk: 16, threadPixels: 1, threadFilters: 4 })).toBe(
      'px8 f32 kc16 t1x4',
    );
    expect(
      formatTile({
        pixels: 16,
        filters: 128,
        channelChunk: 32,
        threadPixels: 2,
        threadFilters: 4,
        channelSplits: 2,
        workgroupSplits: 16,
        threadOrder: 'grid',
        depthwiseRun: 1,
      }),
    ).toBe('px16 f128 kc32 t2x4 s2 w16 grid run1');
  });

  it("policy 'auto' only fuses predicted savings and never predicts a slowdown", () => {
    const plan = planFusions(mobileNetV2Graph(8), H100_LIKE_PROFILE);
    for (const site of plan.sites.filter((s) => s.decision === 'fused')) {
      expect(site.savingMs).toBeGreaterThan(0);
    }
    expect(plan.totals.plannedMs).toBeLessThanOrEqual(plan.totals.unfusedMs);
  });

  it('costs pwdwpw blocks beside the pairs, with the residual Add where there is one', () => {
    const plan = planFusions(branchingGraph(), H100_AT_DEFAULT_LIMITS, { policy: 'all' });
    const block = plan.sites.find((s) => s.id === 'pwdwpw:expand2>dw2>project2');
    expect(block?.legal).toBe(false); // expand2 is a graph output
    expect(findSites(branchingGraph(), ['pwdwpw']).map((s) => s.id)).toEqual([
      'pwdwpw:expand>dw>project',
      'pwdwpw:expand>dw>side_pw',
      'pwdwpw:expand2>dw2>project2',
    ]);
    const graph = { nodes: branchingGraph().nodes.map((n) => ({ ...n, isGraphOutput: n.id === 'out' })) };
    const costed = planFusions(graph, H100_AT_DEFAULT_LIMITS, { kinds: ['pwdwpw'] }).sites.find(
      (s) => s.id === 'pwdwpw:expand2>dw2>project2',
    )!;
    expect(costed.legal).toBe(true);
    expect(costed.unfused?.kernels).toEqual(['pw (stock matmul)', 'dw (stock)', 'pw (stock matmul)']);
    expect(costed.fused?.kernels).toEqual(['pw→dw→pw (fused)']);
    expect((costed.problem as BlockSiteProblem).residual).toBe(false);
    // The same block with its residual: the stock Add joins the unfused side, the residual read the fused one.
    const withAdd = {
      nodes: graph.nodes.map((n) => (n.id === 'project2' ? { ...n, residualAdd: true } : n)),
    };
    const residual = planFusions(withAdd, H100_AT_DEFAULT_LIMITS, { kinds: ['pwdwpw'] }).sites.find(
      (s) => s.id === 'pwdwpw:expand2>dw2>project2',
    )!;
    expect(residual.unfused?.kernels).toEqual([
      'pw (stock matmul)',
      'dw (stock)',
      'pw (stock matmul)',
      'add (stock)',
    ]);
    expect(residual.unfused!.dispatches).toBe(4);
    expect(residual.unfused!.ms).toBeGreaterThan(costed.unfused!.ms);
    expect(residual.fused!.bytes).toBeGreaterThan(costed.fused!.bytes);
  });

  it("asks the kernels' own legality check through siteSupport", () => {
    const plan = planFusions(branchingGraph(), H100_AT_DEFAULT_LIMITS, {
      policy: 'all',
      siteSupport: (site) =>
        site.nodes.includes('dw2')
          ? { supported: false, reason: 'prelu epilogue not supported' }
          : { supported: true },
    });
    const site = plan.sites.find((s) => s.id === 'dwpw:dw2>project2');
    expect(site?.legal).toBe(false);
    expect(site?.decision).toBe('unfused');
    expect(site?.reason).toBe('prelu epilogue not supported');
    expect(plan.sites.find((s) => s.id === 'pwdw:expand>dw')?.decision).toBe('fused');
  });

  it('rejects malformed graphs', () => {
    const dup = { nodes: [node('a', 'pw', [4, 4], []), node('a', 'dw', [4, 4], [])] };
    expect(() => planFusions(dup, H100_LIKE_PROFILE)).toThrowError(/duplicate/);
    const unknown = { nodes: [node('a', 'pw', [4, 4], ['nope'])] };
    expect(() => planFusions(unknown, H100_LIKE_PROFILE)).toThrowError(/unknown consumer/);
  });
});

describePure('planner MobileNetV2-1.4 plan', () => {
  for (const batch of [1, 8]) {
    for (const [label, profile] of [
      ['H100-like', H100_LIKE_PROFILE],
      ['DEFAULT_LIMITS', H100_AT_DEFAULT_LIMITS],
    ] as const) {
      it(`plans the 17 DW→PW and 16 PW→DW sites at batch ${batch}, ${label}`, () => {
        const plan = planFusions(mobileNetV2Graph(batch), profile);
        const dwPw = plan.sites.filter((s) => s.kind === 'dwpw');
        const pwDw = plan.sites.filter((s) => s.kind === 'pwdw');
        const blocks = plan.sites.filter((s) => s.kind === 'pwdwpw');
        expect(dwPw.length).toBe(17);
        expect(pwDw.length).toBe(16);
        expect(blocks.length).toBe(16);
        expect(plan.sites.every((s) => s.legal && s.fused != null)).toBe(true);
        expectTilesFit(plan, profile.limits);
        expectNoOverlap(plan);
        const fused = plan.totals.fusedSites;
        expect(fused.dwpw + fused.pwdw + fused.pwdwpw).toBeGreaterThan(0);
        expect(fused.dwpw + fused.pwdw + fused.pwdwpw).toBeLessThanOrEqual(17); // one per DW layer at most
        // A pair saves one dispatch, none when its channel loop is split over
        // workgroups (a second pass adds the splits); a block two, or one with a reduce pass.
        const chosen = plan.sites.filter((site) => site.decision === 'fused');
        for (const site of chosen) {
          const dispatches = site.fused!.dispatches;
          if (site.kind === 'pwdw') expect(dispatches).withContext(site.id).toBe(1);
          if (site.kind === 'pwdwpw') expect([1, 2]).withContext(site.id).toContain(dispatches);
          if (site.kind === 'dwpw') {
            const splits = (site.fused!.tile as DwPwTile).workgroupSplits ?? 1;
            expect(dispatches)
              .withContext(site.id)
              .toBe(splits > 1 ? 2 : 1);
          }
        }
        const saved = chosen.reduce(
          (sum, site) => sum + site.unfused!.dispatches - site.fused!.dispatches,
          0,
        );
        expect(plan.totals.plannedDispatches).toBe(plan.totals.unfusedDispatches - saved);
        const text = explain(plan);
        for (const site of plan.sites) expect(text).toContain(site.id);
      });
    }
  }

  it("policy 'all' fuses one site per DW layer", () => {
    const plan = planFusions(mobileNetV2Graph(1), H100_AT_DEFAULT_LIMITS, { policy: 'all' });
    const fused = plan.totals.fusedSites;
    expect(fused.dwpw + fused.pwdw + fused.pwdwpw).toBe(17);
    expectNoOverlap(plan);
  });
});
