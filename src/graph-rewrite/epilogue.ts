/**
 * Folding the elementwise ops around a convolution into a fused stage:
 *
 * - before the stage's activation, a per-channel or scalar affine op
 *   (`BiasAdd`, `Add/AddV2/Sub/Mul/RealDiv` with a constant,
 *   `FusedBatchNormV3` in inference mode) folds into the stage's own filter
 *   and bias: conv(x)·s + t = conv_{W·s}(x) + (b·s + t), exact;
 * - the activation itself (one op or a recognized subgraph) becomes the
 *   stage's activation;
 * - after the activation nothing folds into that stage. Between two convs an
 *   affine op after the activation folds into the NEXT conv's input side:
 *   exact for a 1x1 conv, and for a depthwise only while it reads no zero
 *   padding (a shift would otherwise also have to apply to the padded
 *   zeros), so a shift in front of a padded depthwise leaves the site alone.
 *
 * New filter/bias values are computed here (float32); the rewrite stores
 * them as new constants.
 */

import { FusedActivation } from '../kernels/types';
import { ActivationRegion, matchActivationRegion } from './activation_forms';
import { ConvSpec, ExplicitPadding } from './conv';
import { Consumer, GraphIndex } from './graph_index';
import { NodeJson, boolAttr, numberAttr, parseTensorName, stringAttr } from './model_json';
import { ShapeInference } from './shapes';
import { WeightTable } from './weights';

export interface FoldContext {
  graph: GraphIndex;
  weights: WeightTable;
  shapes: ShapeInference;
}

/** A tensor input of the fused node: an existing tensor, or new float32 values. */
export type TensorValue =
  | { kind: 'tensor'; name: string }
  | { kind: 'new'; shape: number[]; values: Float32Array };

/** One stage of a fused node, ready to encode. */
export interface FinalStage {
  filter: TensorValue;
  bias?: TensorValue;
  activation: FusedActivation;
  prelu?: string;
  leakyreluAlpha?: number;
}

/** y = x·scale + shift per channel. */
export interface Affine {
  scale: Float32Array;
  shift: Float32Array;
  /** Whether any shift is non-zero (a shift cannot pass zero padding). */
  hasShift: boolean;
}

export function readConstValues(ctx: FoldContext, tensor: string, what: string): Float32Array {
  const name = float32ConstName(ctx, tensor, what);
  const value = ctx.weights.read(name);
  if (value.dtype !== 'float32') throw new FoldError(`${what} '${tensor}' is ${value.dtype}, not float32`);
  return value.values as Float32Array;
}

/** The number of values `readConstValues` would return, from the manifest alone (nothing is decoded). */
export function constLength(ctx: FoldContext, tensor: string, what: string): number {
  const spec = ctx.weights.spec(float32ConstName(ctx, tensor, what))!;
  if (spec.dtype !== 'float32') throw new FoldError(`${what} '${tensor}' is ${spec.dtype}, not float32`);
  return spec.shape.reduce((a, b) => a * b, 1);
}

/** The weight name of a constant (output 0 of a Const node with weights), else a FoldError / missing-weights Error. */
function float32ConstName(ctx: FoldContext, tensor: string, what: string): string {
  const ref = parseTensorName(tensor);
  const node = ctx.graph.get(ref.node);
  if (node?.op !== 'Const' || ref.output !== 0) throw new FoldError(`${what} '${tensor}' is not a constant`);
  if (!ctx.weights.has(node.name)) {
    throw new Error(
      `graph rewrite: missing weights: constant '${node.name}' has no entry in the weights manifest`,
    );
  }
  return node.name;
}

/** A reason a fold is not possible (reported on the site, not thrown to the user). */
export class FoldError extends Error {}

/**
 * The per-channel values (length `channels`) of a constant operand that
 * broadcasts along the channel axis only: a scalar, [C], [1,C], [1,1,C] or
 * [1,1,1,C].
 */
export function perChannelConst(
  ctx: FoldContext,
  tensor: string,
  channels: number,
  what: string,
): Float32Array {
  const shape = ctx.shapes.shapeOf(tensor);
  const values = readConstValues(ctx, tensor, what);
  if (values.length === 1) return new Float32Array(channels).fill(values[0]);
  if (
    shape == null ||
    shape.length > 4 ||
    shape[shape.length - 1] !== channels ||
    values.length !== channels
  ) {
    throw new FoldError(
      `${what} '${tensor}' of shape [${shape?.join(',')}] is not per-channel (${channels})`,
    );
  }
  return values.slice();
}

