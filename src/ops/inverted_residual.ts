/**
 * Public ops for whole inverted-residual blocks (expansion 1x1 → depthwise
 * → projection 1x1, + residual):
 *   - `fused.packInvertedResidual(weights)` packs a block's filters, biases
 *     and PReLU weights once into the single buffer the fused kernel binds
 *     (keep it with the model, dispose it with the model);
 *   - `fused.invertedResidual({x, ...weights, packed?})` runs the block: on
 *     `webgpu-fused` as the fused kernel (packing per call when no `packed`
 *     is given), elsewhere with stock ops.
 */

import * as tf from '@tensorflow/tfjs-core';

import { asPair, checkDepthwiseFilter, pointwiseFilterDims } from '../kernels/fused_conv_util';
import {
  FusedInvertedResidual,
  FusedInvertedResidualAttrs,
  isSupported,
} from '../kernels/FusedInvertedResidual';
import {
  checkLayout,
  invertedResidualLayout,
  InvertedResidualLayout,
  roundUp4,
} from '../kernels/inverted_residual_layout';
import { FusedActivation, FusedPadding, IrTile } from '../kernels/types';
import { backendLimits, floatTensors, UNLIMITED } from './op_util';
import { stockDepthwise, stockPointwise, StageTensors } from './stock_stages';

/** A block's weights; every tensor may also be a TensorLike. */
export interface InvertedResidualWeights {
  /** [1, 1, Cin, M] or [Cin, M]. */
  expandFilter: tf.Tensor | tf.TensorLike;
  expandBias?: tf.Tensor | tf.TensorLike;
  expandPreluActivationWeights?: tf.Tensor | tf.TensorLike;
  /** [k, k, M, 1]. */
  dwFilter: tf.Tensor4D | tf.TensorLike;
  dwBias?: tf.Tensor | tf.TensorLike;
  dwPreluActivationWeights?: tf.Tensor | tf.TensorLike;
  /** [1, 1, M, Cout] or [M, Cout]. */
  projectFilter: tf.Tensor | tf.TensorLike;
  projectBias?: tf.Tensor | tf.TensorLike;
  projectPreluActivationWeights?: tf.Tensor | tf.TensorLike;
}

export interface InvertedResidualArgs extends InvertedResidualWeights {
  x: tf.Tensor4D | tf.TensorLike;
  /** Depthwise strides, padding and rounding; both 1x1 convolutions have stride 1. */
  strides?: number | [number, number];
  pad?: FusedPadding;
  dilations?: number | [number, number];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  expandActivation?: FusedActivation;
  expandLeakyreluAlpha?: number;
  dwActivation?: FusedActivation;
  dwLeakyreluAlpha?: number;
  projectActivation?: FusedActivation;
  projectLeakyreluAlpha?: number;
  /** Add x to the block output (after the projection's activation). Needs stride 1 and Cin = Cout. */
  residual?: boolean;
  /** The same weights packed by `packInvertedResidual`, to skip packing on every call. */
  packed?: PackedInvertedResidual;
  /** Tile parameters for the fused kernel (the planner's choice); ignored by the stock path. */
  tile?: Partial<IrTile>;
}

/** A block's weights packed for the fused kernel. Owns `weights`: dispose it with the model. */
export interface PackedInvertedResidual {
  weights: tf.Tensor1D;
  layout: InvertedResidualLayout;
  dispose(): void;
}

const WEIGHT_NAMES = [
  'expandFilter',
  'expandBias',
  'expandPreluActivationWeights',
  'dwFilter',
  'dwBias',
  'dwPreluActivationWeights',
  'projectFilter',
  'projectBias',
  'projectPreluActivationWeights',
] as const;

type WeightTensors = Partial<Record<(typeof WEIGHT_NAMES)[number], tf.Tensor>>;

