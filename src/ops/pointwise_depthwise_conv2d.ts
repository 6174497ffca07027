/**
 * Public op `fused.pointwiseDepthwiseConv2d`: a pointwise (1x1) convolution
 * and the depthwise convolution after it, each with optional bias and
 * activation (the expansion + depthwise of an inverted-residual block). On
 * `webgpu-fused` it runs as one fused kernel; elsewhere with stock ops.
 */

import * as tf from '@tensorflow/tfjs-core';

import {
  FusedPointwiseDepthwiseConv2D,
  FusedPointwiseDepthwiseConv2DAttrs,
  isSupported,
} from '../kernels/FusedPointwiseDepthwiseConv2D';
import { asPair } from '../kernels/fused_conv_util';
import { FusedActivation, FusedPadding, PwDwTile } from '../kernels/types';
import { floatTensors, fusedOrStock } from './op_util';
import { stockDepthwise, stockPointwise } from './stock_stages';

export interface PointwiseDepthwiseConv2dArgs {
  x: tf.Tensor4D | tf.TensorLike;
  /** [1, 1, Cin, M] or [Cin, M]. */
  pwFilter: tf.Tensor | tf.TensorLike;
  /** [k, k, M, 1]. */
  dwFilter: tf.Tensor4D | tf.TensorLike;
  /** Depthwise strides, padding and rounding; the pointwise is 1x1, stride 1. */
  strides?: number | [number, number];
  pad?: FusedPadding;
  dilations?: number | [number, number];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  pwBias?: tf.Tensor | tf.TensorLike;
  pwActivation?: FusedActivation;
  pwPreluActivationWeights?: tf.Tensor | tf.TensorLike;
  pwLeakyreluAlpha?: number;
  dwBias?: tf.Tensor | tf.TensorLike;
  dwActivation?: FusedActivation;
  dwPreluActivationWeights?: tf.Tensor | tf.TensorLike;
  dwLeakyreluAlpha?: number;
  /** Tile parameters for the fused kernel (the planner's choice); ignored by the stock path. */
  tile?: Partial<PwDwTile>;
}

const INPUTS = [
  'x',
  'pwFilter',
  'dwFilter',
  'pwBias',
  'pwPreluActivationWeights',
  'dwBias',
  'dwPreluActivationWeights',
] as const;

function pointwiseDepthwiseConv2d_(args: PointwiseDepthwiseConv2dArgs): tf.Tensor4D {
  const opName = 'pointwiseDepthwiseConv2d';
  const inputs = floatTensors(args, INPUTS, opName, ['x', 'pwFilter', 'dwFilter']);
  const attrs: FusedPointwiseDepthwiseConv2DAttrs = {
    strides: args.strides ?? 1,
    pad: args.pad ?? 'same',
    dilations: args.dilations ?? 1,
    dataFormat: args.dataFormat ?? 'NHWC',
    dimRoundingMode: args.dimRoundingMode,
    pwActivation: args.pwActivation ?? 'linear',
    pwLeakyreluAlpha: args.pwLeakyreluAlpha ?? 0.2,
    dwActivation: args.dwActivation ?? 'linear',
    dwLeakyreluAlpha: args.dwLeakyreluAlpha ?? 0.2,
    tile: args.tile,
  };
  return fusedOrStock({
    opName,
    kernelName: FusedPointwiseDepthwiseConv2D,
    inputs,
    attrs,
    isSupported: (shapes, a, limits) => isSupported(shapes as never, a, limits),
    stock: () => {
      const expanded = stockPointwise(inputs.x as tf.Tensor4D, inputs.pwFilter!, {
        bias: inputs.pwBias,
        activation: attrs.pwActivation,
        preluWeights: inputs.pwPreluActivationWeights,
        leakyreluAlpha: attrs.pwLeakyreluAlpha!,
      });
      return stockDepthwise(
        expanded,
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
    },
  });
}

export const pointwiseDepthwiseConv2d = tf.op({ pointwiseDepthwiseConv2d_ });
