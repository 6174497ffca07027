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
import { kernelLimitsOf } from '../kernels/fused_conv_util';
import { DwPwTile, FusedActivation, FusedPadding } from '../kernels/types';
import { backendLimits, inputsOf, toFloatTensor } from './op_util';
import { stockDepthwise, stockPointwise } from './stock_stages';

export interface DepthwisePointwiseConv2dArgs {
  x: tf.Tensor4D | tf.TensorLike;
  /** [k, k, C, 1]. */
  dwFilter: tf.Tensor4D | tf.TensorLike;
  /** [1, 1, C, F] or [C, F]. */
  pwFilter: tf.Tensor | tf.TensorLike;
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

function depthwisePointwiseConv2d_(args: DepthwisePointwiseConv2dArgs): tf.Tensor4D {
  const name = 'depthwisePointwiseConv2d';
  const inputs = {
    x: toFloatTensor(args.x, 'x', name),
    dwFilter: toFloatTensor(args.dwFilter, 'dwFilter', name),
    pwFilter: toFloatTensor(args.pwFilter, 'pwFilter', name),
    dwBias: args.dwBias == null ? undefined : toFloatTensor(args.dwBias, 'dwBias', name),
    dwPreluActivationWeights:
      args.dwPreluActivationWeights == null
        ? undefined
        : toFloatTensor(args.dwPreluActivationWeights, 'dwPreluActivationWeights', name),
    pwBias: args.pwBias == null ? undefined : toFloatTensor(args.pwBias, 'pwBias', name),
    pwPreluActivationWeights:
      args.pwPreluActivationWeights == null
        ? undefined
        : toFloatTensor(args.pwPreluActivationWeights, 'pwPreluActivationWeights', name),
  };
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
  // The same rules decide legality on every backend, so a model that runs
  // on cpu runs fused too; only resource limits depend on the device.
  const limits = backendLimits();
  const support = isSupported(
    {
      x: inputs.x.shape,
      dwFilter: inputs.dwFilter.shape,
      pwFilter: inputs.pwFilter.shape,
      dwBias: inputs.dwBias?.shape,
      dwPreluActivationWeights: inputs.dwPreluActivationWeights?.shape,
      pwBias: inputs.pwBias?.shape,
      pwPreluActivationWeights: inputs.pwPreluActivationWeights?.shape,
    },
    { ...attrs, tile: limits == null ? undefined : attrs.tile },
    limits == null ? kernelLimitsOf(UNLIMITED) : limits,
  );
  if (!support.supported) {
    throw new Error(`${name}: ${support.reason}`);
  }
  if (limits != null && tf.getKernel(FusedDepthwisePointwiseConv2D, tf.getBackend()) != null) {
    return tf
      .engine()
      .runKernel(
        FusedDepthwisePointwiseConv2D,
        inputsOf(inputs),
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor4D;
  }
  return tf.tidy(() => {
    const strides = typeof attrs.strides === 'number' ? [attrs.strides, attrs.strides] : attrs.strides;
    const hidden = stockDepthwise(
      inputs.x as tf.Tensor4D,
      inputs.dwFilter as tf.Tensor4D,
      strides as [number, number],
      attrs.pad,
      attrs.dimRoundingMode,
      {
        bias: inputs.dwBias,
        activation: attrs.dwActivation,
        preluWeights: inputs.dwPreluActivationWeights,
        leakyreluAlpha: attrs.dwLeakyreluAlpha!,
      },
    );
    return stockPointwise(hidden, inputs.pwFilter, {
      bias: inputs.pwBias,
      activation: attrs.pwActivation,
      preluWeights: inputs.pwPreluActivationWeights,
      leakyreluAlpha: attrs.pwLeakyreluAlpha!,
    });
  });
}

export const depthwisePointwiseConv2d = tf.op({ depthwisePointwiseConv2d_ });

/** Limits for the shape rules when no WebGPU device is involved. */
const UNLIMITED = {
  maxComputeWorkgroupStorageSize: Infinity,
  maxComputeInvocationsPerWorkgroup: Infinity,
  maxComputeWorkgroupSizeX: Infinity,
  maxComputeWorkgroupsPerDimension: Infinity,
  maxStorageBuffersPerShaderStage: Infinity,
  maxStorageBufferBindingSize: Infinity,
} as unknown as GPUSupportedLimits;
