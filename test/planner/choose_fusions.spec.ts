import '../setup';

import {
  FusionObjective,
  FusionOption,
  PlannerGraph,
  PlannerNode,
  Selection,
  chooseFusionsBruteForce,
  chooseFusionsDp,
  deviceProfileFromLimits,
  planFusions,
} from '../../src/planner';
import { DEFAULT_LIMITS } from '../../src/kernels/types';
import { describePure } from '../helpers/describe';
import { Random } from '../helpers/random';

const OBJECTIVES: FusionObjective[] = ['max-saving', 'max-layers'];

function expectSameScore(dp: Selection, brute: Selection, context: string) {
  expect(dp.layers).withContext(context).toBe(brute.layers);
  expect(Math.abs(dp.saving - brute.saving))
    .withContext(`${context}: dp ${dp.saving} vs brute force ${brute.saving}`)
    .toBeLessThan(1e-9 * Math.max(1, Math.abs(brute.saving)));
}

/** The chosen options really are disjoint and their savings add up. */
function expectConsistent(selection: Selection, options: FusionOption[]) {
  const byId = new Map(options.map((o) => [o.id, o]));
  const used = new Set<string>();
  let saving = 0;
  for (const id of selection.chosen) {
    const option = byId.get(id) as FusionOption;
    for (const node of option.nodes) {
      expect(used.has(node)).withContext(`${node} fused twice`).toBe(false);
      used.add(node);
    }
    saving += option.saving;
  }
  expect(selection.count).toBe(selection.chosen.length);
  expect(selection.layers).toBe(used.size);
  expect(Math.abs(selection.saving - saving)).toBeLessThan(1e-9);
}

/** Random chains with random 2- and 3-layer options (some losing) along them. */
function randomChains(rng: Random): { chains: string[][]; options: FusionOption[] } {
  const chains: string[][] = [];
  const options: FusionOption[] = [];
  const chainCount = rng.int(1, 3);
  for (let c = 0; c < chainCount; c++) {
    const length = rng.int(1, 7);
    const chain = Array.from({ length }, (_, i) => `c${c}n${i}`);
    chains.push(chain);
    for (let start = 0; start < length; start++) {
      for (const span of [2, 3]) {
        if (start + span > length || !rng.bool(0.6)) continue;
        const nodes = chain.slice(start, start + span);
        options.push({ id: `o:${nodes.join('>')}`, nodes, saving: rng.uniform(-1, 3) });
      }
    }
  }
  return { chains, options: options.slice(0, 16) };
}

describePure('planner fusion choice', () => {
  it('the dynamic program equals brute force on random chains', () => {
    const rng = new Random(20240424);
    for (let trial = 0; trial < 300; trial++) {
      const { chains, options } = randomChains(rng);
      for (const objective of OBJECTIVES) {
        // 'max-saving' is what policy 'auto' runs on: only winning options enter.
        const eligible = objective === 'max-saving' ? options.filter((o) => o.saving > 0) : options;
        const dp = chooseFusionsDp(chains, eligible, objective);
        const brute = chooseFusionsBruteForce(eligible, objective);
        expectSameScore(dp, brute, `trial ${trial} ${objective}`);
        expectConsistent(dp, eligible);
      }
    }
  });

  it('rejects options that are not a contiguous run of a chain', () => {
    const chains = [['a', 'b', 'c']];
    const gap = [{ id: 'x', nodes: ['a', 'c'], saving: 1 }];
    expect(() => chooseFusionsDp(chains, gap, 'max-saving')).toThrowError(/contiguous/);
  });

  it('prefers more fused layers under max-layers, more saving under max-saving', () => {
    // a-b-c-d: {b,c} saves 5; {a,b} and {c,d} save 1 each.
    const chains = [['a', 'b', 'c', 'd']];
    const options = [
      { id: 'ab', nodes: ['a', 'b'], saving: 1 },
      { id: 'bc', nodes: ['b', 'c'], saving: 5 },
      { id: 'cd', nodes: ['c', 'd'], saving: 1 },
    ];
    expect(chooseFusionsDp(chains, options, 'max-saving').chosen).toEqual(['bc']);
    expect(chooseFusionsDp(chains, options, 'max-layers').chosen).toEqual(['ab', 'cd']);
  });

  it('takes a whole block over a pair inside it under max-layers, whatever the savings', () => {
    // e-d-p (expand, depthwise, project): the block {e,d,p} saves 1, the pair {d,p} saves 3.
    const chains = [['e', 'd', 'p']];
    const options = [
      { id: 'block', nodes: ['e', 'd', 'p'], saving: 1 },
      { id: 'pair', nodes: ['d', 'p'], saving: 3 },
    ];
    expect(chooseFusionsDp(chains, options, 'max-layers')).toEqual(
      jasmine.objectContaining({ chosen: ['block'], count: 1, layers: 3 }),
    );
    expect(chooseFusionsDp(chains, options, 'max-saving').chosen).toEqual(['pair']);
  });
});