const ones = (n: number) => new Float32Array(n).fill(1);

export function identityAffine(channels: number): Affine {
  return { scale: ones(channels), shift: new Float32Array(channels), hasShift: false };
}

/** a then b. */
export function composeAffine(a: Affine, b: Affine): Affine {
  const scale = a.scale.map((s, i) => s * b.scale[i]);
  const shift = a.shift.map((t, i) => t * b.scale[i] + b.shift[i]);
  return { scale, shift, hasShift: a.hasShift || b.hasShift };
}

/**
 * A stage being assembled: the conv's filter and bias (possibly with new
 * values), activation and PReLU/LeakyReLU parameters.
 */
export class StageBuilder {
  filterValues?: Float32Array;
  biasTensor?: string;
  biasValues?: Float32Array;
  activation: FusedActivation;
  prelu?: string;
  leakyreluAlpha?: number;
  readonly notes: string[] = [];

  constructor(
    readonly conv: ConvSpec,
    private readonly ctx: FoldContext,
  ) {
    this.biasTensor = conv.epilogue.bias;
    this.activation = conv.epilogue.activation;
    this.prelu = conv.epilogue.prelu;
    this.leakyreluAlpha = conv.epilogue.leakyreluAlpha;
  }

  get channels(): number {
    return this.conv.outChannels!;
  }

  clone(): StageBuilder {
    const copy = new StageBuilder(this.conv, this.ctx);
    copy.filterValues = this.filterValues?.slice();
    copy.biasTensor = this.biasTensor;
    copy.biasValues = this.biasValues?.slice();
    copy.activation = this.activation;
    copy.prelu = this.prelu;
    copy.leakyreluAlpha = this.leakyreluAlpha;
    copy.notes.push(...this.notes);
    return copy;
  }

  private filter(): Float32Array {
    this.filterValues ??= readConstValues(this.ctx, this.conv.filter, 'filter').slice();
    return this.filterValues;
  }

  private bias(): Float32Array {
    if (this.biasValues == null) {
      this.biasValues =
        this.biasTensor == null
          ? new Float32Array(this.channels)
          : perChannelConst(this.ctx, this.biasTensor, this.channels, 'bias');
      this.biasTensor = undefined;
    }
    return this.biasValues;
  }

  /** Folds y = conv(x)·scale + shift (before the activation) into filter and bias. */
  foldOutputAffine(affine: Affine, by: NodeJson, shiftTensor?: string): void {
    if (this.activation !== 'linear') throw new Error('internal: fold after the activation');
    const scaled = affine.scale.some((s) => s !== 1);
    if (scaled) {
      const w = this.filter();
      const c = this.channels;
      for (let i = 0; i < w.length; i++) w[i] *= affine.scale[i % c];
    }
    const exactShape =
      shiftTensor != null && this.ctx.shapes.shapeOf(shiftTensor)?.join() === String(this.channels);
    if (!scaled && this.biasTensor == null && this.biasValues == null && exactShape) {
      this.biasTensor = shiftTensor; // a plain BiasAdd: reuse the constant as it is
    } else if (scaled || affine.hasShift) {
      const b = this.bias();
      for (let i = 0; i < b.length; i++) b[i] = b[i] * affine.scale[i] + affine.shift[i];
    }
    this.notes.push(`${by.op} '${by.name}' folded into ${this.conv.kind} '${this.conv.node.name}'`);
  }

  /**
   * Folds an affine map on the conv's INPUT channels: conv(x·s + t).
   * Callers make sure no zero padding is read when t ≠ 0.
   */
  foldInputAffine(affine: Affine, from: string): void {
    const w = this.filter();
    const inChannels = this.conv.filterShape![2];
    const outChannels = this.channels;
    const extra = new Float32Array(outChannels);
    if (this.conv.kind === 'pw') {
      // [1,1,Cin,F]: out f += sum_c W[c,f]·t[c]; W[c,f] *= s[c].
      for (let c = 0; c < inChannels; c++) {
        for (let f = 0; f < outChannels; f++) {
          const i = c * outChannels + f;
          extra[f] += w[i] * affine.shift[c];
          w[i] *= affine.scale[c];
        }
      }
    } else {
      // [k,k,C,1]: out c += t[c]·sum W[.,.,c]; W[.,.,c] *= s[c].
      for (let i = 0; i < w.length; i++) {
        const c = i % outChannels;
        extra[c] += w[i] * affine.shift[c];
        w[i] *= affine.scale[c];
      }
    }
    if (affine.hasShift) {
      const b = this.bias();
      for (let i = 0; i < b.length; i++) b[i] += extra[i];
    }
    this.notes.push(
      `affine ops after ${from} folded into the input of ${this.conv.kind} '${this.conv.node.name}'`,
    );
  }

