/**
 * Shapes of single depthwise and pointwise layers (NHWC, float32) and the
 * conversions from the kernels' two-layer problems.
 */

import { DwPwProblem, IrProblem, PwDwProblem } from '../kernels/types';

export const BYTES_PER_ELEMENT = 4;

/** A depthwise k×k convolution, channel multiplier 1. */
export interface DwLayerShape {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  kernelSize: number;
  stride: number;
  outHeight: number;
  outWidth: number;
}

/** A 1x1 stride-1 convolution. */
export interface PwLayerShape {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
}

export function dwLayerOfDwPw(p: DwPwProblem): DwLayerShape {
  return {
    batch: p.batch,
    inHeight: p.inHeight,
    inWidth: p.inWidth,
    channels: p.channels,
    kernelSize: p.kernelSize,
    stride: p.stride,
    outHeight: p.outHeight,
    outWidth: p.outWidth,
  };
}

export function pwLayerOfDwPw(p: DwPwProblem): PwLayerShape {
  return {
    batch: p.batch,
    height: p.outHeight,
    width: p.outWidth,
    inChannels: p.channels,
    outChannels: p.outChannels,
  };
}

export function pwLayerOfPwDw(p: PwDwProblem): PwLayerShape {
  return {
    batch: p.batch,
    height: p.inHeight,
    width: p.inWidth,
    inChannels: p.inChannels,
    outChannels: p.channels,
  };
}

export function dwLayerOfPwDw(p: PwDwProblem): DwLayerShape {
  return {
    batch: p.batch,
    inHeight: p.inHeight,
    inWidth: p.inWidth,
    channels: p.channels,
    kernelSize: p.kernelSize,
    stride: p.stride,
    outHeight: p.outHeight,
    outWidth: p.outWidth,
  };
}

/**
 * Padding before the first row (or column), inferred from the sizes the way
 * TF "SAME" splits it (the odd element goes after: a stride-2 3x3 on an
 * even size pads 0 before, 1 after). "VALID" sizes give 0.
 */
/** The expansion 1x1 of an inverted-residual block. */
export function expandLayerOfIr(p: IrProblem): PwLayerShape {
  return {
    batch: p.batch,
    height: p.inHeight,
    width: p.inWidth,
    inChannels: p.inChannels,
    outChannels: p.expandedChannels,
  };
}

/** The depthwise of an inverted-residual block. */
export function dwLayerOfIr(p: IrProblem): DwLayerShape {
  return {
    batch: p.batch,
    inHeight: p.inHeight,
    inWidth: p.inWidth,
    channels: p.expandedChannels,
    kernelSize: p.kernelSize,
    stride: p.stride,
    outHeight: p.outHeight,
    outWidth: p.outWidth,
  };
}

/** The projection 1x1 of an inverted-residual block. */
export function projectLayerOfIr(p: IrProblem): PwLayerShape {
  return {
    batch: p.batch,
    height: p.outHeight,
    width: p.outWidth,
    inChannels: p.expandedChannels,
    outChannels: p.outChannels,
  };
}

export function paddingBefore(inSize: number, outSize: number, kernelSize: number, stride: number): number {
  const total = Math.max(0, (outSize - 1) * stride + kernelSize - inSize);
  return Math.floor(total / 2);
}

/** Input rows [first, last] that output row `row` reads, clipped to the image (empty: first > last). */
export function inputSpan(
  row: number,
  inSize: number,
  kernelSize: number,
  stride: number,
  padBefore: number,
): [number, number] {
  const first = row * stride - padBefore;
  return [Math.max(0, first), Math.min(inSize - 1, first + kernelSize - 1)];
}

export const dwInputElements = (d: DwLayerShape) => d.batch * d.inHeight * d.inWidth * d.channels;
export const dwOutputElements = (d: DwLayerShape) => d.batch * d.outHeight * d.outWidth * d.channels;
export const dwWeightElements = (d: DwLayerShape) => d.kernelSize * d.kernelSize * d.channels;
export const dwFlops = (d: DwLayerShape) => 2 * d.kernelSize * d.kernelSize * dwOutputElements(d);

export const pwPixels = (p: PwLayerShape) => p.batch * p.height * p.width;
export const pwInputElements = (p: PwLayerShape) => pwPixels(p) * p.inChannels;
export const pwOutputElements = (p: PwLayerShape) => pwPixels(p) * p.outChannels;
export const pwWeightElements = (p: PwLayerShape) => p.inChannels * p.outChannels;
export const pwFlops = (p: PwLayerShape) => 2 * pwPixels(p) * p.inChannels * p.outChannels;
