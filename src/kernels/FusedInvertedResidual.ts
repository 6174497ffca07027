/**
 * Kernel `FusedInvertedResidual`: a whole MobileNetV2-style block, expansion
 * 1x1 → depthwise k×k → projection 1x1 (each with optional bias and
 * activation) plus an optional residual (the block input added to the
 * output), in one dispatch (also when the expanded channels are split across
 * workgroups: the last workgroup of each block adds the partial sums up in
 * the backend's scratch buffer; two dispatches with `reduce: 'pass'`). Inputs: x [N,H,W,Cin] and `weights`, every filter, bias and
 * PReLU weight of the block packed into one float32 tensor (see
 * inverted_residual_layout.ts and the op `fused.packInvertedResidual`), so
 * the kernel binds three storage buffers on any device. Output [N,Ho,Wo,Cout].
 */

import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { backend_util, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { CheckMemo, rememberCheck } from './check_cache';
import {
  checkLayout,
  InvertedResidualLayout,
  isKnownLayout,
  PackedStageLayout,
  roundUp4,
} from './inverted_residual_layout';
import { InvertedResidualReduceProgram } from './inverted_residual_reduce_webgpu';
import {
  defaultIrTile,
  irInlineReduce,
  irScratchLayout,
  irSplits,
  irTileFits,
} from './inverted_residual_tile';
import { WebGPUFusedBackend } from '../backend/webgpu_fused_backend';
import { InvertedResidualProgram } from './inverted_residual_webgpu';
import {
  asPair,
  checkBindings,
  checkCommonAttrs,
  checkStage,
  depthwiseConvInfo,
  epilogueUniformData,
  kernelLimitsOf,
  StageAttrs,
  stageAttrsOf,
  stageEpilogueOf,
} from './fused_conv_util';
import { FusedActivation, FusedPadding, IrProblem, IrTile, KernelLimits, Support } from './types';

export const FusedInvertedResidual = 'FusedInvertedResidual';

export interface FusedInvertedResidualInputs {
  x: TensorInfo;
  /** The packed block weights, [layout.size]. */
  weights: TensorInfo;
}

export interface FusedInvertedResidualAttrs {
  /** Where each weight lives in `weights` (from `fused.packInvertedResidual`). */
  layout: InvertedResidualLayout;
  /** Depthwise strides; both 1x1 convolutions have stride 1. */
  strides: number | [number, number];
  pad: FusedPadding;
  dilations?: number | [number, number];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  expandActivation: FusedActivation;
  expandLeakyreluAlpha?: number;
  dwActivation: FusedActivation;
  dwLeakyreluAlpha?: number;
  projectActivation: FusedActivation;
  projectLeakyreluAlpha?: number;
  /** Add x to the output (after the projection's activation); needs stride 1 and Cin = Cout. */
  residual: boolean;
  /** Tile parameters; missing fields take the defaults for the shapes. */
  tile?: Partial<IrTile>;
}

export interface InvertedResidualShapes {
  x: readonly number[];
  weights: readonly number[];
}

interface BlockStages {
  expand: StageAttrs;
  dw: StageAttrs;
  project: StageAttrs;
}

function stageOf(packed: PackedStageLayout, channels: number, activation: FusedActivation, alpha?: number) {
  return stageAttrsOf(packed.bias >= 0 ? [channels] : undefined, activation, packed.alphaShape, alpha);
}

function blockStages(attrs: FusedInvertedResidualAttrs): BlockStages {
  const { layout } = attrs;
  return {
    expand: stageOf(
      layout.expand,
      layout.expandedChannels,
      attrs.expandActivation,
      attrs.expandLeakyreluAlpha,
    ),
    dw: stageOf(layout.depthwise, layout.expandedChannels, attrs.dwActivation, attrs.dwLeakyreluAlpha),
    project: stageOf(
      layout.project,
      layout.outChannels,
      attrs.projectActivation,
      attrs.projectLeakyreluAlpha,
    ),
  };
}

/** Shapes of the block as the planner sees them, or why they are not a block this kernel runs. */
export function irProblem(
  shapes: InvertedResidualShapes,
  attrs: FusedInvertedResidualAttrs,
): { problem: IrProblem; convInfo: backend_util.Conv2DInfo } | { error: string } {
  const { x, weights } = shapes;
  const common = checkCommonAttrs(x, attrs.dataFormat, attrs.dilations, attrs.strides);
  if (common != null) return { error: common };
  const { layout } = attrs;
  if (layout == null) return { error: 'missing the packed weights layout' };
  const layoutError = checkLayout(layout);
  if (layoutError != null) return { error: layoutError };
  const k = layout.kernelSize;
  if (k > 7) return { error: `depthwise kernel ${k}x${k}: only square kernels up to 7x7` };
  if (x[3] !== layout.inChannels) {
    return { error: `x has ${x[3]} channels, the block's expansion takes ${layout.inChannels}` };
  }
  if (weights.length !== 1 || weights[0] !== layout.size) {
    return { error: `packed weights of shape ${JSON.stringify(weights)}, the layout needs [${layout.size}]` };
  }
  const strides = asPair(attrs.strides, 1);
  const m = layout.expandedChannels;
  const convInfo = depthwiseConvInfo(
    [x[0], x[1], x[2], m],
    [k, k, m, 1],
    strides,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  if ('error' in convInfo) return convInfo;
  return {
    convInfo,
    problem: {
      batch: x[0],
      inHeight: x[1],
      inWidth: x[2],
      inChannels: x[3],
      expandedChannels: m,
      outChannels: layout.outChannels,
      kernelSize: k,
      stride: Math.max(...strides),
      outHeight: convInfo.outHeight,
      outWidth: convInfo.outWidth,
    },
  };
}

/**
 * The tile the kernel runs: `tile`'s fields over the default tile's. `splits`
 * and `stageWeights` come from the default only when no tile is given: they
 * only suit the default's shape.
 */
export function resolveIrTile(problem: IrProblem, limits: KernelLimits, tile?: Partial<IrTile>): IrTile {
  const base = defaultIrTile(problem, limits);
  if (tile != null) {
    delete base.splits;
    delete base.stageWeights;
  }
  return { ...base, ...tile };
}

interface CheckedBlock {
  problem: IrProblem;
  convInfo: backend_util.Conv2DInfo;
  stages: BlockStages;
  tile: IrTile;
}

const checkedBlocks = new CheckMemo<CheckedBlock | { reason: string }>();

/**
 * The legality rules and the geometry and tile the kernel uses, remembered
 * per packed layout (known, immutable layouts only) and input.
 */
function checkBlock(
  shapes: InvertedResidualShapes,
  attrs: FusedInvertedResidualAttrs,
  limits: KernelLimits,
): CheckedBlock | { reason: string } {
  const { layout } = attrs;
  const anchor = layout != null && isKnownLayout(layout) ? layout : null;
  return rememberCheck(checkedBlocks, anchor, [shapes.x, shapes.weights, limits, attrs], () =>
    computeBlock(shapes, attrs, limits),
  );
}

function computeBlock(
  shapes: InvertedResidualShapes,
  attrs: FusedInvertedResidualAttrs,
  limits: KernelLimits,
): CheckedBlock | { reason: string } {
  const block = irProblem(shapes, attrs);
  if ('error' in block) return { reason: block.error };
  const { problem, convInfo } = block;
  const stages = blockStages(attrs);
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = problem;
  const checks: Support[] = [
    checkStage('expansion', stages.expand, h, w, problem.expandedChannels),
    checkStage('depthwise', stages.dw, oh, ow, problem.expandedChannels),
    checkStage('projection', stages.project, oh, ow, problem.outChannels),
  ];
  if (attrs.residual) {
    if (oh !== h || ow !== w || problem.inChannels !== problem.outChannels) {
      checks.push({
        supported: false,
        reason:
          `a residual needs the output shape to equal the input's: ` +
          `[${h},${w},${problem.inChannels}] -> [${oh},${ow},${problem.outChannels}]`,
      });
    }
  }
  const tile = resolveIrTile(problem, limits, attrs.tile);
  const pixels = problem.batch * oh * ow;
  const largest = Math.max(
    shapes.x.reduce((a, b) => a * b, 1),
    pixels * irSplits(tile) * roundUp4(problem.outChannels),
    attrs.layout.size,
  );
  checks.push(checkBindings(3, largest, limits));
  checks.push(
    irTileFits(
      tile,
      {
        kernelSize: problem.kernelSize,
        strides: [convInfo.strideHeight, convInfo.strideWidth],
        inChannels: problem.inChannels,
      },
      limits,
    ),
  );
  const failed = checks.find((check) => !check.supported);
  if (failed != null) return { reason: failed.reason! };
  return { problem, convInfo, stages, tile };
}

/** Whether the kernel can run this block on a device with `limits` (the planner and the rewrite ask this). */
export function isSupported(
  shapes: InvertedResidualShapes,
  attrs: FusedInvertedResidualAttrs,
  limits: KernelLimits,
): Support {
  const checked = checkBlock(shapes, attrs, limits);
  return 'reason' in checked ? { supported: false, reason: checked.reason } : { supported: true };
}

const layoutOffsets = new WeakMap<InvertedResidualLayout, number[]>();

function offsetUniforms(layout: InvertedResidualLayout): number[] {
  const known = layoutOffsets.get(layout);
  if (known != null) return known;
  const offsets = [layout.expand, layout.depthwise, layout.project].flatMap((s) => [
    s.weights,
    s.bias,
    s.alpha,
  ]);
  if (isKnownLayout(layout)) layoutOffsets.set(layout, offsets);
  return offsets;
}

/**
 * The scratch bindings (counters, slots) of an inline split reduction, or
 * null when the tile has none or the kernel cannot run it: inline needs the
 * fused backend's scratch buffer (a stock backend the kernel was copied onto
 * has none) and a scratch that fits one storage binding.
 */
function inlineScratch(
  tile: IrTile,
  problem: IrProblem,
  backend: WebGPUBackend,
  limits: KernelLimits,
): GPUBufferBinding[] | null {
  if (!irInlineReduce(tile) || !(backend instanceof WebGPUFusedBackend)) return null;
  const { countersBytes, slotsBytes } = irScratchLayout(problem, tile);
  if (countersBytes + slotsBytes > limits.maxStorageBufferBindingSize) return null;
  const buffer = backend.scratchBuffer(countersBytes + slotsBytes);
  return [
    { buffer, offset: 0, size: countersBytes },
    { buffer, offset: countersBytes, size: slotsBytes },
  ];
}

export function fusedInvertedResidual(args: {
  inputs: FusedInvertedResidualInputs;
  attrs: FusedInvertedResidualAttrs;
  backend: WebGPUBackend;
}): TensorInfo {
  const { inputs, attrs, backend } = args;
  const limits = kernelLimitsOf(backend.device.limits);
  const checked = checkBlock({ x: inputs.x.shape, weights: inputs.weights.shape }, attrs, limits);
  if ('reason' in checked) {
    throw new Error(`${FusedInvertedResidual}: ${checked.reason}`);
  }
  const { problem, convInfo, stages } = checked;
  const scratch = inlineScratch(checked.tile, problem, backend, limits);
  // A split tile whose inline reduction cannot run here adds up its partials in a pass.
  const tile: IrTile =
    scratch == null && irInlineReduce(checked.tile) ? { ...checked.tile, reduce: 'pass' } : checked.tile;
  const { outHeight: oh, outWidth: ow } = problem;
  const uniforms = [
    { type: 'int32' as const, data: [convInfo.padInfo.top, convInfo.padInfo.left] },
    ...[problem.expandedChannels, problem.outChannels, ...offsetUniforms(attrs.layout)].map((v) => ({
      type: 'int32' as const,
      data: [v],
    })),
    ...epilogueUniformData(stages.expand, problem.inHeight, problem.inWidth, problem.expandedChannels),
    ...epilogueUniformData(stages.dw, oh, ow, problem.expandedChannels),
    ...epilogueUniformData(stages.project, oh, ow, problem.outChannels),
  ];
  const program = new InvertedResidualProgram({
    batch: problem.batch,
    outHeight: oh,
    outWidth: ow,
    inChannels: problem.inChannels,
    outChannels: problem.outChannels,
    kernelSize: problem.kernelSize,
    strides: [convInfo.strideHeight, convInfo.strideWidth],
    epilogues: {
      expand: stageEpilogueOf(stages.expand),
      dw: stageEpilogueOf(stages.dw),
      project: stageEpilogueOf(stages.project),
    },
    residual: attrs.residual,
    tile,
    maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
  });
  if (scratch != null) program.extraBindings = scratch;
  const blockOut = backend.runWebGPUProgram(program, [inputs.x, inputs.weights], 'float32', uniforms);
  const splits = irSplits(tile);
  if (splits === 1 || scratch != null) return blockOut;
  const reduce = new InvertedResidualReduceProgram({
    outputShape: [problem.batch, oh, ow, problem.outChannels],
    inChannels: problem.inChannels,
    splits,
    project: stageEpilogueOf(stages.project),
    residual: attrs.residual,
    maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
  });
  const reduceInputs = [blockOut];
  if (reduce.readsWeights) reduceInputs.push(inputs.weights);
  if (attrs.residual) reduceInputs.push(inputs.x);
  const out = backend.runWebGPUProgram(reduce, reduceInputs, 'float32', uniforms);
  backend.disposeData(blockOut.dataId);
  return out;
}

export const fusedInvertedResidualConfig: KernelConfig = {
  kernelName: FusedInvertedResidual,
  backendName: 'webgpu-fused',
  kernelFunc: fusedInvertedResidual as unknown as KernelFunc,
};
