import '../setup';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {
  FUSED_DW_PW_LAYER,
  FUSED_PW_DW_LAYER,
  FusedLayersModel,
  LayersFuseOptions,
  explainFusion,
  fuseLayersModel,
  fuseLayersModelArtifacts,
} from '../../src/index';
import { CONSERVATIVE_PROFILE, FusionPlan } from '../../src/planner';
import { expectAllClose } from '../helpers/compare';
import { describeFused, describePure } from '../helpers/describe';
import { expectNoLeaks } from '../helpers/leaks';
import { Random } from '../helpers/random';
import { SMALL_INPUT, artifactsOf, buildSmallModel } from './small_model';

const INPUT_VALUES = new Random(3).array(
  SMALL_INPUT.reduce((a, b) => a * b, 1),
  -1,
  1,
);
const ALL: LayersFuseOptions = { plan: 'all', profile: CONSERVATIVE_PROFILE };

/** A saved plan fusing every DW→PW site (none of the PW→DW ones), from an 'all' report. */
function everyDwPw(artifacts: tf.io.ModelArtifacts): LayersFuseOptions {
  const plan = fuseLayersModelArtifacts(artifacts, ALL).report.plan!;
  const sites = plan.sites.map((s) => ({ ...s, decision: s.kind === 'dwpw' ? 'fused' : 'unfused' }));
  return { plan: { ...plan, sites } as FusionPlan, profile: CONSERVATIVE_PROFILE };
}

async function predict(model: tfl.LayersModel): Promise<Float32Array> {
  const x = tf.tensor(INPUT_VALUES, SMALL_INPUT);
  const y = model.predict(x) as tf.Tensor;
  const values = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  return values;
}

function weightValues(model: tfl.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.weights.map((w) => w.read().data() as Promise<Float32Array>));
}

/** Decoded weights of rewritten artifacts by name. */
function decode(artifacts: tf.io.ModelArtifacts): Record<string, { shape: number[]; values: Float32Array }> {
  const map = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
  const out: Record<string, { shape: number[]; values: Float32Array }> = {};
  for (const [name, t] of Object.entries(map)) {
    out[name] = { shape: t.shape, values: t.dataSync() as Float32Array };
    t.dispose();
  }
  return out;
}

type LayerJson = {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown;
};
const layersOf = (artifacts: tf.io.ModelArtifacts) =>
  (artifacts.modelTopology as { config: { layers: LayerJson[] } }).config.layers;

