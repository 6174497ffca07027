import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import {
  explainFusion,
  FUSED_INVERTED_RESIDUAL_OP,
  FUSED_PW_DW_OP,
  fuseGraphModelArtifacts,
  GraphFusionPlan,
} from '../../src/graph-rewrite';
import { NodeJson } from '../../src/graph-rewrite/model_json';
import { DeviceProfile, H100_LIKE_PROFILE } from '../../src/planner';
import { packInvertedResidualData } from '../../src/kernels/inverted_residual_layout';
import {
  invertedResidual,
  invertedResidualPacked,
  packInvertedResidual,
} from '../../src/ops/inverted_residual';
import { expectAllClose } from '../helpers/compare';
import { describeFused, describePure } from '../helpers/describe';
import { expectNoLeaks } from '../helpers/leaks';
import { Random } from '../helpers/random';
import { ModelBuilder, smoothImage } from './model_builder';
import { expectSameOutputs, runModel } from './run_models';

const SHAPE = [1, 9, 9, 8];

/** x → expand (BiasAdd, Relu6) → dw (BiasAdd, Relu6) → project (BiasAdd) [→ AddV2 x] → Identity. */
function fusedFormBlock(residual: boolean, keep?: string, shape = SHAPE): tf.io.ModelArtifacts {
  const b = new ModelBuilder(7);
  const x = b.input('x', shape);
  // 4x expansion: the least that blocks 'auto' fuses.
  const p = b.pw('expand', x, 8, 32, { fused: ['BiasAdd', 'Relu6'] });
  const d = b.dw('dw', p, 3, 32, { fused: ['BiasAdd', 'Relu6'] });
  const q = b.pw('project', d, 32, 8, { fused: ['BiasAdd'] });
  const y = residual ? b.op('add', 'AddV2', [q, x]) : q;
  b.op('out', 'Identity', [y]);
  return b.artifacts(['x'], keep != null ? ['out', keep] : ['out']);
}

/**
 * Unfolded forms: plain convs, FusedBatchNormV3, ClipByValue / Minimum(Relu)
 * relu6, a stride-2 VALID depthwise behind a zero Pad, a PReLU expansion.
 */
function unfoldedBlock(): tf.io.ModelArtifacts {
  const b = new ModelBuilder(11);
  const x = b.input('x', SHAPE);
  const e = b.batchNorm('bn1', b.pw('expand', x, 8, 16), 16);
  const r1 = b.op('clip', 'ClipByValue', [e, b.scalar('lo', 0), b.scalar('hi', 6)]);
  const padded = b.pad('pad', r1, [0, 0, 1, 1, 1, 1, 0, 0]);
  const d = b.dw('dw', padded, 3, 16, { padding: 'VALID', stride: 2 });
  const biased = b.op('dwbias', 'BiasAdd', [d, b.channelConst('dwb', 16, -0.3, 0.3)]);
  const r2 = b.op('min', 'Minimum', [b.op('relu', 'Relu', [biased]), b.scalar('six', 6)]);
  const q = b.batchNorm('bn2', b.pw('project', r2, 16, 12), 12);
  b.op('out', 'Identity', [q]);
  return b.artifacts(['x'], ['out']);
}

const fusedNodes = (a: tf.io.ModelArtifacts, op: string) =>
  (a.modelTopology as { node: NodeJson[] }).node.filter((n) => n.op === op);

