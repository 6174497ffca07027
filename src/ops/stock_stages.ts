/**
 * The stock-op form of each fused stage: what the fused ops compute on
 * backends without the fused kernels (and the reference the kernels are
 * tested against). tfjs's fused ops lack swish and hard-swish, which are
 * applied after the op here.
 */

import * as tf from '@tensorflow/tfjs-core';

import { FusedActivation, FusedPadding } from '../kernels/types';

export interface StageTensors {
  bias?: tf.Tensor;
  activation: FusedActivation;
  preluWeights?: tf.Tensor;
  leakyreluAlpha: number;
}

type TfjsActivation = 'linear' | 'relu' | 'relu6' | 'prelu' | 'leakyrelu' | 'elu' | 'sigmoid';

function splitActivation(activation: FusedActivation): {
  inOp: TfjsActivation;
  after?: 'swish' | 'hardswish';
} {
  if (activation === 'swish' || activation === 'hardswish') {
    return { inOp: 'linear', after: activation };
  }
  return { inOp: activation };
}

function applyAfter(y: tf.Tensor4D, after: 'swish' | 'hardswish' | undefined): tf.Tensor4D {
  if (after === 'swish') return tf.mul(y, tf.sigmoid(y));
  if (after === 'hardswish') return tf.div(tf.mul(y, tf.relu6(tf.add(y, 3))), 6);
  return y;
}

/** Stock fused depthwise conv + the stage epilogue. */
export function stockDepthwise(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: [number, number],
  pad: FusedPadding,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  stage: StageTensors,
): tf.Tensor4D {
  const { inOp, after } = splitActivation(stage.activation);
  const y = tf.fused.depthwiseConv2d({
    x,
    filter,
    strides,
    pad: pad as 'same',
    dimRoundingMode,
    bias: stage.bias,
    activation: inOp,
    preluActivationWeights: stage.preluWeights,
    leakyreluAlpha: stage.leakyreluAlpha,
  });
  return applyAfter(y, after);
}

/** Stock fused 1x1 conv + the stage epilogue; `filter` is [1,1,C,F] or [C,F]. */
export function stockPointwise(x: tf.Tensor4D, filter: tf.Tensor, stage: StageTensors): tf.Tensor4D {
  const { inOp, after } = splitActivation(stage.activation);
  const [inChannels, outChannels] = filter.shape.slice(-2);
  const filter4d = tf.reshape(filter, [1, 1, inChannels, outChannels]) as tf.Tensor4D;
  const y = tf.fused.conv2d({
    x,
    filter: filter4d,
    strides: 1,
    pad: 'valid',
    bias: stage.bias,
    activation: inOp,
    preluActivationWeights: stage.preluWeights,
    leakyreluAlpha: stage.leakyreluAlpha,
  });
  return applyAfter(y, after);
}