describePure('layers rewrite: the pure rewrite of a Keras topology', () => {
  let artifacts: tf.io.ModelArtifacts;
  let before: string;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const model = buildSmallModel();
    artifacts = await artifactsOf(model);
    model.dispose();
    before =
      JSON.stringify(artifacts.modelTopology) + new Uint8Array(artifacts.weightData as ArrayBuffer).join();
  });
  afterEach(() => {
    // The input artifacts are never modified.
    expect(
      JSON.stringify(artifacts.modelTopology) + new Uint8Array(artifacts.weightData as ArrayBuffer).join(),
    )
      .withContext('input artifacts')
      .toBe(before);
  });

  it('finds the sites, says why the others are not fusable, and replaces whole layers', () => {
    const { artifacts: out, report } = fuseLayersModelArtifacts(artifacts, ALL);
    expect(report.counts.dwpw.found).toBe(4);
    expect(report.counts.pwdw.found).toBe(3);
    const site = (id: string) => report.sites.find((s) => s.id === id)!;
    expect(site('pwdw:project>sep/depthwise').reason).toContain("'project_bn' has 2 consumers");
    expect(site('pwdw:pw2>sep2/depthwise').reason).toContain("only part of layer 'sep2' (SeparableConv2D)");
    expect(site('dwpw:sep/depthwise>sep').decision).toBe('fused');
    expect(site('dwpw:sep/depthwise>sep').nodes).toEqual(['sep', 'sep_bn', 'sep_act']);
    expect(site('dwpw:sep2/depthwise>sep2').decision).toBe('fused');
    expect(report.counts.dwpw.fused + report.counts.pwdw.fused).toBe(4);
    const layers = layersOf(out);
    const byName = new Map(layers.map((l) => [l.name, l]));
    for (const [removed, into] of Object.entries(report.replaced)) {
      expect(byName.has(removed)).withContext(removed).toBe(false);
      expect([FUSED_DW_PW_LAYER, FUSED_PW_DW_LAYER]).toContain(byName.get(into)!.class_name);
    }
    // The trailing tanh of sep2 (no kernel has it) is applied after the fused op.
    expect(byName.get('sep2')!.config.activation).toBe('tanh');
    // Each fused layer reads its site's input.
    expect(byName.get('sep_act')!.inbound_nodes).toEqual([[['project_bn', 0, 0, {}]]]);
    // The residual still reads the BatchNorm that feeds both branches.
    expect(byName.get('residual')!.inbound_nodes).toEqual([
      [
        ['project_bn', 0, 0, {}],
        ['sep_act', 0, 0, {}],
      ],
    ]);
    const names = out.weightSpecs!.map((s) => s.name);
    for (const w of report.removedWeights) expect(names).not.toContain(w);
    for (const w of report.addedWeights) expect(names).toContain(w);
    expect(explainFusion(report)).toContain('FUSED   dwpw:sep/depthwise>sep');
    expect(out.trainingConfig).toBeUndefined();
  });

  it('folds BatchNorm into kernels and biases and ZeroPadding2D into the depthwise padding', () => {
    const { artifacts: out, report } = fuseLayersModelArtifacts(artifacts, everyDwPw(artifacts));
    const fused = report.sites.find((s) => s.id === 'dwpw:dw>project')!;
    expect(fused.decision).toBe('fused');
    const layer = layersOf(out).find((l) => l.name === 'project_bn')!;
    expect(layer.class_name).toBe(FUSED_DW_PW_LAYER);
    expect(layer.config.padding).toEqual([
      [0, 0],
      [0, 1],
      [0, 1],
      [0, 0],
    ]);
    expect(layer.config.strides).toEqual([2, 2]);
    expect(layer.config.dw_activation).toBe('relu');
    expect(layer.config.pw_activation).toBe('linear');
    // Folded weights, recomputed here from the original weights.
    const w = decode(artifacts);
    const got = decode(out);
    const bnScale = (bn: string) =>
      w[`${bn}/gamma`].values.map((g, i) => g / Math.sqrt(w[`${bn}/moving_variance`].values[i] + 1e-3));
    const dwScale = bnScale('dw_bn');
    const dwKernel = w['dw/depthwise_kernel'].values.map((v, i) => v * dwScale[i % 12]);
    const dwBias = dwScale.map((s, c) => w['dw_bn/beta'].values[c] - w['dw_bn/moving_mean'].values[c] * s);
    const pwScale = bnScale('project_bn');
    const pwKernel = w['project/kernel'].values.map((v, i) => v * pwScale[i % 8]);
    const pwBias = pwScale.map(
      (s, f) =>
        (w['project/bias'].values[f] - w['project_bn/moving_mean'].values[f]) * s +
        w['project_bn/beta'].values[f],
    );
    expectAllClose(got['project_bn/dw_kernel'].values, dwKernel, { atol: 1e-6, rtol: 1e-5 }, 'dw kernel');
    expectAllClose(got['project_bn/dw_bias'].values, dwBias, { atol: 1e-6, rtol: 1e-5 }, 'dw bias');
    expectAllClose(got['project_bn/pw_kernel'].values, pwKernel, { atol: 1e-6, rtol: 1e-5 }, 'pw kernel');
    expectAllClose(got['project_bn/pw_bias'].values, pwBias, { atol: 1e-6, rtol: 1e-5 }, 'pw bias');
    expect(got['project_bn/dw_kernel'].shape).toEqual([3, 3, 12, 1]);
    expect(got['project_bn/pw_kernel'].shape).toEqual([1, 1, 12, 8]);
  });

  it("plan 'none' returns the artifacts as they are, with the report", () => {
    const result = fuseLayersModelArtifacts(artifacts, { plan: 'none' });
    expect(result.artifacts).toBe(artifacts);
    expect(result.report.counts.dwpw.found).toBe(4);
    expect(result.report.counts.dwpw.fused + result.report.counts.pwdw.fused).toBe(0);
  });

  it('keeps layers named in keep (and model outputs) unfolded', () => {
    const { report } = fuseLayersModelArtifacts(artifacts, { ...ALL, keep: ['dw_bn'] });
    // dw_bn's output stays: no site reads past it, one may end there (and keep its name).
    const past = report.sites.find((s) => s.id === 'dwpw:dw>project')!;
    expect(past.decision).toBe('unfused');
    expect(past.reason).toContain("'dw_bn' is a model output");
    expect(Object.keys(report.replaced)).not.toContain('dw_bn');
    expect(() => fuseLayersModelArtifacts(artifacts, { keep: ['nope'] })).toThrowError(/keep names 'nope'/);
  });

  it('rejects what is not a LayersModel or has no weights, with clear errors', () => {
    expect(() => fuseLayersModelArtifacts({ modelTopology: { node: [] } })).toThrowError(/graph model/);
    expect(() => fuseLayersModelArtifacts({ ...artifacts, weightData: undefined })).toThrowError(
      /missing weights/,
    );
    expect(() => fuseLayersModelArtifacts({})).toThrowError(/no modelTopology/);
    const broken = JSON.parse(JSON.stringify(artifacts.modelTopology));
    broken.config.layers[3].inbound_nodes = [[['nowhere', 0, 0, {}]]];
    expect(() => fuseLayersModelArtifacts({ ...artifacts, modelTopology: broken })).toThrowError(
      /reads \[nowhere, 0, 0\]/,
    );
  });

  it('does not fuse a shared layer, and reads a Sequential model', async () => {
    const L = tfl.layers;
    const input = tfl.input({ shape: [6, 6, 4] });
    const dw = L.depthwiseConv2d({ name: 'shared_dw', kernelSize: 3, padding: 'same' });
    const a = L.conv2d({ name: 'pw_a', filters: 4, kernelSize: 1 }).apply(
      dw.apply(input),
    ) as tfl.SymbolicTensor;
    const b = L.conv2d({ name: 'pw_b', filters: 4, kernelSize: 1 }).apply(dw.apply(a)) as tfl.SymbolicTensor;
    const shared = tfl.model({ inputs: input, outputs: b });
    const sharedReport = fuseLayersModelArtifacts(await artifactsOf(shared), ALL).report;
    shared.dispose();
    expect(sharedReport.counts.dwpw.fused).toBe(0);
    expect(sharedReport.warnings).toContain(
      "layer 'shared_dw' (DepthwiseConv2D) is shared (called 2 times): not fused",
    );

    const seq = tfl.sequential({
      layers: [
        L.depthwiseConv2d({ inputShape: [6, 6, 4], name: 's_dw', kernelSize: 3, padding: 'same' }),
        L.batchNormalization({ name: 's_bn' }),
        L.activation({ name: 's_act', activation: 'relu6' }),
        L.conv2d({ name: 's_pw', filters: 5, kernelSize: 1 }),
      ],
    });
    const result = fuseLayersModelArtifacts(await artifactsOf(seq), ALL);
    seq.dispose();
    expect(result.report.counts.dwpw.fused).toBe(1);
    expect(layersOf(result.artifacts).map((l) => l.class_name)).toEqual(['InputLayer', FUSED_DW_PW_LAYER]);
  });
});