  setActivation(activation: FusedActivation, by: NodeJson[], prelu?: string, leakyreluAlpha?: number): void {
    this.activation = activation;
    this.prelu = prelu;
    this.leakyreluAlpha = leakyreluAlpha;
    const names = by.map((n) => `'${n.name}'`).join(', ');
    this.notes.push(`${activation} (${names}) fused into ${this.conv.kind} '${this.conv.node.name}'`);
  }

  finalize(): FinalStage {
    const shape = this.conv.filterShape!;
    const stage: FinalStage = {
      filter:
        this.filterValues != null
          ? { kind: 'new', shape: shape.slice(), values: this.filterValues }
          : { kind: 'tensor', name: this.conv.filter },
      activation: this.activation,
    };
    if (this.biasValues != null)
      stage.bias = { kind: 'new', shape: [this.channels], values: this.biasValues };
    else if (this.biasTensor != null) stage.bias = { kind: 'tensor', name: this.biasTensor };
    if (this.prelu != null) stage.prelu = this.prelu;
    if (this.leakyreluAlpha != null) stage.leakyreluAlpha = this.leakyreluAlpha;
    return stage;
  }
}

// ---------------------------------------------------------------------------
// One step along a chain of elementwise ops.

export type Step =
  | { kind: 'identity' }
  | { kind: 'affine'; affine: Affine; shiftTensor?: string }
  | { kind: 'activation'; activation: FusedActivation; prelu?: string; leakyreluAlpha?: number }
  /** A path op that cannot be fused (reported as the reason). */
  | { kind: 'blocked'; reason: string }
  /** Not an elementwise op on the path (a residual add, a pool, ...). */
  | { kind: 'end' };

const SIMPLE_ACTIVATIONS: Record<string, FusedActivation> = {
  Relu: 'relu',
  Relu6: 'relu6',
  Elu: 'elu',
  Sigmoid: 'sigmoid',
};

const UNSUPPORTED_ACTIVATIONS = new Set(['Tanh', 'Selu', 'Softplus', 'Softsign', 'Gelu']);

function isConstTensor(ctx: FoldContext, tensor: string): boolean {
  return ctx.graph.get(parseTensorName(tensor).node)?.op === 'Const';
}

