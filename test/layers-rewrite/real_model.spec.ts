import '../setup';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {
  FUSED_DW_PW_LAYER,
  FusedLayersModel,
  fuseLayersModelArtifacts,
  loadLayersModel,
} from '../../src/index';
import { CONSERVATIVE_PROFILE, FusionPlan } from '../../src/planner';
import { expectAllClose, maxRelativeError } from '../helpers/compare';
import { describeFused, describePure } from '../helpers/describe';
import { itInNode, readModelArtifacts } from '../helpers/node_models';
import { Random } from '../helpers/random';

/** nsfwjs' MobileNetV2 LayersModel (models/mobilenet_v2; Node runner only, see helpers/node_models.ts). */
const DIR = 'models/mobilenet_v2';
const INPUT = [1, 224, 224, 3];
/** The last feature map (before the Dense head): in both models, never folded. */
const FEATURES = 'out_relu';

const handler = (artifacts: tf.io.ModelArtifacts): tf.io.IOHandler => ({ load: async () => artifacts });

/** Every DW→PW site fused (a saved plan from the 'all' report). */
function everyDwPw(artifacts: tf.io.ModelArtifacts): FusionPlan {
  const plan = fuseLayersModelArtifacts(artifacts, { plan: 'all', inputShape: INPUT }).report.plan!;
  const sites = plan.sites.map((s) => ({ ...s, decision: s.kind === 'dwpw' ? 'fused' : 'unfused' }));
  return { ...plan, sites } as FusionPlan;
}

/** Logits and the last feature map of `model` on the seeded random input. */
async function run(model: tfl.LayersModel): Promise<{ features: Float32Array; probs: Float32Array }> {
  const x = tf.tensor(
    new Random(5).array(
      INPUT.reduce((a, b) => a * b, 1),
      0,
      1,
    ),
    INPUT,
  );
  const features = model.getLayer(FEATURES).output as tfl.SymbolicTensor;
  const both = tfl.model({ inputs: model.inputs, outputs: [features, model.outputs[0]] });
  const [f, p] = both.predict(x) as tf.Tensor[];
  const out = { features: (await f.data()) as Float32Array, probs: (await p.data()) as Float32Array };
  tf.dispose([x, f, p]);
  return out;
}

describePure('layers real model: mobilenet_v2 sites', () => {
  itInNode(
    '17 DW->PW sites (16 PW->DW, 16 chains), all legal, BatchNorm/ReLU6/ZeroPadding2D folded',
    async () => {
      const artifacts = await readModelArtifacts(DIR);
      const { report } = fuseLayersModelArtifacts(artifacts, { plan: 'all', inputShape: INPUT });
      expect(report.counts.dwpw.found).toBe(17);
      expect(report.counts.dwpw.legal).toBe(17);
      expect(report.counts.pwdw.found).toBe(16);
      expect(report.counts.pwdwpw.found).toBe(16);
      const stride2 = report.sites.filter(
        (s) => s.kind === 'dwpw' && s.folds.some((f) => f.includes('zero Pad')),
      );
      expect(stride2.length).toBe(4);
      const plan = everyDwPw(artifacts);
      const all = fuseLayersModelArtifacts(artifacts, { plan, inputShape: INPUT }).report;
      expect(all.counts.dwpw.fused).toBe(17);
      for (const site of all.sites.filter((s) => s.decision === 'fused')) {
        expect(site.folds.filter((f) => f.startsWith('FusedBatchNormV3')).length)
          .withContext(site.id)
          .toBe(2);
        expect(site.folds.some((f) => f.startsWith('relu6')))
          .withContext(site.id)
          .toBe(true);
      }
    },
  );
});

/** Fused (every DW→PW site, and/or plan 'all') vs the unfused original on `backend`. */
function realModelSpecs(backend: string, tolerance: number, variants: Array<'every DW->PW' | 'all'>) {
  beforeEach(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });
  // The original's outputs on this backend, computed once for the variants.
  let originalRun: Promise<{ features: Float32Array; probs: Float32Array }> | undefined;
  for (const variant of variants) {
    itInNode(
      `plan '${variant}': fused output equals the original within ${tolerance} relative`,
      async () => {
        const artifacts = await readModelArtifacts(DIR);
        const plan = variant === 'all' ? 'all' : everyDwPw(artifacts);
        const model: FusedLayersModel = await loadLayersModel(handler(artifacts), {
          plan,
          inputShape: INPUT,
          profile: CONSERVATIVE_PROFILE,
          keepOriginal: originalRun == null,
        });
        expect(model.fusion.counts.dwpw.found).toBe(17);
        if (variant !== 'all') expect(model.fusion.counts.dwpw.fused).toBe(17);
        expect(model.layers.filter((l) => l.getClassName() === FUSED_DW_PW_LAYER).length).toBe(
          model.fusion.counts.dwpw.fused,
        );
        const started = Date.now();
        const fused = await run(model);
        originalRun ??= run(model.original!);
        const original = await originalRun;
        const label = `${backend} '${variant}'`;
        expectAllClose(
          fused.features,
          original.features,
          { atol: tolerance, rtol: tolerance },
          `${label} features`,
        );
        expectAllClose(
          fused.probs,
          original.probs,
          { atol: tolerance, rtol: tolerance },
          `${label} probabilities`,
        );
        console.log(
          `layers real model: ${label}: ${model.fusion.counts.dwpw.fused} DW->PW + ` +
            `${model.fusion.counts.pwdw.fused} PW->DW fused; features max rel error ` +
            maxRelativeError(fused.features, original.features).toExponential(2) +
            ` (${((Date.now() - started) / 1000).toFixed(1)} s)`,
        );
        model.dispose();
      },
      600000,
    );
  }
}

// Both variants on cpu; on SwiftShader a 224² MobileNetV2 takes ~15 s per inference, so the GPU
// backends run the 17 DW->PW sites only (the small-model specs cover the PW->DW kernel there).
describePure('layers real model: mobilenet_v2 on cpu', () =>
  realModelSpecs('cpu', 1e-3, ['every DW->PW', 'all']),
);
describe('webgpu-fused: layers real model: mobilenet_v2 on stock webgpu', () =>
  realModelSpecs('webgpu', 1e-3, ['every DW->PW']));
describeFused('layers real model: mobilenet_v2 on webgpu-fused', () =>
  realModelSpecs('webgpu-fused', 1e-3, ['every DW->PW']),
);
