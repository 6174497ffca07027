import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import { FusedGraphModel, loadGraphModel } from '../../src/graph-rewrite';
import { fuseLayersModel } from '../../src/layers-rewrite';
import { CONSERVATIVE_PROFILE, H100_LIKE_PROFILE } from '../../src/planner';
import { itInNode, readModelArtifacts } from '../helpers/node_models';
import { buildSmallModel, SMALL_INPUT } from '../layers-rewrite/small_model';
import { smoothImage } from './model_builder';
import { expectAllClose } from '../helpers/compare';
import { describeFused, fusedBackend } from '../helpers/describe';
import { ModelBuilder } from './model_builder';

/** x → expand PW → DW → project PW + residual, and a side output of the DW (two outputs). */
function blockArtifacts(): tf.io.ModelArtifacts {
  const b = new ModelBuilder(7);
  const x = b.input('x', [-1, 9, 9, 8]);
  const p = b.pw('expand', x, 8, 24, { fused: ['BiasAdd', 'Relu6'] });
  const d = b.dw('dw', p, 3, 24, { fused: ['BiasAdd', 'Relu6'] });
  const q = b.pw('project', d, 24, 8, { fused: ['BiasAdd'] });
  b.op('out', 'AddV2', [x, q]);
  b.op('side', 'Relu', [d]);
  return b.artifacts(['x'], ['out', 'side']);
}

const randomInput = (seed: number, batch = 1) =>
  tf.randomUniform([batch, 9, 9, 8], -1, 1, 'float32', seed) as tf.Tensor4D;

async function loadBoth(): Promise<{ replayed: FusedGraphModel; plain: FusedGraphModel }> {
  const artifacts = blockArtifacts();
  const replayed = await loadGraphModel(tf.io.fromMemory(artifacts), { plan: 'all', precompile: false });
  const plain = await loadGraphModel(tf.io.fromMemory(artifacts), {
    plan: 'all',
    precompile: false,
    replay: false,
  });
  return { replayed, plain };
}

/** Every output of a replayed run equals, bit for bit, the same output of a run without replay. */
function expectSameOutputs(
  got: Float32Array[],
  expected: Float32Array[],
  label: (k: number) => string,
): void {
  expect(got.length).withContext('number of outputs').toBe(expected.length);
  got.forEach((v, k) => expectAllClose(v, expected[k], { atol: 0, rtol: 0 }, label(k)));
}

async function valuesOf(result: tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  const list = Array.isArray(result) ? result : [result];
  const values = await Promise.all(list.map((t) => t.data() as Promise<Float32Array>));
  list.forEach((t) => t.dispose());
  return values;
}

