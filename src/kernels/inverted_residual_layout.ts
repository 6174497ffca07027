/**
 * Where each weight of an inverted-residual block lives in its packed buffer.
 *
 * A block has up to nine weight tensors (three filters, biases and PReLU
 * weights) besides its input, more storage buffers than WebGPU's default
 * limit of 8 per shader stage. They are packed once into one float32 buffer,
 * each section starting on a vec4 boundary and each filter row padded to a
 * multiple of 4 channels with zeros, so the kernel reads every filter and
 * bias with aligned vec4 loads whatever the channel counts, and zero rows
 * make padded channels contribute nothing.
 */

import { valueKey } from './check_cache';

export interface PackedStageLayout {
  /** Offsets in floats (multiples of 4); -1 when the stage has no such tensor. */
  weights: number;
  bias: number;
  alpha: number;
  /** Shape of the PReLU weights as given (they are stored flat, unpadded). */
  alphaShape?: number[];
}

export interface InvertedResidualLayout {
  inChannels: number;
  expandedChannels: number;
  outChannels: number;
  kernelSize: number;
  expand: PackedStageLayout;
  depthwise: PackedStageLayout;
  project: PackedStageLayout;
  /** Floats in the packed buffer (a multiple of 4). */
  size: number;
}

/** What the layout depends on: channel counts, kernel size and which epilogue tensors exist. */
export interface InvertedResidualLayoutSpec {
  inChannels: number;
  expandedChannels: number;
  outChannels: number;
  kernelSize: number;
  expandBias: boolean;
  expandAlphaShape?: readonly number[];
  dwBias: boolean;
  dwAlphaShape?: readonly number[];
  projectBias: boolean;
  projectAlphaShape?: readonly number[];
}

export const roundUp4 = (v: number): number => Math.ceil(v / 4) * 4;

/** Layouts by their spec's key (bounded: the oldest go first). */
const layouts = new Map<string, InvertedResidualLayout>();
const MAX_LAYOUTS = 256;

const positiveDims = (layout: InvertedResidualLayout) =>
  [layout.inChannels, layout.expandedChannels, layout.outChannels, layout.kernelSize].every(
    (d) => Number.isInteger(d) && d > 0,
  );

/** Layouts known to be well formed and immutable: made here, or deeply frozen ones that passed `checkLayout`. */
const validLayouts = new WeakSet<InvertedResidualLayout>();
const remember = (layout: InvertedResidualLayout) => validLayouts.add(layout);

/**
 * Filter sections, row-major with rows padded to 4 floats:
 *   expand [roundUp4(Cin)][roundUp4(M)], depthwise [k·k][roundUp4(M)],
 *   project [roundUp4(M)][roundUp4(Cout)];
 * biases [roundUp4(channels)]; PReLU weights flat.
 *
 * The layout is deeply frozen, and equal specs give the same object, so the
 * checks of the kernel and ops can remember their results per layout.
 */
export function invertedResidualLayout(spec: InvertedResidualLayoutSpec): InvertedResidualLayout {
  const key = valueKey([
    spec.inChannels,
    spec.expandedChannels,
    spec.outChannels,
    spec.kernelSize,
    spec.expandBias,
    spec.expandAlphaShape,
    spec.dwBias,
    spec.dwAlphaShape,
    spec.projectBias,
    spec.projectAlphaShape,
  ]);
  const known = key == null ? undefined : layouts.get(key);
  if (known != null) return known;
  const layout = computeLayout(spec);
  if (positiveDims(layout)) remember(layout);
  if (key != null) {
    if (layouts.size >= MAX_LAYOUTS) layouts.delete(layouts.keys().next().value as string);
    layouts.set(key, layout);
  }
  return layout;
}

function computeLayout(spec: InvertedResidualLayoutSpec): InvertedResidualLayout {
  const m4 = roundUp4(spec.expandedChannels);
  const out4 = roundUp4(spec.outChannels);
  let size = 0;
  const take = (floats: number) => {
    const offset = size;
    size += roundUp4(floats);
    return offset;
  };
  const stage = (
    weightFloats: number,
    channels: number,
    bias: boolean,
    alphaShape: readonly number[] | undefined,
  ): PackedStageLayout =>
    Object.freeze({
      weights: take(weightFloats),
      bias: bias ? take(channels) : -1,
      alpha: alphaShape != null ? take(alphaShape.reduce((a, b) => a * b, 1)) : -1,
      ...(alphaShape != null ? { alphaShape: Object.freeze([...alphaShape]) as number[] } : {}),
    });
  const expand = stage(roundUp4(spec.inChannels) * m4, m4, spec.expandBias, spec.expandAlphaShape);
  const depthwise = stage(spec.kernelSize * spec.kernelSize * m4, m4, spec.dwBias, spec.dwAlphaShape);
  const project = stage(m4 * out4, out4, spec.projectBias, spec.projectAlphaShape);
  return Object.freeze({
    inChannels: spec.inChannels,
    expandedChannels: spec.expandedChannels,
    outChannels: spec.outChannels,
    kernelSize: spec.kernelSize,
    expand,
    depthwise,
    project,
    size,
  });
}

const deeplyFrozen = (layout: InvertedResidualLayout) =>
  Object.isFrozen(layout) &&
  [layout.expand, layout.depthwise, layout.project].every(
    (s) => Object.isFrozen(s) && (s.alphaShape == null || Object.isFrozen(s.alphaShape)),
  );

