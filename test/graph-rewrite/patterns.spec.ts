import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import {
  explainFusion,
  FUSED_DW_PW_OP,
  FUSED_PW_DW_OP,
  fuseGraphModelArtifacts,
} from '../../src/graph-rewrite';
import { NodeJson } from '../../src/graph-rewrite/model_json';
import { describeFused, describePure } from '../helpers/describe';
import { negativePatterns, PatternCase, positivePatterns } from './patterns';
import { expectFinite, expectSameOutputs, runModel } from './run_models';
import { smoothImage } from './model_builder';

const CPU_TOLERANCE = { atol: 2e-4, rtol: 2e-4 };
const GPU_TOLERANCE = { atol: 1e-3, rtol: 1e-3 };

function inputOf(shape: number[]) {
  return { shape, values: smoothImage(shape).map((v) => 2 * v - 1) };
}

function fusedOps(artifacts: tf.io.ModelArtifacts): NodeJson[] {
  return (artifacts.modelTopology as { node: NodeJson[] }).node.filter(
    (n) => n.op === FUSED_DW_PW_OP || n.op === FUSED_PW_DW_OP,
  );
}

describePure('graph match: synthetic patterns', () => {
  for (const t of positivePatterns()) {
    it(`finds and rewrites: ${t.name}`, () => {
      const { artifacts, report } = fuseGraphModelArtifacts(t.artifacts, { plan: 'all', blocks: 'none' });
      const found = t.found ?? t.fused;
      expect(report.counts.dwpw.found).withContext('dwpw found').toBe(found.dwpw);
      expect(report.counts.pwdw.found).withContext('pwdw found').toBe(found.pwdw);
      expect(report.counts.dwpw.fused).withContext('dwpw fused').toBe(t.fused.dwpw);
      expect(report.counts.pwdw.fused).withContext('pwdw fused').toBe(t.fused.pwdw);
      const text = explainFusion(report);
      if (t.expectText != null) expect(text).toMatch(t.expectText);
      const nodes = fusedOps(artifacts);
      expect(nodes.length).toBe(t.fused.dwpw + t.fused.pwdw);
      if (t.replaces != null) {
        const site = report.sites.find((s) => s.decision === 'fused')!;
        expect(site.nodes).toEqual(t.replaces);
        expect(nodes[0].name).toBe(t.replaces[t.replaces.length - 1]);
      }
      // Nothing left reads a removed node, and the input JSON is untouched.
      const names = new Set((artifacts.modelTopology as { node: NodeJson[] }).node.map((n) => n.name));
      for (const removed of Object.keys(report.replaced)) expect(names.has(removed)).toBe(false);
      expect(fusedOps(t.artifacts).length).toBe(0);
    });
  }

  for (const t of negativePatterns()) {
    it(`leaves alone: ${t.name}`, () => {
      const { artifacts, report } = fuseGraphModelArtifacts(t.artifacts, { plan: 'all', blocks: 'none' });
      expect(fusedOps(artifacts).length).toBe(0);
      expect(artifacts).toBe(t.artifacts);
      const reasons = report.sites.map((s) => `${s.id}: ${s.reason}`).join('\n');
      expect(report.sites.length).withContext('a candidate site is reported').toBeGreaterThan(0);
      expect(reasons).toMatch(t.reason);
      expect(report.sites.every((s) => !s.legal && s.decision === 'unfused')).toBe(true);
    });
  }
});

/** Original vs rewritten on cpu, and stock webgpu vs rewritten on webgpu-fused. */
async function expectSameEverywhere(t: Pick<PatternCase, 'name' | 'artifacts' | 'inputShape' | 'outputs'>) {
  const input = inputOf(t.inputShape);
  const cpuOriginal = await runModel(t.artifacts, 'cpu', input, t.outputs);
  expectFinite(cpuOriginal, `${t.name} cpu original`);
  const cpuFused = await runModel(t.artifacts, 'cpu', input, t.outputs, { plan: 'all', blocks: 'none' });
  expectSameOutputs(cpuFused, cpuOriginal, CPU_TOLERANCE, `${t.name} cpu`);
  const gpuOriginal = await runModel(t.artifacts, 'webgpu', input, t.outputs);
  const gpuFused = await runModel(t.artifacts, 'webgpu-fused', input, t.outputs, {
    plan: 'all',
    blocks: 'none',
  });
  expectSameOutputs(gpuFused, gpuOriginal, GPU_TOLERANCE, `${t.name} webgpu-fused vs webgpu`);
  expectSameOutputs(gpuFused, cpuOriginal, GPU_TOLERANCE, `${t.name} webgpu-fused vs cpu`);
  return gpuFused.report!;
}

describeFused('graph execute: synthetic patterns equal the original', () => {
  for (const t of positivePatterns()) {
    it(t.name, async () => {
      const report = await expectSameEverywhere(t);
      expect(report.counts.dwpw.fused + report.counts.pwdw.fused).toBe(t.fused.dwpw + t.fused.pwdw);
    });
  }
  for (const t of negativePatterns().filter((c) => c.runs !== false)) {
    it(`untouched: ${t.name}`, async () => {
      const report = await expectSameEverywhere(t);
      expect(report.counts.dwpw.fused + report.counts.pwdw.fused).toBe(0);
    });
  }
});