describePure('graph blocks: matching, packing and plans', () => {
  it('a residual block becomes one FusedInvertedResidualBlock node with one packed constant', () => {
    const { artifacts, report } = fuseGraphModelArtifacts(fusedFormBlock(true), { blocks: 'all' });
    const [node] = fusedNodes(artifacts, FUSED_INVERTED_RESIDUAL_OP);
    expect(node).toBeDefined();
    expect(node.name).toBe('add');
    expect(node.input).toEqual(['x', 'add/fused_packed']);
    expect(node.attr!['residual']).toEqual({ b: true });
    expect(report.counts.pwdwpw).toEqual({ found: 1, legal: 1, fused: 1 });
    expect(report.counts.pwdw.fused + report.counts.dwpw.fused).toBe(0);
    expect(report.replaced['expand']).toBe('add');
    expect(explainFusion(report)).toMatch(/PW->DW->PW blocks: 1 found, 1 legal, 1 fused/);
    // Only the packed constant is left of the block's weights.
    const names = artifacts.weightSpecs!.map((s) => s.name);
    expect(names).toEqual(['add/fused_packed']);
  });

  it('the residual Add needs the block input: x + other is not absorbed', () => {
    const a = fusedFormBlock(true);
    const nodes = (a.modelTopology as { node: NodeJson[] }).node;
    const add = nodes.find((n) => n.name === 'add')!;
    add.input = ['project', 'project']; // y + y
    const { artifacts, report } = fuseGraphModelArtifacts(a, { blocks: 'all' });
    const [node] = fusedNodes(artifacts, FUSED_INVERTED_RESIDUAL_OP);
    expect(node.name).toBe('project');
    expect(node.attr!['residual']).toEqual({ b: false });
    expect(report.sites.find((s) => s.kind === 'pwdwpw')!.residual).toBeUndefined();
  });

  it('a kept intermediate leaves the block (and the pair through it) unfused', () => {
    const { artifacts, report } = fuseGraphModelArtifacts(fusedFormBlock(false, 'dw'), { blocks: 'all' });
    expect(fusedNodes(artifacts, FUSED_INVERTED_RESIDUAL_OP).length).toBe(0);
    const chain = report.sites.find((s) => s.kind === 'pwdwpw')!;
    expect(chain.legal).toBe(false);
    expect(chain.reason).toMatch(/not both of its pairs are fusable/);
  });

  it("blocks 'auto' are planner sites beside their pairs; 'none' keeps the pairs; plan 'none' fuses nothing", () => {
    const a = fusedFormBlock(true);
    const planned = fuseGraphModelArtifacts(a).report;
    expect(planned.counts.pwdwpw.fused).toBe(1);
    expect(planned.sites.find((s) => s.kind === 'pwdwpw')!.reason).toMatch(/^saves /);
    // Each pair is left either for the block or for being slower on its own.
    for (const pair of planned.sites.filter((s) => s.kind !== 'pwdwpw')) {
      expect(pair.decision).toBe('unfused');
      expect(pair.reason).toMatch(/shares a layer with pwdwpw:|predicted slower/);
    }
    // On a device where the block kernel is predicted slow, the plan takes a pair instead.
    const slowBlocks: DeviceProfile = {
      ...H100_LIKE_PROFILE,
      fusedEfficiency: { ...H100_LIKE_PROFILE.fusedEfficiency, pwdwpw: { scale: 0.001, exponent: 1 } },
    };
    const dynamic = fusedFormBlock(true, undefined, [-1, 9, 9, 8]);
    const batch4 = fuseGraphModelArtifacts(dynamic, { inputShape: [4, 9, 9, 8], profile: slowBlocks }).report;
    expect(batch4.counts.pwdwpw.fused).toBe(0);
    expect(batch4.sites.find((s) => s.kind === 'pwdwpw')!.reason).toMatch(/predicted slower/);
    expect(batch4.counts.pwdw.fused + batch4.counts.dwpw.fused).toBe(1);
    const none = fuseGraphModelArtifacts(a, { blocks: 'none', plan: 'all' });
    expect(none.report.counts.pwdwpw.fused).toBe(0);
    expect(fusedNodes(none.artifacts, FUSED_PW_DW_OP).length + none.report.counts.dwpw.fused).toBe(1);
    expect(fuseGraphModelArtifacts(unfoldedBlock(), { blocks: 'all' }).report.counts.pwdwpw.fused).toBe(1);
    const nothing = fuseGraphModelArtifacts(a, { plan: 'none', blocks: 'all' });
    expect(nothing.report.counts.pwdwpw.fused).toBe(0);
    expect(nothing.artifacts).toBe(a);
  });

  it('saved plans round-trip with their block decisions; plans without blocks stay valid', () => {
    const a = fusedFormBlock(true);
    const first = fuseGraphModelArtifacts(a, { blocks: 'all' });
    const saved = JSON.parse(JSON.stringify(first.report.plan)) as GraphFusionPlan;
    expect(saved.blocks!.map((b) => b.decision)).toEqual(['fused']);
    const again = fuseGraphModelArtifacts(a, { plan: saved, blocks: 'none' });
    expect(again.report.counts.pwdwpw.fused).toBe(1);
    expect(JSON.stringify(again.artifacts.modelTopology)).toBe(JSON.stringify(first.artifacts.modelTopology));
    // A plan of pairs only (as saved before blocks existed).
    const pairs = fuseGraphModelArtifacts(a, { blocks: 'none', plan: 'all' }).report.plan!;
    const old = JSON.parse(JSON.stringify(pairs)) as GraphFusionPlan;
    delete old.blocks;
    const fromOld = fuseGraphModelArtifacts(a, { plan: old });
    expect(fromOld.report.counts.pwdwpw.fused).toBe(0);
    expect(fromOld.report.counts.pwdw.fused + fromOld.report.counts.dwpw.fused).toBe(1);
    // A saved plan fusing a block and one of its pairs is rejected.
    const both = { ...old, blocks: saved.blocks };
    const pair = both.sites.find((s) => s.decision === 'fused');
    expect(pair).toBeDefined();
    expect(() => fuseGraphModelArtifacts(a, { plan: both })).toThrowError(/fuses '.*' in both/);
    const unknown = { ...saved, blocks: [{ id: 'pwdwpw:a>b>c', decision: 'fused' as const, reason: '' }] };
    expect(() => fuseGraphModelArtifacts(a, { plan: unknown })).toThrowError(/not a fusable block/);
  });
});