/** The packed layout for these weights, or an error naming the inconsistent tensor. */
function layoutOf(w: WeightTensors, opName: string): InvertedResidualLayout {
  const fail = (message: string): never => {
    throw new Error(`${opName}: ${message}`);
  };
  if (w.expandFilter == null || w.dwFilter == null || w.projectFilter == null) {
    fail('expandFilter, dwFilter and projectFilter are required');
  }
  const expandDims = pointwiseFilterDims(w.expandFilter!.shape);
  if ('error' in expandDims) return fail(`expandFilter: ${expandDims.error}`);
  const [inChannels, expanded] = expandDims;
  const dwError = checkDepthwiseFilter(w.dwFilter!.shape, expanded);
  if (dwError != null) fail(dwError);
  const projectDims = pointwiseFilterDims(w.projectFilter!.shape);
  if ('error' in projectDims) return fail(`projectFilter: ${projectDims.error}`);
  if (projectDims[0] !== expanded) {
    fail(`projectFilter takes ${projectDims[0]} channels, the expansion gives ${expanded}`);
  }
  const biasOk = (bias: tf.Tensor | undefined, channels: number, name: string) => {
    if (bias != null && bias.size !== channels) {
      fail(`${name} of shape ${JSON.stringify(bias.shape)} does not match ${channels} channels`);
    }
    return bias != null;
  };
  return invertedResidualLayout({
    inChannels,
    expandedChannels: expanded,
    outChannels: projectDims[1],
    kernelSize: w.dwFilter!.shape[0],
    expandBias: biasOk(w.expandBias, expanded, 'expandBias'),
    expandAlphaShape: w.expandPreluActivationWeights?.shape,
    dwBias: biasOk(w.dwBias, expanded, 'dwBias'),
    dwAlphaShape: w.dwPreluActivationWeights?.shape,
    projectBias: biasOk(w.projectBias, projectDims[1], 'projectBias'),
    projectAlphaShape: w.projectPreluActivationWeights?.shape,
  });
}

/** [rows, cols] padded with zeros to [rows', cols'], flattened. */
function padded2d(t: tf.Tensor, rows: number, cols: number, toRows: number, toCols: number): tf.Tensor1D {
  const m = tf.reshape(t, [rows, cols]);
  return tf.reshape(
    tf.pad(m, [
      [0, toRows - rows],
      [0, toCols - cols],
    ]),
    [-1],
  ) as tf.Tensor1D;
}

const padded1d = (t: tf.Tensor): tf.Tensor1D => {
  const flat = tf.reshape(t, [-1]) as tf.Tensor1D;
  return tf.pad(flat, [[0, roundUp4(flat.size) - flat.size]]);
};

/** The packed buffer, in the section order of `invertedResidualLayout`. */
function packWeights(w: WeightTensors, layout: InvertedResidualLayout): tf.Tensor1D {
  const { inChannels: cin, expandedChannels: m, outChannels: cout, kernelSize: k } = layout;
  const sections: tf.Tensor1D[] = [];
  const stage = (filter: tf.Tensor1D, bias?: tf.Tensor, alpha?: tf.Tensor) => {
    sections.push(filter);
    if (bias != null) sections.push(padded1d(bias));
    if (alpha != null) sections.push(padded1d(alpha));
  };
  stage(
    padded2d(w.expandFilter!, cin, m, roundUp4(cin), roundUp4(m)),
    w.expandBias,
    w.expandPreluActivationWeights,
  );
  stage(padded2d(w.dwFilter!, k * k, m, k * k, roundUp4(m)), w.dwBias, w.dwPreluActivationWeights);
  stage(
    padded2d(w.projectFilter!, m, cout, roundUp4(m), roundUp4(cout)),
    w.projectBias,
    w.projectPreluActivationWeights,
  );
  const packed = tf.concat(sections);
  if (packed.size !== layout.size) {
    throw new Error(`packed ${packed.size} floats, the layout has ${layout.size}`);
  }
  return packed;
}

/**
 * Packs a block's weights once for `fused.invertedResidual({..., packed})`.
 * The packed tensor lives on the current backend; dispose the result when
 * the model is disposed.
 */
export function packInvertedResidual(weights: InvertedResidualWeights): PackedInvertedResidual {
  const opName = 'packInvertedResidual';
  const w = floatTensors(weights, WEIGHT_NAMES, opName);
  const layout = layoutOf(w, opName);
  const packed = tf.tidy(() => packWeights(w, layout));
  return { weights: packed, layout, dispose: () => packed.dispose() };
}

