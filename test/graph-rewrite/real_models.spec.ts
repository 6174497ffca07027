import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import { FUSED_INVERTED_RESIDUAL_OP, fuseGraphModelArtifacts, FusionReport } from '../../src/graph-rewrite';
import { deviceProfileFromLimits, FusionPlan, H100_LIKE_PROFILE, kernelLimitsOf } from '../../src/planner';
import { describeFused, describePure, fusedBackend } from '../helpers/describe';
import { itInNode, readModelArtifacts } from '../helpers/node_models';
import { smoothImage } from './model_builder';
import { Agreement, expectFinite, expectSameOutputs, ModelRun, runModel } from './run_models';
import { FusedLoadOptions } from '../../src/graph-rewrite';

/** A vendored real model (models/, read from disk: Node runner only, see helpers/node_models.ts). */
interface RealModel {
  dir: string;
  inputShape: number[];
  /** Outputs compared besides every fused site: pre-softmax/sigmoid logits and heads. */
  outputs: string[];
  found: { dwpw: number; pwdw: number; pwdwpw: number };
  /** Blocks the kernel takes (fused with blocks 'all'). */
  blocks?: number;
  /** How to rewrite it for the execution specs (one or more variants). */
  variants: Array<{ label: string; options: (report: FusionReport) => FusedLoadOptions }>;
}

const H100_AUTO = {
  label: "plan 'auto', H100-like profile",
  options: () => ({ profile: H100_LIKE_PROFILE }),
};
/** The profile loadGraphModel would default to on this webgpu-fused device, made explicit. */
const DEVICE_AUTO = {
  label: "plan 'auto', this device's limits",
  options: () => ({ profile: deviceProfileFromLimits(kernelLimitsOf(fusedBackend().device.limits)) }),
};
/** Every PW→DW→PW block fused as one FusedInvertedResidual (the pairs planned around them). */
const ALL_BLOCKS = {
  label: "blocks 'all', H100-like profile",
  options: (): FusedLoadOptions => ({ profile: H100_LIKE_PROFILE, blocks: 'all' }),
};
/**
 * Every DW→PW site fused (a saved plan derived from the H100 report made
 * without blocks), to run the other kernel too.
 */
const ALL_DW_PW = {
  label: 'saved plan: every DW->PW site',
  options: (report: FusionReport): FusedLoadOptions => {
    const plan = report.plan!;
    const sites = plan.sites.map((s) => ({ ...s, decision: s.kind === 'dwpw' ? 'fused' : 'unfused' }));
    return { plan: { ...plan, sites } as FusionPlan, profile: H100_LIKE_PROFILE };
  },
};

const MOBILENET = 'StatefulPartitionedCall/sequential';
const MODELS: RealModel[] = [
  {
    dir: 'models/mobilenet_v2_mid',
    inputShape: [1, 224, 224, 3],
    outputs: [`${MOBILENET}/dense/BiasAdd`, 'Identity'],
    found: { dwpw: 17, pwdw: 16, pwdwpw: 16 },
    blocks: 16,
    variants: [ALL_BLOCKS, ALL_DW_PW],
  },
  {
    dir: 'models/posenet',
    inputShape: [1, 385, 385, 3],
    outputs: ['heatmap_2', 'offset_2', 'displacement_fwd_2', 'displacement_bwd_2'].map(
      (h) => `MobilenetV1/${h}/BiasAdd`,
    ),
    found: { dwpw: 13, pwdw: 12, pwdwpw: 12 },
    variants: [H100_AUTO, ALL_DW_PW],
  },
  {
    dir: 'models/blazeface',
    inputShape: [1, 256, 256, 3],
    outputs: ['Identity', 'Identity_1', 'Identity_2', 'Identity_3'],
    found: { dwpw: 32, pwdw: 0, pwdwpw: 0 },
    variants: [DEVICE_AUTO],
  },
  {
    dir: 'models/handskeleton',
    inputShape: [1, 256, 256, 3],
    outputs: ['Identity', 'StatefulPartitionedCall/model/conv_handflag/BiasAdd', 'Identity_1'],
    found: { dwpw: 45, pwdw: 0, pwdwpw: 0 },
    // Every 5x5 site fused: the planner's choice on a CPU adapter can be none of them.
    variants: [ALL_DW_PW],
  },
];

describePure('graph real models: sites found and planned', () => {
  for (const m of MODELS) {
    itInNode(`${m.dir}: site counts, all legal, H100-like vs default limits`, async () => {
      const artifacts = await readModelArtifacts(m.dir);
      const { report } = fuseGraphModelArtifacts(artifacts, { profile: H100_LIKE_PROFILE });
      expect(report.counts.dwpw.found).toBe(m.found.dwpw);
      expect(report.counts.pwdw.found).toBe(m.found.pwdw);
      expect(report.counts.pwdwpw.found).toBe(m.found.pwdwpw);
      expect(report.counts.dwpw.legal).toBe(m.found.dwpw);
      expect(report.counts.pwdw.legal).toBe(m.found.pwdw);
      const fused = report.sites.filter((s) => s.decision === 'fused');
      // Fused sites never share a node.
      const owners = new Set<string>();
      for (const s of fused) {
        for (const n of s.nodes) {
          expect(owners.has(n)).withContext(n).toBe(false);
          owners.add(n);
        }
      }
      // Every fused site keeps its last node's name.
      for (const s of fused) expect(s.nodes[s.nodes.length - 1]).toBe(s.output!);
    });
  }
});

