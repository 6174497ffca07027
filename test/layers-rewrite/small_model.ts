/**
 * A small Keras-style functional model with every form the layers rewrite
 * folds: a 1x1 expansion + BatchNorm + ReLU(6), ZeroPadding2D before a
 * stride-2 VALID depthwise + BatchNorm + ReLU, a 1x1 projection with bias +
 * BatchNorm feeding a residual Add, a SeparableConv2D + BatchNorm +
 * Activation('relu6'), a depthwise and a 1x1 conv with `activation`
 * attributes, and a SeparableConv2D with an activation no kernel has (tanh).
 * Weights come from a seed (BatchNorm statistics far from 0/1), so models
 * built on different backends hold the same values.
 */

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { Random } from '../helpers/random';

export const SMALL_INPUT = [2, 11, 11, 6];

type SymbolicTensor = tfl.SymbolicTensor;
const call = (layer: tfl.layers.Layer, x: SymbolicTensor | SymbolicTensor[]) =>
  layer.apply(x) as SymbolicTensor;

/** Seeded values for every weight: BatchNorm gamma in [0.5, 1.5], variance in [0.5, 2], the rest in ±0.5. */
export function setSeededWeights(model: tfl.LayersModel, seed: number): void {
  const rng = new Random(seed);
  for (const layer of model.layers) {
    const values = layer.weights.map((w) => {
      const size = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
      const name = w.originalName;
      const [lo, hi] = name.endsWith('moving_variance')
        ? [0.5, 2]
        : name.endsWith('gamma')
          ? [0.5, 1.5]
          : [-0.5, 0.5];
      return tf.tensor(rng.array(size, lo, hi), w.shape as number[]);
    });
    if (values.length > 0) layer.setWeights(values);
    tf.dispose(values);
  }
}

export function buildSmallModel(seed = 11): tfl.LayersModel {
  const L = tfl.layers;
  const bn = (name: string) => L.batchNormalization({ name, epsilon: 1e-3 });
  const input = tfl.input({ shape: SMALL_INPUT.slice(1), name: 'image' });
  let x = call(L.conv2d({ name: 'expand', filters: 12, kernelSize: 1, useBias: false }), input);
  x = call(bn('expand_bn'), x);
  x = call(L.reLU({ name: 'expand_relu', maxValue: 6 }), x);
  x = call(
    L.zeroPadding2d({
      name: 'dw_pad',
      padding: [
        [0, 1],
        [0, 1],
      ],
    }),
    x,
  );
  x = call(L.depthwiseConv2d({ name: 'dw', kernelSize: 3, strides: 2, padding: 'valid', useBias: false }), x);
  x = call(bn('dw_bn'), x);
  x = call(L.reLU({ name: 'dw_relu' }), x);
  x = call(L.conv2d({ name: 'project', filters: 8, kernelSize: 1, useBias: true }), x);
  const project = call(bn('project_bn'), x);
  let s = call(
    L.separableConv2d({ name: 'sep', filters: 8, kernelSize: 3, padding: 'same', useBias: true }),
    project,
  );
  s = call(bn('sep_bn'), s);
  s = call(L.activation({ name: 'sep_act', activation: 'relu6' }), s);
  const sum = call(L.add({ name: 'residual' }), [project, s]);
  let t = call(L.depthwiseConv2d({ name: 'dw2', kernelSize: 3, padding: 'same', activation: 'relu' }), sum);
  t = call(L.conv2d({ name: 'pw2', filters: 10, kernelSize: 1, activation: 'relu6' }), t);
  t = call(
    L.separableConv2d({ name: 'sep2', filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh' }),
    t,
  );
  const model = tfl.model({ inputs: input, outputs: t, name: 'small' });
  setSeededWeights(model, seed);
  return model;
}

/** The model's artifacts as `model.save` writes them. */
export async function artifactsOf(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return artifacts!;
}
