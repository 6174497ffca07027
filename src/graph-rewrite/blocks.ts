/**
 * Legality and packing of PW→DW→PW chains (whole inverted-residual blocks):
 * the chain's three folded stages, its shapes, the packed-weights layout,
 * the `FusedInvertedResidual` kernel's own `isSupported`, and the packed
 * float32 data computed offline from the folded weights.
 */

import { FusedInvertedResidualAttrs, isSupported as isIrSupported } from '../kernels/FusedInvertedResidual';
import {
  InvertedResidualData,
  InvertedResidualLayout,
  InvertedResidualLengths,
  invertedResidualDataProblem,
  invertedResidualLayout,
  packInvertedResidualData,
} from '../kernels/inverted_residual_layout';
import { FusedPadding, IrTile, KernelLimits, Support } from '../kernels/types';
import { FinalStage, FoldContext, FoldError, TensorValue, constLength, readConstValues } from './epilogue';
import { fusedPadding, shapeOfValue, siteShapes } from './legality';
import { ChainCandidate } from './match';

/** A chain with its final stages, shapes, layout and kernel attributes. */
export interface ResolvedBlock {
  candidate: ChainCandidate;
  /** Expansion, depthwise, projection. */
  stages: [FinalStage, FinalStage, FinalStage];
  inShape?: number[];
  outShape?: number[];
  pad: FusedPadding;
  layout?: InvertedResidualLayout;
  /** The packed weights, made once when the rewrite needs them (resolving checks they can be made). */
  packed?: Float32Array;
  problems: string[];
}

/** Final stages, shapes and packed layout of a chain (problems when one cannot be had). */
export function resolveBlock(ctx: FoldContext, candidate: ChainCandidate): ResolvedBlock {
  const problems = [...candidate.problems];
  const linear = (name: string): FinalStage => ({ filter: { kind: 'tensor', name }, activation: 'linear' });
  const block: ResolvedBlock = {
    candidate,
    stages: [linear(candidate.pwdw.convs[0].filter), linear(candidate.pwdw.convs[1].filter), linear('')],
    pad: fusedPadding(candidate.dwPadding),
    problems,
  };
  if (problems.length > 0) return block;
  try {
    block.stages = candidate.stages.map((s) => s.finalize()) as ResolvedBlock['stages'];
  } catch (e) {
    if (!(e instanceof FoldError)) throw e;
    problems.push(e.message);
    return block;
  }
  const shapes = siteShapes(ctx, candidate, problems);
  if (shapes == null) return block;
  Object.assign(block, shapes);
  const [expand, dw, project] = block.stages;
  const [ef, df, pf] = block.stages.map((s) => shapeOfValue(ctx, s.filter));
  if (ef == null || df == null || pf == null || ef.length !== 4 || df.length !== 4 || pf.length !== 4) {
    problems.push('filter shapes unknown');
    return block;
  }
  if (df[0] !== df[1]) problems.push(`depthwise kernel ${df[0]}x${df[1]} is not square`);
  const alphaShape = (stage: FinalStage) => {
    if (stage.prelu == null) return undefined;
    const shape = ctx.shapes.shapeOf(stage.prelu);
    if (shape == null) problems.push(`PReLU weights '${stage.prelu}' have no known shape`);
    return shape;
  };
  block.layout = invertedResidualLayout({
    inChannels: ef[2],
    expandedChannels: ef[3],
    outChannels: pf[3],
    kernelSize: df[0],
    expandBias: expand.bias != null,
    expandAlphaShape: alphaShape(expand),
    dwBias: dw.bias != null,
    dwAlphaShape: alphaShape(dw),
    projectBias: project.bias != null,
    projectAlphaShape: alphaShape(project),
  });
  // The packed data must be computable offline: every weight a float32 constant
  // of the layout's size. Only chosen blocks are packed (by the rewrite).
  try {
    const problem = invertedResidualDataProblem(block.layout, blockLengths(ctx, block));
    if (problem != null) problems.push(`packInvertedResidualData: ${problem}`);
  } catch (e) {
    if (!(e instanceof FoldError)) throw e;
    problems.push(e.message);
  }
  return block;
}

export function blockAttrs(block: ResolvedBlock, tile?: Partial<IrTile>): FusedInvertedResidualAttrs {
  const [expand, dw, project] = block.stages;
  return {
    layout: block.layout!,
    strides: block.candidate.strides,
    pad: block.pad,
    dilations: 1,
    dataFormat: 'NHWC',
    expandActivation: expand.activation,
    expandLeakyreluAlpha: expand.leakyreluAlpha ?? 0.2,
    dwActivation: dw.activation,
    dwLeakyreluAlpha: dw.leakyreluAlpha ?? 0.2,
    projectActivation: project.activation,
    projectLeakyreluAlpha: project.leakyreluAlpha ?? 0.2,
    residual: block.candidate.residual,
    tile,
  };
}

/** The `FusedInvertedResidual` kernel's verdict on the block on a device with `limits`. */
export function blockSupport(block: ResolvedBlock, limits: KernelLimits, tile?: Partial<IrTile>): Support {
  if (block.problems.length > 0) return { supported: false, reason: block.problems.join('; ') };
  if (block.layout == null || block.inShape == null) return { supported: false, reason: 'shapes unknown' };
  return isIrSupported({ x: block.inShape, weights: [block.layout.size] }, blockAttrs(block, tile), limits);
}

/** The block's packed weights (`packInvertedResidualData` over the folded stages), made once. */
export function packedBlockData(ctx: FoldContext, block: ResolvedBlock): Float32Array {
  block.packed ??= packInvertedResidualData(block.layout!, blockData(ctx, block));
  return block.packed;
}

/** The folded stages' weights as plain arrays (constants are read once and cached by the weight table). */
function blockData(ctx: FoldContext, block: ResolvedBlock): InvertedResidualData {
  return blockArrays(ctx, block, readConstValues) as InvertedResidualData;
}

/** The lengths of `blockData`'s arrays, from the manifest (for blocks that may not be chosen). */
function blockLengths(ctx: FoldContext, block: ResolvedBlock): InvertedResidualLengths {
  return blockArrays(ctx, block, (c, tensor, what) => ({ length: constLength(c, tensor, what) }));
}

function blockArrays<T extends { readonly length: number }>(
  ctx: FoldContext,
  block: ResolvedBlock,
  constant: (ctx: FoldContext, tensor: string, what: string) => T,
): { [K in keyof InvertedResidualData]: T | Float32Array | undefined } {
  const values = (value: TensorValue | undefined, what: string) =>
    value == null ? undefined : value.kind === 'new' ? value.values : constant(ctx, value.name, what);
  const prelu = (stage: FinalStage) =>
    stage.prelu == null ? undefined : constant(ctx, stage.prelu, 'PReLU weights');
  const [expand, dw, project] = block.stages;
  return {
    expandFilter: values(expand.filter, 'filter')!,
    expandBias: values(expand.bias, 'bias'),
    expandAlpha: prelu(expand),
    dwFilter: values(dw.filter, 'filter')!,
    dwBias: values(dw.bias, 'bias'),
    dwAlpha: prelu(dw),
    projectFilter: values(project.filter, 'filter')!,
    projectBias: values(project.bias, 'bias'),
    projectAlpha: prelu(project),
  };
}