/** A random small graph of dw/pw/other layers, mostly a chain, with some side branches. */
function randomGraph(rng: Random): PlannerGraph {
  const batch = rng.int(1, 2);
  let size = rng.pick([8, 12, 16]);
  let channels = 4 * rng.int(1, 6);
  const nodes: PlannerNode[] = [];
  const length = rng.int(3, 8);
  for (let i = 0; i < length; i++) {
    const kind = rng.pick(['dw', 'dw', 'pw', 'pw', 'other'] as const);
    const inShape: [number, number, number, number] = [batch, size, size, channels];
    if (kind === 'dw') {
      const stride = rng.bool(0.25) ? 2 : 1;
      size = Math.ceil(size / stride);
      nodes.push({
        id: `n${i}`,
        kind,
        inShape,
        outShape: [batch, size, size, channels],
        kernelSize: 3,
        stride,
        consumers: [],
      });
    } else {
      channels = 4 * rng.int(1, 12);
      nodes.push({ id: `n${i}`, kind, inShape, outShape: [batch, size, size, channels], consumers: [] });
    }
    if (i > 0) nodes[i - 1].consumers.push(nodes[i].id);
  }
  // Side branches: some intermediates also feed an 'other' node, or are graph outputs.
  nodes.slice(0, -1).forEach((node, i) => {
    if (rng.bool(0.2)) {
      const side: PlannerNode = {
        id: `side${i}`,
        kind: 'other',
        inShape: node.outShape,
        outShape: node.outShape,
        consumers: [],
      };
      nodes.push(side);
      node.consumers.push(side.id);
    } else if (rng.bool(0.1)) {
      node.isGraphOutput = true;
    }
  });
  return { nodes };
}

describePure('planner plans vs brute force', () => {
  it('the plan is optimal over its own eligible sites on random graphs', () => {
    const rng = new Random(7);
    const profile = deviceProfileFromLimits(DEFAULT_LIMITS);
    for (let trial = 0; trial < 40; trial++) {
      const graph = randomGraph(rng);
      for (const policy of ['auto', 'all'] as const) {
        const plan = planFusions(graph, profile, { policy });
        const eligible: FusionOption[] = plan.sites
          .filter((s) => s.savingMs != null && (policy === 'all' || s.savingMs > 0))
          .map((s) => ({ id: s.id, nodes: s.nodes, saving: s.savingMs as number }));
        const objective = policy === 'all' ? 'max-layers' : 'max-saving';
        const brute = chooseFusionsBruteForce(eligible, objective);
        const chosen = plan.sites.filter((s) => s.decision === 'fused');
        const planned: Selection = {
          chosen: chosen.map((s) => s.id).sort(),
          count: chosen.length,
          layers: chosen.reduce((sum, s) => sum + s.nodes.length, 0),
          saving: chosen.reduce((sum, s) => sum + (s.savingMs as number), 0),
        };
        expectConsistent(planned, eligible);
        // Savings in the plan are rounded to 1 ns, so compare the totals loosely.
        expect(planned.layers).toBe(brute.layers);
        expect(Math.abs(planned.saving - brute.saving)).toBeLessThan(1e-5);
        for (const site of chosen) {
          expect(site.legal).toBe(true);
        }
      }
    }
  });
});