/** What node `n` does to the tensor it reads at data input `inputIndex`, `channels` wide. */
export function classifyStep(ctx: FoldContext, n: NodeJson, inputIndex: number, channels: number): Step {
  const inputs = ctx.graph.dataInputs(n);
  const other = inputs[1 - inputIndex];
  const affine = (scale?: Float32Array, shift?: Float32Array): Affine => ({
    scale: scale ?? ones(channels),
    shift: shift ?? new Float32Array(channels),
    hasShift: shift != null && shift.some((v) => v !== 0),
  });
  const wrap = (f: () => Step): Step => {
    try {
      const step = f();
      if (step.kind === 'affine' && ![...step.affine.scale, ...step.affine.shift].every(Number.isFinite)) {
        return { kind: 'blocked', reason: `${n.op} '${n.name}': folding it would give non-finite weights` };
      }
      return step;
    } catch (e) {
      if (e instanceof FoldError) return { kind: 'blocked', reason: `${n.op} '${n.name}': ${e.message}` };
      throw e;
    }
  };
  switch (n.op) {
    case 'Identity':
      return inputIndex === 0 ? { kind: 'identity' } : { kind: 'end' };
    case 'BiasAdd': {
      if (inputIndex !== 0 || !isConstTensor(ctx, other)) return { kind: 'end' };
      if ((stringAttr(n, 'data_format') ?? 'NHWC').toUpperCase() !== 'NHWC') {
        return { kind: 'blocked', reason: `BiasAdd '${n.name}' is NCHW` };
      }
      return wrap(() => ({
        kind: 'affine',
        affine: affine(undefined, perChannelConst(ctx, other, channels, 'bias')),
        shiftTensor: other,
      }));
    }
    case 'Add':
    case 'AddV2':
      if (inputs.length !== 2 || !isConstTensor(ctx, other)) return { kind: 'end' };
      return wrap(() => ({
        kind: 'affine',
        affine: affine(undefined, perChannelConst(ctx, other, channels, 'addend')),
        shiftTensor: other,
      }));
    case 'Sub':
      if (inputs.length !== 2 || !isConstTensor(ctx, other)) return { kind: 'end' };
      return wrap(() => {
        const c = perChannelConst(ctx, other, channels, 'subtrahend');
        return inputIndex === 0
          ? {
              kind: 'affine',
              affine: affine(
                undefined,
                c.map((v) => -v),
              ),
            }
          : { kind: 'affine', affine: affine(new Float32Array(channels).fill(-1), c) };
      });
    case 'Mul':
      if (inputs.length !== 2 || !isConstTensor(ctx, other)) return { kind: 'end' };
      return wrap(() => ({
        kind: 'affine',
        affine: affine(perChannelConst(ctx, other, channels, 'factor')),
      }));
    case 'RealDiv':
    case 'Div':
      if (inputIndex !== 0 || inputs.length !== 2 || !isConstTensor(ctx, other)) return { kind: 'end' };
      return wrap(() => ({
        kind: 'affine',
        affine: affine(perChannelConst(ctx, other, channels, 'divisor').map((v) => 1 / v)),
      }));
    case 'FusedBatchNorm':
    case 'FusedBatchNormV2':
    case 'FusedBatchNormV3':
      if (inputIndex !== 0) return { kind: 'end' };
      return wrap(() => batchNormStep(ctx, n, channels, affine));
    case 'LeakyRelu':
      return inputIndex === 0
        ? { kind: 'activation', activation: 'leakyrelu', leakyreluAlpha: numberAttr(n, 'alpha') ?? 0.2 }
        : { kind: 'end' };
    case 'Prelu':
      return inputIndex === 0
        ? { kind: 'activation', activation: 'prelu', prelu: inputs[1] }
        : { kind: 'end' };
    default:
      break;
  }
  if (SIMPLE_ACTIVATIONS[n.op] != null) {
    return inputIndex === 0 ? { kind: 'activation', activation: SIMPLE_ACTIVATIONS[n.op] } : { kind: 'end' };
  }
  if (UNSUPPORTED_ACTIVATIONS.has(n.op)) {
    return { kind: 'blocked', reason: `${n.op} '${n.name}' is not an activation the fused kernels have` };
  }
  return { kind: 'end' };
}

function batchNormStep(
  ctx: FoldContext,
  n: NodeJson,
  channels: number,
  affine: (scale?: Float32Array, shift?: Float32Array) => Affine,
): Step {
  if (boolAttr(n, 'is_training') === true)
    return { kind: 'blocked', reason: `${n.op} '${n.name}' is in training mode` };
  if ((stringAttr(n, 'data_format') ?? 'NHWC').toUpperCase() !== 'NHWC') {
    return { kind: 'blocked', reason: `${n.op} '${n.name}' is NCHW` };
  }
  if (ctx.graph.consumers(n.name).some((c) => c.output !== 0)) {
    return { kind: 'blocked', reason: `${n.op} '${n.name}': its batch statistics outputs are read` };
  }
  const [, scaleT, offsetT, meanT, varianceT] = ctx.graph.dataInputs(n);
  const gamma = perChannelConst(ctx, scaleT, channels, 'scale');
  const beta = perChannelConst(ctx, offsetT, channels, 'offset');
  const mean = perChannelConst(ctx, meanT, channels, 'mean');
  const variance = perChannelConst(ctx, varianceT, channels, 'variance');
  const epsilon = numberAttr(n, 'epsilon') ?? 1e-3;
  const scale = gamma.map((g, i) => g / Math.sqrt(variance[i] + epsilon));
  return {
    kind: 'affine',
    affine: affine(
      scale,
      beta.map((b, i) => b - mean[i] * scale[i]),
    ),
  };
}

// ---------------------------------------------------------------------------
// Zero padding in front of a depthwise.