describeFused('graph real models: rewritten equals original', () => {
  for (const m of MODELS) {
    for (const variant of m.variants) {
      itInNode(
        `${m.dir}, ${variant.label}: logits and every fused site on cpu and webgpu-fused vs webgpu`,
        async () => {
          const artifacts = await readModelArtifacts(m.dir);
          const h100 = fuseGraphModelArtifacts(artifacts, {
            profile: H100_LIKE_PROFILE,
            blocks: 'none',
          }).report;
          const options = variant.options(h100);
          // Every variant names its profile, so cpu and webgpu-fused fuse the same sites.
          const probe = fuseGraphModelArtifacts(artifacts, options);
          const siteOutputs = probe.report.sites.filter((s) => s.decision === 'fused').map((s) => s.output!);
          if (siteOutputs.length === 0 && variant.label.startsWith("plan 'auto'")) {
            // A legitimate decision (the model predicts no saving on this
            // profile); the saved-plan variant below still fuses every site.
            pending(`plan 'auto' fuses no site of ${m.dir} on this profile`);
            return;
          }
          expect(siteOutputs.length).toBeGreaterThan(0);
          const names = [...m.outputs, ...siteOutputs];
          const input = { shape: m.inputShape, values: smoothImage(m.inputShape) };
          const results: Record<string, ModelRun> = {};
          results.cpuOriginal = await runModel(artifacts, 'cpu', input, names);
          expectFinite(results.cpuOriginal, `${m.dir} cpu original`);
          results.cpuFused = await runModel(artifacts, 'cpu', input, names, options);
          results.gpuOriginal = await runModel(artifacts, 'webgpu', input, names);
          results.gpuFused = await runModel(artifacts, 'webgpu-fused', input, names, options, true);
          // The fused kernels really ran (no silent stock fallback).
          const report = results.gpuFused.report!;
          if (report.counts.dwpw.fused > 0)
            expect(results.gpuFused.kernels).toContain('FusedDepthwisePointwiseConv2D');
          if (report.counts.pwdw.fused > 0)
            expect(results.gpuFused.kernels).toContain('FusedPointwiseDepthwiseConv2D');
          if (report.counts.pwdwpw.fused > 0)
            expect(results.gpuFused.kernels).toContain('FusedInvertedResidual');
          const { dwpw, pwdw, pwdwpw } = report.counts;
          expect(dwpw.fused + pwdw.fused + pwdwpw.fused).toBe(siteOutputs.length);
          if (options.blocks === 'all') {
            // Every block fused: one node (+ its packed constant) instead of its 3-4 ops and more.
            expect(pwdwpw.fused).toBe(m.blocks!);
            const nodes = (a: tf.io.ModelArtifacts) => (a.modelTopology as { node: unknown[] }).node.length;
            const fusedBlocks = (
              probe.artifacts.modelTopology as { node: Array<{ op: string }> }
            ).node.filter((n) => n.op === FUSED_INVERTED_RESIDUAL_OP);
            expect(fusedBlocks.length).toBe(m.blocks!);
            expect(nodes(probe.artifacts)).toBeLessThan(nodes(artifacts) - 2 * m.blocks!);
          }
          // The statically propagated shapes the plan used are the shapes the model really has.
          for (const site of report.sites.filter((s) => s.decision === 'fused')) {
            const ran = results.cpuOriginal.outputs.find((o) => o.name === site.output)!;
            expect(site.outShape).withContext(`${site.id} planned output shape`).toEqual(ran.shape);
          }
          const cpu = expectSameOutputs(
            results.cpuFused,
            results.cpuOriginal,
            { atol: 1e-4, rtol: 1e-4 },
            `${m.dir} cpu`,
          );
          const gpu = expectSameOutputs(
            results.gpuFused,
            results.gpuOriginal,
            { atol: 2e-3, rtol: 2e-3 },
            `${m.dir} webgpu-fused vs webgpu`,
          );
          // And against an independent reference: the original model on tfjs's cpu backend.
          const vsCpu = expectSameOutputs(
            results.gpuFused,
            results.cpuOriginal,
            { atol: 2e-3, rtol: 2e-3 },
            `${m.dir} webgpu-fused vs cpu`,
          );
          logAgreement(`${m.dir} [${variant.label}] ${siteOutputs.length} fused sites`, cpu, gpu, vsCpu);
        },
        600000,
      );
    }
  }
});

function logAgreement(label: string, cpu: Agreement[], gpu: Agreement[], vsCpu: Agreement[]) {
  const worst = (list: Agreement[]) =>
    list.reduce((w, a) => ({ maxAbs: Math.max(w.maxAbs, a.maxAbs), maxRel: Math.max(w.maxRel, a.maxRel) }), {
      maxAbs: 0,
      maxRel: 0,
    });
  const [c, g, v] = [worst(cpu), worst(gpu), worst(vsCpu)];
  const e = (x: number) => x.toExponential(2);
  console.log(
    `graph real models: ${label} (worst over ${cpu.length} outputs; first '${gpu[0].name}'): ` +
      `cpu rewritten vs original max abs ${e(c.maxAbs)}; webgpu-fused vs webgpu max abs ${e(g.maxAbs)} ` +
      `(first ${e(gpu[0].maxAbs)}); webgpu-fused vs cpu original max abs ${e(v.maxAbs)} rel ${e(v.maxRel)} ` +
      `(first ${e(vsCpu[0].maxAbs)})`,
  );
}