function stage(
  bias: tf.Tensor | undefined,
  activation: FusedActivation,
  prelu: tf.Tensor | undefined,
  alpha: number,
) {
  return { bias, activation, preluWeights: prelu, leakyreluAlpha: alpha } as StageTensors;
}

/** The kernel attributes from an op's arguments (the defaults of `tf.fused.conv2d` where it has them). */
function blockAttrs(
  args: Omit<InvertedResidualArgs, 'x' | keyof InvertedResidualWeights | 'packed'>,
  layout: InvertedResidualLayout,
): FusedInvertedResidualAttrs {
  return {
    layout,
    strides: args.strides ?? 1,
    pad: args.pad ?? 'same',
    dilations: args.dilations ?? 1,
    dataFormat: args.dataFormat ?? 'NHWC',
    dimRoundingMode: args.dimRoundingMode,
    expandActivation: args.expandActivation ?? 'linear',
    expandLeakyreluAlpha: args.expandLeakyreluAlpha ?? 0.2,
    dwActivation: args.dwActivation ?? 'linear',
    dwLeakyreluAlpha: args.dwLeakyreluAlpha ?? 0.2,
    projectActivation: args.projectActivation ?? 'linear',
    projectLeakyreluAlpha: args.projectLeakyreluAlpha ?? 0.2,
    residual: args.residual ?? false,
    tile: args.tile,
  };
}

/**
 * Checks the block with the kernel's own rules on every backend (so a block
 * that runs on cpu runs fused too); true when the fused kernel will run it.
 */
function checkBlock(opName: string, x: tf.Tensor4D, attrs: FusedInvertedResidualAttrs, allowKernel: boolean) {
  const limits = backendLimits();
  const hasKernel =
    allowKernel && limits != null && tf.getKernel(FusedInvertedResidual, tf.getBackend()) != null;
  const shapes = { x: x.shape, weights: [attrs.layout.size] };
  const support = isSupported(
    shapes,
    hasKernel ? attrs : { ...attrs, tile: undefined },
    hasKernel ? limits! : UNLIMITED,
  );
  if (!support.supported) throw new Error(`${opName}: ${support.reason}`);
  return hasKernel;
}