/** The explicit padding a Pad/PadV2 node adds, when it is a zero pad of H and W only. */
export function zeroPadOf(ctx: FoldContext, pad: NodeJson): { pairs: ExplicitPadding } | { problem: string } {
  if (pad.op !== 'Pad' && pad.op !== 'PadV2') return { problem: `${pad.op} '${pad.name}' is not a zero pad` };
  const inputs = ctx.graph.dataInputs(pad);
  if (pad.op === 'PadV2') {
    const value = inputs[2] == null ? 0 : scalarValue(ctx, inputs[2]);
    if (value !== 0) {
      return { problem: `PadV2 '${pad.name}' pads with ${value ?? 'a non-constant value'}, not zero` };
    }
  }
  const paddingsNode = ctx.graph.inputNode(pad, 1);
  if (paddingsNode?.op !== 'Const' || !ctx.weights.has(paddingsNode.name)) {
    return { problem: `${pad.op} '${pad.name}' has non-constant paddings` };
  }
  const p = Array.from(ctx.weights.read(paddingsNode.name).values, Number);
  if (p.length !== 8) return { problem: `${pad.op} '${pad.name}' is not a 4-D pad` };
  if (p.some((v) => v < 0)) return { problem: `${pad.op} '${pad.name}' has negative paddings` };
  if (p[0] || p[1] || p[6] || p[7]) return { problem: `${pad.op} '${pad.name}' pads the batch or channels` };
  return {
    pairs: [
      [0, 0],
      [p[2], p[3]],
      [p[4], p[5]],
      [0, 0],
    ],
  };
}

function scalarValue(ctx: FoldContext, tensor: string): number | undefined {
  const node = ctx.graph.get(parseTensorName(tensor).node);
  if (node?.op !== 'Const' || !ctx.weights.has(node.name)) return undefined;
  const v = ctx.weights.read(node.name).values;
  return v.length === 1 ? Number(v[0]) : undefined;
}

/** A depthwise's padding with a zero Pad folded in, or why it cannot be. */
export function combinePadding(
  dwPadding: ConvSpec['padding'],
  pad: ExplicitPadding,
  padName: string,
): ConvSpec['padding'] | { problem: string } {
  if (dwPadding === 'same') {
    return { problem: `Pad '${padName}' before a SAME depthwise (the total would depend on the input size)` };
  }
  const base: ExplicitPadding =
    dwPadding === 'valid'
      ? [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, 0],
        ]
      : dwPadding;
  return base.map(([a, b], i) => [a + pad[i][0], b + pad[i][1]]) as ExplicitPadding;
}

export const readsPadding = (padding: ConvSpec['padding']): boolean =>
  padding === 'same' || (Array.isArray(padding) && padding.some(([a, b]) => a !== 0 || b !== 0));

// ---------------------------------------------------------------------------
// Trailing epilogue of a site's last stage.

/**
 * Absorbs the ops after the last conv that fold into its own epilogue
 * (pre-activation affine ops, one activation); stops at the first op that
 * does not, at a tensor with several consumers or at a kept output.
 */
export function absorbTrailing(
  ctx: FoldContext,
  first: StageBuilder,
  start: string,
): { stage: StageBuilder; absorbed: NodeJson[] } {
  const absorbed: NodeJson[] = [];
  let stage = first;
  let tensor = start;
  for (let guard = 0; guard < 32; guard++) {
    if (ctx.graph.isKept(tensor)) break;
    if (stage.activation === 'linear') {
      const region: ActivationRegion | undefined = matchActivationRegion(ctx.graph, ctx.weights, tensor);
      if (region != null) {
        stage = stage.clone();
        stage.setActivation(region.activation, region.nodes);
        absorbed.push(...region.nodes);
        tensor = region.exit.name;
        continue;
      }
    }
    const consumers = ctx.graph.consumers(tensor);
    if (consumers.length !== 1 || consumers[0].control || consumers[0].output !== 0) break;
    const { node } = consumers[0];
    const step = classifyStep(ctx, node, dataIndexOf(consumers[0]), stage.channels);
    const next = stage.clone();
    try {
      if (step.kind === 'affine' && stage.activation === 'linear') {
        next.foldOutputAffine(step.affine, node, step.shiftTensor);
      } else if (step.kind === 'activation' && stage.activation === 'linear') {
        if (step.activation === 'prelu' && step.prelu != null && ctx.shapes.shapeOf(step.prelu) == null)
          break;
        next.setActivation(step.activation, [node], step.prelu, step.leakyreluAlpha);
      } else {
        break;
      }
    } catch (e) {
      if (e instanceof FoldError) break;
      throw e;
    }
    stage = next;
    absorbed.push(node);
    tensor = node.name;
  }
  return { stage, absorbed };
}

/** Index of a consumer edge among the consumer's data inputs. */
export function dataIndexOf(consumer: Consumer): number {
  const inputs = consumer.node.input ?? [];
  let index = 0;
  for (let i = 0; i < consumer.inputIndex; i++) if (!inputs[i].startsWith('^')) index++;
  return index;
}
