/**
 * Static shape propagation over a GraphDef: model.json carries no
 * intermediate shapes, so the planner's NHWC shapes are computed here from
 * the input shapes, the weight shapes and the ops' attributes. Covers the
 * ops of convolutional image models (convolutions, pooling, elementwise,
 * padding, concat, reshape, reductions, resize, matmul); anything else makes
 * its output (and everything downstream) unknown, and sites without known
 * shapes are reported and left unfused rather than guessed.
 */

import * as tf from '@tensorflow/tfjs-core';

import { GraphIndex } from './graph_index';
import {
  NodeJson,
  boolAttr,
  intListAttr,
  numberAttr,
  parseTensorName,
  shapeOfJson,
  stringAttr,
  tensorKey,
} from './model_json';
import { WeightTable } from './weights';

export type Shape = number[];

const SAME_SHAPE_OPS = new Set([
  'Identity',
  'Snapshot',
  'StopGradient',
  'Relu',
  'Relu6',
  'Elu',
  'Selu',
  'Sigmoid',
  'Tanh',
  'LeakyRelu',
  'Softplus',
  'Softsign',
  'Neg',
  'Abs',
  'Sqrt',
  'Rsqrt',
  'Square',
  'Exp',
  'Log',
  'Log1p',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Cast',
  'ClipByValue',
  'Erf',
  'Softmax',
  'LogSoftmax',
  'Reciprocal',
  'Sin',
  'Cos',
  'BiasAdd',
  'FusedBatchNorm',
  'FusedBatchNormV2',
  'FusedBatchNormV3',
]);

const BROADCAST_OPS = new Set([
  'Add',
  'AddV2',
  'AddN',
  'Sub',
  'Mul',
  'RealDiv',
  'Div',
  'DivNoNan',
  'Maximum',
  'Minimum',
  'SquaredDifference',
  'Pow',
  'FloorDiv',
  'FloorMod',
  'Prelu',
]);

const CONV_OPS = new Set([
  'Conv2D',
  '_FusedConv2D',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2dNative',
  'DepthwiseConv2d',
]);

const REDUCE_OPS = new Set(['Mean', 'Sum', 'Max', 'Min', 'Prod', 'Any', 'All']);

const known = (s: Shape | undefined): s is Shape =>
  s != null && s.every((d) => Number.isInteger(d) && d >= 0);

export function broadcastShapes(shapes: Shape[]): Shape | undefined {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (dim !== 1 && dim !== d) return undefined;
      dim = d;
    }
    out.push(dim);
  }
  return out;
}

/**
 * Conv/pool padding as tfjs's conv_util takes it: 'same', 'valid' or four
 * explicit [before, after] pairs (NHWC order).
 */
export function convPadding(node: NodeJson): 'same' | 'valid' | [number, number][] | undefined {
  const padding = stringAttr(node, 'padding')?.toUpperCase();
  if (padding === 'SAME') return 'same';
  if (padding === 'VALID') return 'valid';
  if (padding === 'EXPLICIT') {
    const p = intListAttr(node, 'explicit_paddings') ?? [];
    if (p.length !== 8) return undefined;
    return [
      [p[0], p[1]],
      [p[2], p[3]],
      [p[4], p[5]],
      [p[6], p[7]],
    ];
  }
  return undefined;
}

export class ShapeInference {
  private readonly shapes = new Map<string, Shape | null>();

  constructor(
    private readonly graph: GraphIndex,
    private readonly weights: WeightTable,
    /** Concrete shapes of Placeholder nodes, by node name. */
    private readonly inputShapes: Map<string, Shape>,
  ) {}

  /** Shape of a tensor name ('node', 'node:1'), or undefined when unknown. */
  shapeOf(tensor: string): Shape | undefined {
    const ref = parseTensorName(tensor);
    const key = tensorKey(ref);
    if (!this.shapes.has(key)) this.computeFrom(ref.node);
    const s = this.shapes.get(key);
    return s == null ? undefined : s.slice();
  }