/** Fused vs original on `backend`; the reference is the original on the cpu backend. */
function executionSpecs(backend: string) {
  let reference: Float32Array;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const model = buildSmallModel();
    reference = await predict(model);
    model.dispose();
    await tf.setBackend(backend);
  });
  beforeEach(async () => {
    await tf.setBackend(backend);
  });

  for (const variant of ['all', 'every DW->PW'] as const) {
    it(`plan '${variant}': fused output equals the original`, async () => {
      const model = buildSmallModel();
      const options = variant === 'all' ? ALL : everyDwPw(await artifactsOf(model));
      const fused = await fuseLayersModel(model, options);
      const kinds = new Set(fused.layers.map((l) => l.getClassName()));
      expect(kinds).toContain(FUSED_DW_PW_LAYER);
      if (variant === 'all') expect(kinds).toContain(FUSED_PW_DW_LAYER);
      if (backend === 'webgpu-fused') {
        const x = tf.tensor(INPUT_VALUES, SMALL_INPUT);
        const profile = await tf.profile(() => fused.predict(x) as tf.Tensor);
        const ran = new Set(profile.kernelNames);
        expect(ran).toContain('FusedDepthwisePointwiseConv2D');
        if (variant === 'all') expect(ran).toContain('FusedPointwiseDepthwiseConv2D');
        tf.dispose([x, profile.result as tf.Tensor]);
      }
      expectAllClose(await predict(fused), reference, { atol: 1e-4, rtol: 1e-3 }, `${backend} fused vs cpu`);
      expectAllClose(await predict(fused), await predict(model), { atol: 1e-4, rtol: 1e-3 }, 'vs original');
      fused.dispose();
      model.dispose();
    });
  }

  it('saves and loads again with tf.loadLayersModel (registered classes)', async () => {
    const model = buildSmallModel();
    const fused = await fuseLayersModel(model, ALL);
    const saved = await artifactsOf(fused);
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved));
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(fused.layers.map((l) => l.getClassName()));
    expectAllClose(await predict(loaded), await predict(fused), { atol: 1e-6, rtol: 1e-6 }, 'reloaded');
    expectAllClose(await predict(loaded), reference, { atol: 1e-4, rtol: 1e-3 }, 'reloaded vs cpu');
    for (const m of [loaded, fused, model]) m.dispose();
  });

  it('is inference-only and points training and cuts at folded layers to the original', async () => {
    const model = buildSmallModel();
    const fused: FusedLayersModel = await fuseLayersModel(model, ALL);
    expect(fused.original).toBe(model);
    const x = tf.tensor(INPUT_VALUES, SMALL_INPUT);
    const y = tf.zeros([2, 5, 5, 4]);
    fused.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    await expectAsync(fused.fit(x, y)).toBeRejectedWithError(/inference-only.*model\.original/);
    await expectAsync(fused.trainOnBatch(x, y)).toBeRejectedWithError(/inference-only/);
    expect(() => fused.getLayer('dw_bn')).toThrowError(
      /'dw_bn' was folded into the fused layer 'dw_relu'.*model\.original/,
    );
    // The original still cuts there; layers that were not folded cut in the fused model too.
    expect(fused.original!.getLayer('dw_bn').output).toBeDefined();
    const cut = tfl.model({
      inputs: fused.inputs,
      outputs: fused.getLayer('project_bn').output as tfl.SymbolicTensor,
    });
    const head = cut.predict(x) as tf.Tensor;
    expect(head.shape).toEqual([2, 5, 5, 8]);
    // execute() by output name works as for any LayersModel.
    const executed = fused.execute(x, fused.outputs[0].name) as tf.Tensor;
    const predicted = fused.predict(x) as tf.Tensor;
    expectAllClose(await executed.data(), await predicted.data(), { atol: 0, rtol: 0 }, 'execute vs predict');
    tf.dispose([x, y, head, executed, predicted]);
    fused.dispose();
    model.dispose();
  });

  it('leaves the original model as it was and leaks no tensors', async () => {
    const model = buildSmallModel();
    const json = JSON.stringify(model.toJSON(null, false));
    const layers = model.layers.map((l) => l.name);
    const weights = await weightValues(model);
    const out = await predict(model);
    await expectNoLeaks(async () => {
      const fused = await fuseLayersModel(model, ALL);
      await predict(fused);
      fused.summary(undefined, undefined, () => undefined);
      fused.dispose();
    }, `${backend} fuse + predict + dispose`);
    expect(JSON.stringify(model.toJSON(null, false))).toBe(json);
    expect(model.layers.map((l) => l.name)).toEqual(layers);
    const after = await weightValues(model);
    after.forEach((w, i) => expectAllClose(w, weights[i], { atol: 0, rtol: 0 }, model.weights[i].name));
    expectAllClose(await predict(model), out, { atol: 0, rtol: 0 }, 'original output');
    model.dispose();
  });
}

describePure('layers rewrite: small Keras model on cpu', () => executionSpecs('cpu'));
describeFused('layers rewrite: small Keras model on webgpu-fused', () => executionSpecs('webgpu-fused'));