describeFused('graph blocks: packed data and the packed-only op', () => {
  it('packInvertedResidualData equals fused.packInvertedResidual (cpu), with PReLU and without biases', async () => {
    const rng = new Random(3);
    const [cin, m, cout, k] = [6, 10, 7, 3];
    const arr = (n: number) => Float32Array.from(rng.array(n, -1, 1));
    const data = {
      expandFilter: arr(cin * m),
      expandAlpha: arr(m),
      dwFilter: arr(k * k * m),
      dwBias: arr(m),
      projectFilter: arr(m * cout),
      projectBias: arr(cout),
    };
    await tf.setBackend('cpu');
    await expectNoLeaks(async () => {
      const weights = {
        expandFilter: tf.tensor4d(data.expandFilter, [1, 1, cin, m]),
        expandPreluActivationWeights: tf.tensor3d(data.expandAlpha, [1, 1, m]),
        dwFilter: tf.tensor4d(data.dwFilter, [k, k, m, 1]),
        dwBias: tf.tensor1d(data.dwBias),
        projectFilter: tf.tensor4d(data.projectFilter, [1, 1, m, cout]),
        projectBias: tf.tensor1d(data.projectBias),
      };
      const packed = packInvertedResidual(weights);
      const expected = (await packed.weights.data()) as Float32Array;
      const actual = packInvertedResidualData(packed.layout, data);
      expect(Array.from(actual)).toEqual(Array.from(expected));
      expect(() => packInvertedResidualData(packed.layout, { ...data, dwBias: undefined })).toThrowError(
        /dwBias is missing/,
      );
      // The packed-only op on cpu (weights sliced back out) equals the op with the weights.
      const x = tf.tensor4d(smoothImage([1, 5, 5, cin]), [1, 5, 5, cin]);
      const attrs = {
        expandActivation: 'prelu',
        dwActivation: 'relu6',
        projectActivation: 'linear',
      } as const;
      const fromPacked = invertedResidualPacked({
        x,
        packed: packed.weights,
        layout: packed.layout,
        ...attrs,
      });
      const reference = invertedResidual({ x, ...weights, ...attrs });
      expect(fromPacked.shape).toEqual([1, 5, 5, cout]);
      expectAllClose(
        (await fromPacked.data()) as Float32Array,
        (await reference.data()) as Float32Array,
        { atol: 1e-5, rtol: 1e-5 },
        'packed-only op on cpu',
      );
      // On webgpu-fused the packed-only op runs the kernel on the same buffer.
      await tf.setBackend('webgpu-fused');
      const gpuX = tf.tensor4d(await x.data(), x.shape);
      const gpuPacked = tf.tensor1d(expected);
      const onGpu = invertedResidualPacked({ x: gpuX, packed: gpuPacked, layout: packed.layout, ...attrs });
      expectAllClose(
        (await onGpu.data()) as Float32Array,
        (await reference.data()) as Float32Array,
        { atol: 1e-4, rtol: 1e-3 },
        'packed-only op on webgpu-fused',
      );
      tf.dispose([onGpu, gpuX, gpuPacked]);
      await tf.setBackend('cpu');
      tf.dispose([fromPacked, reference, x, ...Object.values(weights)]);
      packed.dispose();
    });
  });
});