/**
 * Whether `layout` is known to be well formed and immutable, so that results
 * computed from it may be remembered with it; otherwise check it with
 * `checkLayout` on every use.
 */
export function isKnownLayout(layout: InvertedResidualLayout): boolean {
  return validLayouts.has(layout);
}

/**
 * Why `layout` is not a well-formed layout (it comes from user attributes),
 * or null. Deeply frozen layouts are checked once.
 */
export function checkLayout(layout: InvertedResidualLayout): string | null {
  if (validLayouts.has(layout)) return null;
  if (!positiveDims(layout)) {
    const dims = [layout.inChannels, layout.expandedChannels, layout.outChannels, layout.kernelSize];
    return `invalid packed layout dimensions ${JSON.stringify(dims)}`;
  }
  const expected = invertedResidualLayout({
    inChannels: layout.inChannels,
    expandedChannels: layout.expandedChannels,
    outChannels: layout.outChannels,
    kernelSize: layout.kernelSize,
    expandBias: layout.expand.bias >= 0,
    expandAlphaShape: layout.expand.alphaShape,
    dwBias: layout.depthwise.bias >= 0,
    dwAlphaShape: layout.depthwise.alphaShape,
    projectBias: layout.project.bias >= 0,
    projectAlphaShape: layout.project.alphaShape,
  });
  if (JSON.stringify(expected) !== JSON.stringify(layout)) {
    return 'the packed layout does not match its dimensions (pack the weights with packInvertedResidual)';
  }
  if (deeplyFrozen(layout)) remember(layout);
  return null;
}

/** A block's weights as plain arrays, flat in their tensors' row-major order. */
export interface InvertedResidualData {
  /** [Cin·M] (a [1,1,Cin,M] filter). */
  expandFilter: Float32Array;
  expandBias?: Float32Array;
  expandAlpha?: Float32Array;
  /** [k·k·M] (a [k,k,M,1] filter). */
  dwFilter: Float32Array;
  dwBias?: Float32Array;
  dwAlpha?: Float32Array;
  /** [M·Cout] (a [1,1,M,Cout] filter). */
  projectFilter: Float32Array;
  projectBias?: Float32Array;
  projectAlpha?: Float32Array;
}

/** The lengths of a block's arrays (the arrays themselves will do). */
export type InvertedResidualLengths = {
  [K in keyof InvertedResidualData]: { readonly length: number } | undefined;
};

/** Why arrays of these lengths do not fit `layout` (a missing, extra or wrongly sized array), or null. */
export function invertedResidualDataProblem(
  layout: InvertedResidualLayout,
  data: InvertedResidualLengths,
): string | null {
  const { inChannels: cin, expandedChannels: m, outChannels: cout, kernelSize: k } = layout;
  const alphaSize = (s: PackedStageLayout) => (s.alphaShape ?? []).reduce((a, b) => a * b, 1);
  const checks: [string, { readonly length: number } | undefined, number, number | null][] = [
    // name, values, size, offset of an optional array (null: required)
    ['expandFilter', data.expandFilter, cin * m, null],
    ['expandBias', data.expandBias, m, layout.expand.bias],
    ['expandAlpha', data.expandAlpha, alphaSize(layout.expand), layout.expand.alpha],
    ['dwFilter', data.dwFilter, k * k * m, null],
    ['dwBias', data.dwBias, m, layout.depthwise.bias],
    ['dwAlpha', data.dwAlpha, alphaSize(layout.depthwise), layout.depthwise.alpha],
    ['projectFilter', data.projectFilter, m * cout, null],
    ['projectBias', data.projectBias, cout, layout.project.bias],
    ['projectAlpha', data.projectAlpha, alphaSize(layout.project), layout.project.alpha],
  ];
  for (const [name, values, size, offset] of checks) {
    if (offset != null && offset >= 0 !== (values != null)) {
      return `${name} is ${values == null ? 'missing' : 'not in the layout'}`;
    }
    if (values != null && values.length !== size)
      return `${name} has ${values.length} values, expected ${size}`;
  }
  return null;
}

/**
 * The packed buffer of `layout` from plain arrays: the same floats that
 * `fused.packInvertedResidual` produces on a backend, computed offline (the
 * graph rewrite stores it as one constant).
 */
export function packInvertedResidualData(
  layout: InvertedResidualLayout,
  data: InvertedResidualData,
): Float32Array {
  const problem = invertedResidualDataProblem(layout, data);
  if (problem != null) throw new Error(`packInvertedResidualData: ${problem}`);
  const { inChannels: cin, expandedChannels: m, outChannels: cout, kernelSize: k } = layout;
  const out = new Float32Array(layout.size);
  const rows = (values: Float32Array, offset: number, count: number, width: number) => {
    const stride = roundUp4(width);
    for (let r = 0; r < count; r++) out.set(values.subarray(r * width, (r + 1) * width), offset + r * stride);
  };
  const optional = (values: Float32Array | undefined, offset: number) => {
    if (values != null) out.set(values, offset);
  };
  rows(data.expandFilter, layout.expand.weights, cin, m);
  optional(data.expandBias, layout.expand.bias);
  optional(data.expandAlpha, layout.expand.alpha);
  rows(data.dwFilter, layout.depthwise.weights, k * k, m);
  optional(data.dwBias, layout.depthwise.bias);
  optional(data.dwAlpha, layout.depthwise.alpha);
  rows(data.projectFilter, layout.project.weights, m, cout);
  optional(data.projectBias, layout.project.bias);
  optional(data.projectAlpha, layout.project.alpha);
  return out;
}