describeFused('replay of recorded dispatches', () => {
  it('replays from the third run per shape, with the results of a run without replay', async () => {
    const { replayed, plain } = await loadBoth();
    expect(replayed.replay).toBeDefined();
    expect(plain.replay).toBeUndefined();
    for (let i = 0; i < 5; i++) {
      const x = randomInput(100 + i);
      const expected = await valuesOf(plain.execute(x, ['out', 'side']));
      const got = await valuesOf(replayed.execute(x, ['out', 'side']));
      expect(got.length).toBe(2);
      expectSameOutputs(got, expected, (k) => `run ${i} output ${k}`);
      expect(replayed.replay!.recordings).toBe(i >= 1 ? 1 : 0);
      x.dispose();
    }
    replayed.dispose();
    plain.dispose();
  });

  it('keeps earlier outputs when later replays run before they are read', async () => {
    const { replayed, plain } = await loadBoth();
    const xs = [0, 1, 2, 3, 4, 5].map((i) => randomInput(200 + i));
    const outs = xs.map((x) => replayed.execute(x) as tf.Tensor[]);
    for (let i = 0; i < xs.length; i++) {
      const expected = await valuesOf(plain.execute(xs[i]));
      const got = await valuesOf(outs[i]);
      expectSameOutputs(got, expected, (k) => `run ${i} output ${k}`);
    }
    xs.forEach((x) => x.dispose());
    replayed.dispose();
    plain.dispose();
  });

  it('reads inputs that pending GPU work is still computing, and inputs still on the CPU', async () => {
    const { replayed, plain } = await loadBoth();
    for (let i = 0; i < 4; i++) {
      const a = randomInput(300 + i);
      const computed = tf.mul(a, 2); // encoded, not yet submitted
      const onCpu = tf.tensor(await a.data(), a.shape);
      for (const x of [computed, onCpu]) {
        const expected = await valuesOf(plain.execute(x));
        const got = await valuesOf(replayed.execute(x));
        expectSameOutputs(got, expected, () => `run ${i}`);
      }
      [a, computed, onCpu].forEach((t) => t.dispose());
    }
    replayed.dispose();
    plain.dispose();
  });

  it('runs inputs held by another backend as tfjs does (their data moved), recorded or not', async () => {
    const { replayed, plain } = await loadBoth();
    for (let i = 0; i < 4; i++) {
      const x = randomInput(350 + i);
      await tf.setBackend('cpu');
      const onCpuBackend = tf.tensor(await x.data(), x.shape);
      await tf.setBackend('webgpu-fused');
      const expected = await valuesOf(plain.execute(x));
      const got = await valuesOf(replayed.execute(i % 2 === 0 ? onCpuBackend : x));
      expectSameOutputs(got, expected, () => `run ${i}`);
      x.dispose();
      onCpuBackend.dispose();
    }
    expect(replayed.replay!.recordings).toBe(1);
    replayed.dispose();
    plain.dispose();
  });

  it('records each input shape on its own; predict() and tidy() see ordinary tensors', async () => {
    const { replayed, plain } = await loadBoth();
    for (let i = 0; i < 3; i++) {
      for (const batch of [1, 3]) {
        const x = randomInput(400 + i, batch);
        const expected = await valuesOf(plain.predict(x) as tf.Tensor[]);
        const kept = tf.tidy(() => replayed.predict(x) as tf.Tensor[]);
        const got = await valuesOf(kept);
        expect(got[0].length).toBe(batch * 9 * 9 * 8);
        expectSameOutputs(got, expected, () => `batch ${batch}`);
        x.dispose();
      }
    }
    expect(replayed.replay!.recordings).toBe(2);
    replayed.dispose();
    plain.dispose();
  });

  it('keeps tf.memory() and the GPU bytes in use flat over replays; dispose() frees the recording', async () => {
    const backend = fusedBackend();
    const before = tf.memory().numTensors;
    const { replayed, plain } = await loadBoth();
    plain.dispose();
    const x = randomInput(500);
    const bytes: number[] = [];
    const tensors: number[] = [];
    for (let i = 0; i < 30; i++) {
      await valuesOf(replayed.execute(x));
      bytes.push(backend.memory().numBytesInGPU);
      tensors.push(tf.memory().numTensors);
    }
    expect(new Set(bytes.slice(3)).size)
      .withContext(`GPU bytes in use ${bytes}`)
      .toBe(1);
    expect(new Set(tensors).size).withContext(`tensors ${tensors}`).toBe(1);
    const recorded = backend.memory().numBytesInGPU;
    replayed.dispose();
    x.dispose();
    expect(backend.memory().numBytesInGPU).toBeLessThan(recorded);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runs as tfjs does while tf.profile watches', async () => {
    const { replayed } = await loadBoth();
    const x = randomInput(600);
    for (let i = 0; i < 3; i++) await valuesOf(replayed.execute(x));
    const profile = await tf.profile(async () => valuesOf(replayed.execute(x)));
    expect(profile.kernels.length).toBeGreaterThan(0);
    x.dispose();
    replayed.dispose();
  });

  it('a recording fails on a GPU value read back; CPU values may be read', async () => {
    const backend = fusedBackend();
    const onGpu = tf.add(randomInput(700), 1);
    await onGpu.data(); // cached on the CPU after this, so make another
    const fresh = tf.mul(onGpu, 3);
    const cpu = tf.tensor([1, 2, 3]);
    let recorder = backend.startRecording();
    tf.tidy(() => tf.relu(onGpu));
    cpu.dataSync();
    expect(recorder.failure).toBeNull();
    expect(backend.stopRecording(recorder)).not.toBeNull();
    recorder = backend.startRecording();
    const y = tf.relu(fresh);
    await y.data();
    expect(recorder.failure).toMatch(/read back/);
    expect(backend.stopRecording(recorder)).toBeNull();
    [onGpu, fresh, cpu, y].forEach((t) => t.dispose());
  });

  it("replays a converted Keras model's predict() too", async () => {
    const keras = buildSmallModel(5);
    const options = { plan: 'all' as const, profile: CONSERVATIVE_PROFILE };
    const replayed = await fuseLayersModel(keras, options);
    const plain = await fuseLayersModel(keras, { ...options, replay: false });
    expect(replayed.replay).toBeDefined();
    for (let i = 0; i < 4; i++) {
      const x = tf.randomUniform(SMALL_INPUT, -1, 1, 'float32', 800 + i);
      const expected = await valuesOf(plain.predict(x) as tf.Tensor);
      const got = await valuesOf(replayed.predict(x) as tf.Tensor);
      expectSameOutputs(got, expected, () => `run ${i}`);
      x.dispose();
    }
    expect(replayed.replay!.recordings).toBe(1);
    replayed.dispose();
    plain.dispose();
    keras.dispose();
  });

  itInNode(
    'replays MobileNetV2 (mobilenet_v2_mid): logits and softmax equal a run without replay, input by input',
    async () => {
      const artifacts = await readModelArtifacts('models/mobilenet_v2_mid');
      const options = { profile: H100_LIKE_PROFILE, precompile: false };
      const replayed = await loadGraphModel(tf.io.fromMemory(artifacts), options);
      const plain = await loadGraphModel(tf.io.fromMemory(artifacts), { ...options, replay: false });
      const outputs = ['StatefulPartitionedCall/sequential/dense/BiasAdd', 'Identity'];
      const shape = [1, 224, 224, 3];
      const image = smoothImage(shape);
      for (let i = 0; i < 3; i++) {
        // A different image each run: a replay that kept the recorded input would be caught.
        const x = tf.tensor(
          image.map((v, k) => (k % 3 === i ? 1 - v : v)),
          shape,
        );
        const got = await valuesOf(replayed.execute(x, outputs));
        if (i > 0) {
          // The recorded run and the replayed one (the first run is tfjs's own path).
          const expected = await valuesOf(plain.execute(x, outputs));
          expectSameOutputs(got, expected, (k) => `run ${i} ${outputs[k]}`);
        }
        x.dispose();
      }
      expect(replayed.replay!.recordings).toBe(1);
      replayed.dispose();
      plain.dispose();
    },
    600_000,
  );
});