  /** Computes the node and any unvisited inputs: depth-first without recursion (deep graphs). */
  private computeFrom(start: string): void {
    const stack: Array<{ name: string; expanded: boolean }> = [{ name: start, expanded: false }];
    // Nodes whose inputs are being computed: meeting one again is a cycle (v1 control flow),
    // which leaves its shape unknown rather than looping.
    const inProgress = new Set<string>();
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (this.shapes.has(top.name)) {
        stack.pop();
        continue;
      }
      const node = this.graph.get(top.name);
      if (node == null) {
        this.shapes.set(top.name, null);
        stack.pop();
        continue;
      }
      if (!top.expanded) {
        top.expanded = true;
        inProgress.add(top.name);
        for (const input of this.graph.dataInputs(node)) {
          const producer = parseTensorName(input).node;
          if (!this.shapes.has(producer) && !inProgress.has(producer))
            stack.push({ name: producer, expanded: false });
        }
        continue;
      }
      this.infer(node);
      inProgress.delete(top.name);
      stack.pop();
    }
  }

  private inputShape(node: NodeJson, index: number): Shape | undefined {
    const input = this.graph.dataInputs(node)[index];
    if (input == null) return undefined;
    const key = tensorKey(parseTensorName(input));
    const s = this.shapes.get(key);
    return s == null ? undefined : s;
  }

  /** Integer values of a constant input (for paddings, axes, sizes). */
  private constInts(node: NodeJson, index: number): number[] | undefined {
    const producer = this.graph.inputNode(node, index);
    if (producer?.op !== 'Const' || !this.weights.has(producer.name)) return undefined;
    try {
      return Array.from(this.weights.read(producer.name).values, Number);
    } catch {
      return undefined;
    }
  }

  private set(node: NodeJson, shape: Shape | undefined, output = 0): void {
    this.shapes.set(tensorKey({ node: node.name, output }), known(shape) ? shape : null);
  }

  private infer(node: NodeJson): void {
    let shape: Shape | undefined;
    try {
      shape = this.inferOutput0(node);
    } catch {
      shape = undefined;
    }
    this.set(node, shape);
    if (node.op.startsWith('FusedBatchNorm')) {
      // Outputs 1..4 are per-channel statistics; reading them blocks folding anyway.
      for (let k = 1; k <= 5; k++) this.set(node, undefined, k);
    }
  }

  private inferOutput0(node: NodeJson): Shape | undefined {
    const op = node.op;
    const x = this.inputShape(node, 0);
    if (op === 'Placeholder') {
      return this.inputShapes.get(node.name) ?? shapeOfJson(node.attr?.shape?.shape);
    }
    if (op === 'Const') {
      return this.weights.spec(node.name)?.shape ?? shapeOfJson(node.attr?.value?.tensor?.tensorShape);
    }
    if (SAME_SHAPE_OPS.has(op)) return x;
    if (BROADCAST_OPS.has(op)) {
      const inputs = this.graph.dataInputs(node).map((_, i) => this.inputShape(node, i));
      return inputs.every(known) ? broadcastShapes(inputs) : undefined;
    }
    if (CONV_OPS.has(op)) return this.convShape(node, x);
    if (op === 'MaxPool' || op === 'AvgPool') return this.poolShape(node, x);
    if (x == null) return undefined;
    switch (op) {
      case 'Pad':
      case 'PadV2':
      case 'MirrorPad': {
        const p = this.constInts(node, 1);
        if (p == null || p.length !== 2 * x.length) return undefined;
        return x.map((d, i) => d + p[2 * i] + p[2 * i + 1]);
      }
      case 'ConcatV2': {
        const inputs = this.graph.dataInputs(node);
        const axisValue = this.constInts(node, inputs.length - 1);
        const parts = inputs.slice(0, -1).map((_, i) => this.inputShape(node, i));
        if (axisValue == null || !parts.every(known)) return undefined;
        const axis = axisValue[0] < 0 ? axisValue[0] + x.length : axisValue[0];
        const out = parts[0].slice();
        out[axis] = parts.reduce((n, s) => n + s[axis], 0);
        return out;
      }
      case 'Reshape': {
        const target = this.constInts(node, 1);
        if (target == null) return undefined;
        const size = x.reduce((a, b) => a * b, 1);
        const fixed = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        return target.map((d) => (d === -1 ? size / fixed : d));
      }
      case 'Squeeze': {
        const dims = (intListAttr(node, 'squeeze_dims') ?? []).map((d) => (d < 0 ? d + x.length : d));
        return x.filter((d, i) => (dims.length > 0 ? !dims.includes(i) : d !== 1));
      }
      case 'ExpandDims': {
        const axis = this.constInts(node, 1)?.[0];
        if (axis == null) return undefined;
        const at = axis < 0 ? axis + x.length + 1 : axis;
        return [...x.slice(0, at), 1, ...x.slice(at)];
      }
      case 'Transpose': {
        const perm = this.constInts(node, 1);
        return perm == null ? undefined : perm.map((p) => x[p]);
      }
      case 'ResizeBilinear':
      case 'ResizeNearestNeighbor': {
        const size = this.constInts(node, 1);
        return size == null || x.length !== 4 ? undefined : [x[0], size[0], size[1], x[3]];
      }
      case 'DepthToSpace':
      case 'SpaceToDepth': {
        const b = numberAttr(node, 'block_size') ?? 1;
        if (x.length !== 4) return undefined;
        return op === 'DepthToSpace'
          ? [x[0], x[1] * b, x[2] * b, x[3] / (b * b)]
          : [x[0], x[1] / b, x[2] / b, x[3] * b * b];
      }
      case 'MatMul':
      case '_FusedMatMul': {
        const w = this.inputShape(node, 1);
        if (w == null || x.length !== 2 || w.length !== 2) return undefined;
        const m = boolAttr(node, 'transpose_a') ? x[1] : x[0];
        const n = boolAttr(node, 'transpose_b') ? w[0] : w[1];
        return [m, n];
      }
      default:
        break;
    }
    if (REDUCE_OPS.has(op)) {
      const axes = this.constInts(node, 1);
      if (axes == null) return undefined;
      const norm = axes.map((a) => (a < 0 ? a + x.length : a));
      const keep = boolAttr(node, 'keep_dims') ?? false;
      return keep ? x.map((d, i) => (norm.includes(i) ? 1 : d)) : x.filter((_, i) => !norm.includes(i));
    }
    return undefined;
  }

  private convShape(node: NodeJson, x: Shape | undefined): Shape | undefined {
    const filter = this.inputShape(node, 1);
    const pad = convPadding(node);
    if (x == null || filter == null || pad == null || x.length !== 4 || filter.length !== 4) return undefined;
    const channelsFirst = (stringAttr(node, 'data_format') ?? 'NHWC').toUpperCase() === 'NCHW';
    const s = intListAttr(node, 'strides') ?? [1, 1, 1, 1];
    const d = intListAttr(node, 'dilations') ?? [1, 1, 1, 1];
    const [sh, sw] = channelsFirst ? [s[2], s[3]] : [s[1], s[2]];
    const [dh, dw] = channelsFirst ? [d[2], d[3]] : [d[1], d[2]];
    const depthwise = node.op.startsWith('Depthwise') || node.op === 'FusedDepthwiseConv2dNative';
    const info = tf.backend_util.computeConv2DInfo(
      x as [number, number, number, number],
      filter as [number, number, number, number],
      [sh, sw],
      [dh, dw],
      pad as 'same',
      undefined,
      depthwise,
      channelsFirst ? 'channelsFirst' : 'channelsLast',
    );
    return info.outShape.slice();
  }

  private poolShape(node: NodeJson, x: Shape | undefined): Shape | undefined {
    const pad = convPadding(node);
    const k = intListAttr(node, 'ksize');
    const s = intListAttr(node, 'strides');
    if (x == null || x.length !== 4 || pad == null || k == null || s == null) return undefined;
    if ((stringAttr(node, 'data_format') ?? 'NHWC').toUpperCase() !== 'NHWC') return undefined;
    const info = tf.backend_util.computePool2DInfo(
      x as [number, number, number, number],
      [k[1], k[2]],
      [s[1], s[2]],
      1,
      pad as 'same',
    );
    return info.outShape.slice();
  }
}
