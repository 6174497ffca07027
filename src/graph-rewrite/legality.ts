/**
 * The last word on a structurally fusable site: its real shapes and
 * attributes handed to the fused kernel's own `isSupported` (the rules live
 * beside each kernel; nothing is re-encoded here).
 */

import {
  DwPwShapes,
  FusedDepthwisePointwiseConv2DAttrs,
  isSupported as isDwPwSupported,
} from '../kernels/FusedDepthwisePointwiseConv2D';
import {
  FusedPointwiseDepthwiseConv2DAttrs,
  PwDwShapes,
  isSupported as isPwDwSupported,
} from '../kernels/FusedPointwiseDepthwiseConv2D';
import { DwPwTile, FusedPadding, KernelLimits, PwDwTile, Support } from '../kernels/types';
import { ConvSpec } from './conv';
import { FinalStage, FoldContext, FoldError, TensorValue } from './epilogue';
import { SiteCandidate } from './match';

/** A site with its final stages, shapes and kernel attributes. */
export interface ResolvedSite {
  candidate: SiteCandidate;
  first: FinalStage;
  second: FinalStage;
  /** Site input [N,H,W,C] and output [N,Ho,Wo,F], when known. */
  inShape?: number[];
  outShape?: number[];
  pad: FusedPadding;
  shapes?: DwPwShapes | PwDwShapes;
  /** Problems found while resolving (folds, unknown shapes). */
  problems: string[];
}

export type Tile = DwPwTile | PwDwTile;

export function fusedPadding(padding: ConvSpec['padding']): FusedPadding {
  if (!Array.isArray(padding)) return padding;
  return padding.every(([a, b]) => a === 0 && b === 0) ? 'valid' : padding;
}

export function shapeOfValue(ctx: FoldContext, value: TensorValue | undefined): number[] | undefined {
  if (value == null) return undefined;
  return value.kind === 'new' ? value.shape : ctx.shapes.shapeOf(value.name);
}

/**
 * The input and output shapes of a site or block, or undefined after adding
 * the problem (a dynamic input size, or an op the propagation misses).
 */
export function siteShapes(
  ctx: FoldContext,
  candidate: { input: string; output: { name: string } },
  problems: string[],
): { inShape: number[]; outShape: number[] } | undefined {
  const inShape = ctx.shapes.shapeOf(candidate.input);
  const outShape = ctx.shapes.shapeOf(candidate.output.name);
  if (inShape == null || outShape == null) {
    problems.push(
      `shapes unknown at '${inShape == null ? candidate.input : candidate.output.name}' ` +
        '(dynamic input size or an op the shape propagation does not cover)',
    );
    return undefined;
  }
  return { inShape, outShape };
}

/** Final stages and shapes of a candidate (problems when a fold or a shape fails). */
export function resolveSite(ctx: FoldContext, candidate: SiteCandidate): ResolvedSite {
  const problems = [...candidate.problems];
  const pad = fusedPadding(candidate.dwPadding);
  let first: FinalStage = {
    filter: { kind: 'tensor', name: candidate.convs[0].filter },
    activation: 'linear',
  };
  let second: FinalStage = {
    filter: { kind: 'tensor', name: candidate.convs[1].filter },
    activation: 'linear',
  };
  try {
    first = candidate.stages[0].finalize();
    second = candidate.stages[1].finalize();
  } catch (e) {
    if (!(e instanceof FoldError)) throw e;
    problems.push(e.message);
  }
  const resolved: ResolvedSite = { candidate, first, second, pad, problems };
  if (problems.length > 0) return resolved;
  const shapes = siteShapes(ctx, candidate, problems);
  if (shapes == null) return resolved;
  Object.assign(resolved, shapes);
  const x = shapes.inShape;
  const optional = (stage: FinalStage) => ({
    bias: shapeOfValue(ctx, stage.bias),
    prelu: stage.prelu == null ? undefined : ctx.shapes.shapeOf(stage.prelu),
  });
  const [a, b] = [optional(first), optional(second)];
  for (const [stage, opt] of [
    [first, a],
    [second, b],
  ] as const) {
    if (stage.prelu != null && opt.prelu == null)
      problems.push(`PReLU weights '${stage.prelu}' have no known shape`);
    if (stage.bias != null && opt.bias == null) problems.push('bias has no known shape');
  }
  const firstFilter = shapeOfValue(ctx, first.filter)!;
  const secondFilter = shapeOfValue(ctx, second.filter)!;
  resolved.shapes =
    candidate.kind === 'dwpw'
      ? {
          x,
          dwFilter: firstFilter,
          pwFilter: secondFilter,
          dwBias: a.bias,
          dwPreluActivationWeights: a.prelu,
          pwBias: b.bias,
          pwPreluActivationWeights: b.prelu,
        }
      : {
          x,
          pwFilter: firstFilter,
          dwFilter: secondFilter,
          pwBias: a.bias,
          pwPreluActivationWeights: a.prelu,
          dwBias: b.bias,
          dwPreluActivationWeights: b.prelu,
        };
  return resolved;
}

export function dwPwAttrs(site: ResolvedSite, tile?: Tile): FusedDepthwisePointwiseConv2DAttrs {
  return {
    strides: site.candidate.strides,
    pad: site.pad,
    dilations: 1,
    dataFormat: 'NHWC',
    dwActivation: site.first.activation,
    dwLeakyreluAlpha: site.first.leakyreluAlpha ?? 0.2,
    pwActivation: site.second.activation,
    pwLeakyreluAlpha: site.second.leakyreluAlpha ?? 0.2,
    tile: tile as Partial<DwPwTile> | undefined,
  };
}

export function pwDwAttrs(site: ResolvedSite, tile?: Tile): FusedPointwiseDepthwiseConv2DAttrs {
  return {
    strides: site.candidate.strides,
    pad: site.pad,
    dilations: 1,
    dataFormat: 'NHWC',
    pwActivation: site.first.activation,
    pwLeakyreluAlpha: site.first.leakyreluAlpha ?? 0.2,
    dwActivation: site.second.activation,
    dwLeakyreluAlpha: site.second.leakyreluAlpha ?? 0.2,
    tile: tile as Partial<PwDwTile> | undefined,
  };
}

/** The fused kernel's verdict on the site on a device with `limits` (default tile unless given). */
export function kernelSupport(site: ResolvedSite, limits: KernelLimits, tile?: Tile): Support {
  if (site.problems.length > 0) return { supported: false, reason: site.problems.join('; ') };
  if (site.shapes == null) return { supported: false, reason: 'shapes unknown' };
  return site.candidate.kind === 'dwpw'
    ? isDwPwSupported(site.shapes as DwPwShapes, dwPwAttrs(site, tile), limits)
    : isPwDwSupported(site.shapes as PwDwShapes, pwDwAttrs(site, tile), limits);
}