/** The fused kernel on the packed weights (the caller has checked the block). */
export function runBlockKernel(
  x: tf.Tensor4D,
  packed: tf.Tensor,
  attrs: FusedInvertedResidualAttrs,
): tf.Tensor4D {
  return tf
    .engine()
    .runKernel(
      FusedInvertedResidual,
      { x, weights: packed },
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor4D;
}

function invertedResidual_(args: InvertedResidualArgs): tf.Tensor4D {
  const opName = 'invertedResidual';
  const w = floatTensors(args, WEIGHT_NAMES, opName);
  const x = floatTensors(args, ['x'] as const, opName, ['x']).x as tf.Tensor4D;
  const layout = layoutOf(w, opName);
  if (args.packed != null && JSON.stringify(args.packed.layout) !== JSON.stringify(layout)) {
    throw new Error(`${opName}: 'packed' was packed from weights of other shapes`);
  }
  const attrs = blockAttrs(args, layout);
  const hasKernel = checkBlock(opName, x, attrs, true);
  if (hasKernel) {
    return tf.tidy(() => runBlockKernel(x, args.packed?.weights ?? packWeights(w, layout), attrs));
  }
  return tf.tidy(() => stockInvertedResidual(x, w, attrs));
}

/** The block with stock ops (backends without the fused kernel). */
function stockInvertedResidual(
  x: tf.Tensor4D,
  w: WeightTensors,
  attrs: FusedInvertedResidualAttrs,
): tf.Tensor4D {
  const expanded = stockPointwise(
    x,
    w.expandFilter!,
    stage(w.expandBias, attrs.expandActivation, w.expandPreluActivationWeights, attrs.expandLeakyreluAlpha!),
  );
  const depthwise = stockDepthwise(
    expanded,
    w.dwFilter as tf.Tensor4D,
    asPair(attrs.strides, 1),
    attrs.pad,
    attrs.dimRoundingMode,
    stage(w.dwBias, attrs.dwActivation, w.dwPreluActivationWeights, attrs.dwLeakyreluAlpha!),
  );
  const out = stockPointwise(
    depthwise,
    w.projectFilter!,
    stage(
      w.projectBias,
      attrs.projectActivation,
      w.projectPreluActivationWeights,
      attrs.projectLeakyreluAlpha!,
    ),
  );
  return attrs.residual ? tf.add(out, x) : out;
}

export const invertedResidual = tf.op({ invertedResidual_ });

/** Arguments of `invertedResidualPacked`: the block input and only its packed weights. */
export interface InvertedResidualPackedArgs
  extends Omit<InvertedResidualArgs, (typeof WEIGHT_NAMES)[number] | 'packed'> {
  /** The packed weights, [layout.size] (from `packInvertedResidual` or `packInvertedResidualData`). */
  packed: tf.Tensor1D | tf.TensorLike;
  layout: InvertedResidualLayout;
  /** Run the stock ops even where the fused kernel exists (a block the kernel cannot run). */
  stock?: boolean;
}

/**
 * The block's weights sliced back out of its packed buffer (for the stock
 * path): filters [1,1,Cin,M], [k,k,M,1], [1,1,M,Cout], biases [C], PReLU
 * weights in their packed shape.
 */
export function unpackInvertedResidual(
  packed: tf.Tensor1D,
  layout: InvertedResidualLayout,
): Required<Pick<InvertedResidualWeights, 'expandFilter' | 'dwFilter' | 'projectFilter'>> & WeightTensors {
  const { inChannels: cin, expandedChannels: m, outChannels: cout, kernelSize: k } = layout;
  const matrix = (offset: number, rows: number, cols: number) =>
    tf.slice(
      tf.reshape(tf.slice(packed, offset, rows * roundUp4(cols)), [rows, roundUp4(cols)]),
      [0, 0],
      [rows, cols],
    );
  const vector = (offset: number, size: number, shape: number[]) =>
    offset < 0 ? undefined : tf.reshape(tf.slice(packed, offset, size), shape);
  const alpha = (s: InvertedResidualLayout['expand']) =>
    s.alphaShape == null
      ? undefined
      : vector(
          s.alpha,
          s.alphaShape.reduce((a, b) => a * b, 1),
          s.alphaShape,
        );
  return {
    expandFilter: tf.reshape(matrix(layout.expand.weights, cin, m), [1, 1, cin, m]),
    expandBias: vector(layout.expand.bias, m, [m]),
    expandPreluActivationWeights: alpha(layout.expand),
    dwFilter: tf.reshape(matrix(layout.depthwise.weights, k * k, m), [k, k, m, 1]) as tf.Tensor4D,
    dwBias: vector(layout.depthwise.bias, m, [m]),
    dwPreluActivationWeights: alpha(layout.depthwise),
    projectFilter: tf.reshape(matrix(layout.project.weights, m, cout), [1, 1, m, cout]),
    projectBias: vector(layout.project.bias, cout, [cout]),
    projectPreluActivationWeights: alpha(layout.project),
  };
}

function invertedResidualPacked_(args: InvertedResidualPackedArgs): tf.Tensor4D {
  const opName = 'invertedResidualPacked';
  const { x, packed } = floatTensors(args, ['x', 'packed'] as const, opName, ['x', 'packed']) as {
    x: tf.Tensor4D;
    packed: tf.Tensor1D;
  };
  const { layout } = args;
  const layoutError = layout == null ? 'missing layout' : checkLayout(layout);
  if (layoutError != null) throw new Error(`${opName}: ${layoutError}`);
  if (packed.rank !== 1 || packed.size !== layout.size) {
    throw new Error(
      `${opName}: packed of shape ${JSON.stringify(packed.shape)}, the layout needs [${layout.size}]`,
    );
  }
  const attrs = blockAttrs(args, layout);
  const hasKernel = checkBlock(opName, x, attrs, !args.stock);
  if (hasKernel) {
    return runBlockKernel(x, packed, attrs);
  }
  return tf.tidy(() => stockInvertedResidual(x, unpackInvertedResidual(packed, layout), attrs));
}

/**
 * `invertedResidual` from the block input and its packed weights alone: the
 * fused kernel on `webgpu-fused`, elsewhere (or with `stock`) stock ops on
 * weights sliced back out of the packed buffer.
 */
export const invertedResidualPacked = tf.op({ invertedResidualPacked_ });
