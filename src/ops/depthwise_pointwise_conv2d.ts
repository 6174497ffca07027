/**
 * Public op `fused.depthwisePointwiseConv2d`: a depthwise convolution and the
 * pointwise (1x1) convolution after it, each with optional bias and
 * activation. On `webgpu-fused` it runs as one fused kernel; on any other
 * backend it computes the same result with stock ops.
 */

import * as tf from '@tensorflow/tfjs-core';

import {
  FusedDepthwisePointwiseConv2D,
  FusedDepthwisePointwiseConv2DAttrs,
  isSupported,
} from '../kernels/FusedDepthwisePointwiseConv2D';
import { asPair } from '../kernels/fused_conv_util';
import { DwPwTile, FusedActivation, FusedPadding } from '../kernels/types';
import { floatTensors, fusedOrStock } from './op_util';
import { stockDepthwise, stockPointwise } from './stock_stages';

export interface DepthwisePointwiseConv2dArgs {
  x: tf.Tensor4D | tf.TensorLike;
  /** [k, k, C, 1]. */
  dwFilter: tf.Tensor4D | tf.TensorLike;
  /** [1, 1, C, F] or [C, F]. */
  pwFilter: tf.Tensor | tf.TensorLike;
  /** Depthwise strides; the pointwise is 1x1, stride 1. */
  strides?: number | [number, number];
  pad?: FusedPadding;
  dilations?: number | [number, number];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dwBias?: tf.Tensor | tf.TensorLike;
  dwActivation?: FusedActivation;
  dwPreluActivationWeights?: tf.Tensor | tf.TensorLike;
  dwLeakyreluAlpha?: number;
  pwBias?: tf.Tensor | tf.TensorLike;
  pwActivation?: FusedActivation;
  pwPreluActivationWeights?: tf.Tensor | tf.TensorLike;
  pwLeakyreluAlpha?: number;
  /** Tile parameters for the fused kernel (the planner's choice); ignored by the stock path. */
  tile?: Partial<DwPwTile>;
}

const INPUTS = [
  'x',
  'dwFilter',
  'pwFilter',
  'dwBias',
  'dwPreluActivationWeights',
  'pwBias',
  'pwPreluActivationWeights',
] as const;

function depthwisePointwiseConv2d_(args: DepthwisePointwiseConv2dArgs): tf.Tensor4D {
  const opName = 'depthwisePointwiseConv2d';
  const inputs = floatTensors(args, INPUTS, opName, ['x', 'dwFilter', 'pwFilter']);
  const attrs: FusedDepthwisePointwiseConv2DAttrs = {
    strides: args.strides ?? 1,
    pad: args.pad ?? 'same',
    dilations: args.dilations ?? 1,
    dataFormat: args.dataFormat ?? 'NHWC',
    dimRoundingMode: args.dimRoundingMode,
    dwActivation: args.dwActivation ?? 'linear',
    dwLeakyreluAlpha: args.dwLeakyreluAlpha ?? 0.2,
    pwActivation: args.pwActivation ?? 'linear',
    pwLeakyreluAlpha: args.pwLeakyreluAlpha ?? 0.2,
    tile: args.tile,
  };
  return fusedOrStock({
    opName,
    kernelName: FusedDepthwisePointwiseConv2D,
    inputs,
    attrs,
    isSupported: (shapes, a, limits) => isSupported(shapes as never, a, limits),
    stock: () => {
      const hidden = stockDepthwise(
        inputs.x as tf.Tensor4D,
        inputs.dwFilter as tf.Tensor4D,
        asPair(attrs.strides, 1),
        attrs.pad,
        attrs.dimRoundingMode,
        {
          bias: inputs.dwBias,
          activation: attrs.dwActivation,
          preluWeights: inputs.dwPreluActivationWeights,
          leakyreluAlpha: attrs.dwLeakyreluAlpha!,
        },
      );
      return stockPointwise(hidden, inputs.pwFilter!, {
        bias: inputs.pwBias,
        activation: attrs.pwActivation,
        preluWeights: inputs.pwPreluActivationWeights,
        leakyreluAlpha: attrs.pwLeakyreluAlpha!,
      });
    },
  });
}

export const depthwisePointwiseConv2d = tf.op({ depthwisePointwiseConv2d_ });