describeFused('graph blocks: rewritten equals original on cpu and webgpu-fused', () => {
  const cases: Array<[string, () => tf.io.ModelArtifacts, number[]]> = [
    ['fused-form block with the residual AddV2', () => fusedFormBlock(true), SHAPE],
    ['fused-form block without residual', () => fusedFormBlock(false), SHAPE],
    ['unfolded BatchNorm / relu6 forms, zero Pad, stride 2', unfoldedBlock, SHAPE],
  ];
  for (const [label, make, shape] of cases) {
    it(label, async () => {
      const artifacts = make();
      const input = { shape, values: smoothImage(shape) };
      const reference = await runModel(artifacts, 'cpu', input, ['out']);
      for (const backend of ['cpu', 'webgpu-fused']) {
        const run = await runModel(artifacts, backend, input, ['out'], { blocks: 'all' }, backend !== 'cpu');
        expect(run.report!.counts.pwdwpw.fused).withContext(`${label} ${backend}`).toBe(1);
        expectSameOutputs(run, reference, { atol: 1e-4, rtol: 1e-3 }, `${label} on ${backend}`);
        if (run.kernels != null) {
          expect(run.kernels.has('FusedInvertedResidual')).withContext(`${label}: kernel ran`).toBe(true);
        }
      }
    });
  }
});

describeFused('graph blocks: run-time re-check', () => {
  it('a planned tile that does not fit falls back to the default tile (warned), same output', async () => {
    const original = fusedFormBlock(true);
    const { artifacts } = fuseGraphModelArtifacts(original, { blocks: 'all' });
    const node = fusedNodes(artifacts, FUSED_INVERTED_RESIDUAL_OP)[0];
    // A tile far beyond any device's workgroup limits.
    node.attr!['tile_tileH'] = { i: '64' };
    node.attr!['tile_tileW'] = { i: '64' };
    const input = { shape: SHAPE, values: smoothImage(SHAPE) };
    const reference = await runModel(original, 'cpu', input, ['out']);
    const warn = spyOn(console, 'warn');
    const run = await runModel(artifacts, 'webgpu-fused', input, ['out'], { plan: 'none' }, true);
    expect(warn.calls.allArgs().flat().join('\n')).toMatch(/FusedInvertedResidualBlock: the planned tile/);
    expect(run.kernels!.has('FusedInvertedResidual')).toBe(true);
    expectSameOutputs(run, reference, { atol: 1e-4, rtol: 1e-3 }, 'default tile');
  });
});
