/**
 * Exports a TensorFlow.js GraphModel (model.json + weights) to an ONNX model,
 * so ONNX Runtime can run the same network as tfjs in the peer benchmark.
 *
 * - The ONNX model takes the tfjs NHWC input and transposes it once to NCHW;
 *   4-D outputs are transposed back, so inputs and outputs match tfjs exactly.
 * - The batch dimension is symbolic ('N'): one export serves every batch size.
 * - Weights come from tf.io.decodeWeights (uint8/float16-quantized weights are
 *   dequantized to float32 like the tfjs loader does).
 * - Depthwise convolutions become grouped Conv; TF "SAME" padding is made
 *   explicit from the static spatial sizes (stride 2 on an even size pads 0
 *   before and 1 after); Relu6 becomes Clip(0, 6).
 *
 * Only the ops the benchmark models use (and a few neighbours) are handled;
 * anything else fails with the node's name and op.
 */

import * as tf from '@tensorflow/tfjs-core';
import { onnx } from 'onnx-proto';

export interface OnnxExport {
  /** Serialized ONNX ModelProto. */
  bytes: Uint8Array;
  inputName: string;
  /** NHWC input shape with the batch as -1. */
  inputShape: number[];
  outputNames: string[];
  /** Output shapes in tfjs layout with the batch as -1. */
  outputShapes: number[][];
  /** Conv nodes emitted (grouped ones included), for reports. */
  convs: number;
}

export interface ExportOptions {
  /** tfjs output node names (default: the signature's outputs, else the graph's sinks). */
  outputs?: string[];
  /** ai.onnx opset (default 13). */
  opset?: number;
}

interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

interface TfAttr {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { i?: Array<string | number>; s?: string[]; f?: number[] };
  shape?: { dim?: Array<{ size: string | number }> };
}

/** A constant from the weights, in tfjs (NHWC) layout. */
interface ConstValue {
  kind: 'const';
  data: Float32Array | Int32Array;
  shape: number[];
  dtype: string;
}

/**
 * A graph tensor: `shape` is its tfjs shape (batch -1); `nchw` says whether the
 * ONNX tensor named `name` holds a rank-4 value in NCHW order.
 */
interface GraphValue {
  kind: 'value';
  name: string;
  shape: number[];
  nchw: boolean;
}

type Value = ConstValue | GraphValue;

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];
/** Position of a tfjs (NHWC) axis in the NCHW tensor. */
const nchwAxis = (axis: number) => [0, 2, 3, 1][axis];

const decodeString = (s: string | undefined) => (s == null ? '' : Buffer.from(s, 'base64').toString('utf8'));
const ints = (attr: TfAttr | undefined) => (attr?.list?.i ?? []).map(Number);
const strings = (attr: TfAttr | undefined) => (attr?.list?.s ?? []).map(decodeString);

/** Tensor name without the `:0` output index; control inputs (`^x`) return null. */
function inputRef(ref: string): { node: string; index: number } | null {
  if (ref.startsWith('^')) return null;
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? { node: m[1], index: Number(m[2]) } : { node: ref, index: 0 };
}

/** TF's SAME padding for one spatial dimension: [before, after]; the odd pixel goes after. */
export function samePadding(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** Permutes a dense row-major array: out[dst index] = data[src index], out dims = shape[perm[i]]. */
function permute<T extends Float32Array | Int32Array>(data: T, shape: number[], perm: number[]): T {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    inStrides[d] = s;
    s *= shape[d];
  }
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < data.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d] * inStrides[perm[d]];
    out[o] = data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

function broadcastShapes(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    out.push(x === 1 ? y : y === 1 ? x : x === -1 || y === -1 ? -1 : x);
  }
  return out;
}

class OnnxGraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private counter = 0;
  convs = 0;

  fresh(hint: string): string {
    return `${hint}__${this.counter++}`;
  }

  node(op: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], hint = op): string {
    const output = this.fresh(hint);
    this.nodes.push({ opType: op, input: inputs, output: [output], name: output, attribute: attrs });
    return output;
  }

  floatInit(hint: string, data: Float32Array, dims: number[]): string {
    const name = this.fresh(hint);
    const raw = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw });
    return name;
  }

  int64Init(hint: string, values: number[]): string {
    const name = this.fresh(hint);
    this.initializers.push({
      name,
      dims: [values.length],
      dataType: onnx.TensorProto.DataType.INT64,
      int64Data: values,
    });
    return name;
  }
}

const attrInts = (name: string, values: number[]): onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints: values,
});
const attrInt = (name: string, value: number): onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i: value,
});
const attrFloat = (name: string, value: number): onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.FLOAT,
  f: value,
});

/** Names of the model's outputs: the signature's, else the nodes nothing consumes. */
export function defaultOutputs(artifacts: tf.io.ModelArtifacts): string[] {
  const signature = (artifacts.signature ??
    (artifacts.userDefinedMetadata as { signature?: unknown } | undefined)?.signature) as
    | { outputs?: Record<string, { name?: string }> }
    | undefined;
  if (signature?.outputs != null) {
    return Object.values(signature.outputs).map((o) => inputRef(o.name ?? '')!.node);
  }
  const nodes = (artifacts.modelTopology as { node: TfNode[] }).node;
  const consumed = new Set<string>();
  for (const n of nodes) for (const i of n.input ?? []) consumed.add(inputRef(i)?.node ?? '');
  return nodes.filter((n) => !consumed.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp').map((n) => n.name);
}

/** Decodes the model's weights to typed arrays (dequantizing as the tfjs loader does). */
async function decodeConsts(artifacts: tf.io.ModelArtifacts): Promise<Map<string, ConstValue>> {
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData;
  if (data == null) throw new Error('exportToOnnx: the model artifacts have no weight data');
  const tensors = tf.io.decodeWeights(data, specs);
  const consts = new Map<string, ConstValue>();
  for (const [name, t] of Object.entries(tensors)) {
    const values = await t.data();
    if (t.dtype !== 'float32' && t.dtype !== 'int32') {
      t.dispose();
      continue; // strings/bools: not used by convertible ops
    }
    consts.set(name, {
      kind: 'const',
      data:
        t.dtype === 'float32'
          ? Float32Array.from(values as Float32Array)
          : Int32Array.from(values as Int32Array),
      shape: t.shape,
      dtype: t.dtype,
    });
    t.dispose();
  }
  return consts;
}

/** Exports GraphModel artifacts to ONNX (see the module comment for the conventions). */
export async function exportToOnnx(
  artifacts: tf.io.ModelArtifacts,
  options: ExportOptions = {},
): Promise<OnnxExport> {
  const topology = artifacts.modelTopology as { node?: TfNode[] } | undefined;
  if (topology?.node == null) throw new Error('exportToOnnx: not a GraphModel (no modelTopology.node)');
  const nodes = new Map(topology.node.map((n) => [n.name, n]));
  const consts = await decodeConsts(artifacts);
  const outputs = options.outputs ?? defaultOutputs(artifacts);
  const g = new OnnxGraphBuilder();
  const values = new Map<string, Value>();
  const placeholders = topology.node.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) {
    throw new Error(`exportToOnnx: expected one Placeholder, found ${placeholders.length}`);
  }
  const input = placeholders[0];
  const inputShape = (input.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
  if (inputShape.length !== 4 || inputShape.slice(1).some((d) => d <= 0)) {
    throw new Error(`exportToOnnx: the input must be NHWC with static H, W, C; got [${inputShape}]`);
  }
  inputShape[0] = -1;

  // --- layout helpers ----------------------------------------------------------------------------
  /** The value as an ONNX tensor in tfjs (NHWC/plain) layout. */
  const plain = (v: GraphValue): GraphValue =>
    v.nchw
      ? {
          kind: 'value',
          name: g.node('Transpose', [v.name], [attrInts('perm', NCHW_TO_NHWC)], 'to_nhwc'),
          shape: v.shape,
          nchw: false,
        }
      : v;

  /** A constant as an initializer broadcastable against a value of the given layout. */
  const constFor = (c: ConstValue, nchw: boolean, hint: string): string => {
    if (c.dtype !== 'float32') throw new Error(`exportToOnnx: ${hint}: int32 constant operand not supported`);
    const data = c.data as Float32Array;
    if (!nchw || c.shape.length === 0 || c.shape.every((d) => d === 1)) {
      return g.floatInit(hint, data, c.shape.length === 0 || !nchw ? c.shape : []);
    }
    if (c.shape.length > 4) throw new Error(`exportToOnnx: ${hint}: constant of rank ${c.shape.length}`);
    const shape4 = [...new Array(4 - c.shape.length).fill(1), ...c.shape];
    return g.floatInit(
      hint,
      permute(data, shape4, NHWC_TO_NCHW),
      NHWC_TO_NCHW.map((p) => shape4[p]),
    );
  };

  const asValue = (v: Value, ctx: string): GraphValue => {
    if (v.kind === 'value') return v;
    throw new Error(`exportToOnnx: ${ctx}: a constant where a graph tensor was expected`);
  };
  const asConst = (v: Value, ctx: string): ConstValue => {
    if (v.kind === 'const') return v;
    throw new Error(`exportToOnnx: ${ctx}: needs a constant operand`);
  };

  const activation = (x: GraphValue, op: string, node: TfNode, extra: Value[]): GraphValue => {
    const out = (name: string): GraphValue => ({ ...x, name });
    switch (op) {
      case 'Relu':
        return out(g.node('Relu', [x.name]));
      case 'Relu6':
        return out(
          g.node('Clip', [
            x.name,
            g.floatInit('zero', new Float32Array([0]), []),
            g.floatInit('six', new Float32Array([6]), []),
          ]),
        );
      case 'Sigmoid':
        return out(g.node('Sigmoid', [x.name]));
      case 'Tanh':
        return out(g.node('Tanh', [x.name]));
      case 'Elu':
        return out(g.node('Elu', [x.name]));
      case 'LeakyRelu': {
        const alpha = node.attr?.leakyrelu_alpha?.f ?? node.attr?.alpha?.f ?? 0.2;
        return out(g.node('LeakyRelu', [x.name], [attrFloat('alpha', alpha)]));
      }
      case 'Prelu': {
        const alpha = asConst(extra[0], `${node.name} Prelu alpha`);
        const slope = constFor(alpha, x.nchw, 'prelu_slope');
        return out(g.node('PRelu', [x.name, slope]));
      }
      default:
        throw new Error(`exportToOnnx: ${node.name} (${node.op}): unsupported activation ${op}`);
    }
  };

  /** The fused_ops epilogue of a _Fused* node: bias (returned for Conv/Gemm's C input) + activation. */
  const fusedOps = (node: TfNode) => {
    const ops = strings(node.attr?.fused_ops);
    if (ops.length > 0 && ops[0] !== 'BiasAdd') {
      throw new Error(`exportToOnnx: ${node.name} (${node.op}): unsupported fused ops [${ops}]`);
    }
    return { bias: ops[0] === 'BiasAdd', act: ops[1] as string | undefined };
  };

  const spatialPads = (node: TfNode, size: number[], kernel: number[], strides: number[], dil: number[]) => {
    const padding = decodeString(node.attr?.padding?.s);
    if (padding === 'VALID') return [0, 0, 0, 0];
    if (padding === 'SAME') {
      const [t, b] = samePadding(size[0], kernel[0], strides[0], dil[0]);
      const [l, r] = samePadding(size[1], kernel[1], strides[1], dil[1]);
      return [t, l, b, r];
    }
    if (padding === 'EXPLICIT') {
      const p = ints(node.attr?.explicit_paddings);
      return [p[2], p[4], p[3], p[5]];
    }
    throw new Error(`exportToOnnx: ${node.name}: unsupported padding '${padding}'`);
  };

  const outSize = (
    size: number,
    kernel: number,
    stride: number,
    dil: number,
    before: number,
    after: number,
  ) => Math.floor((size + before + after - ((kernel - 1) * dil + 1)) / stride) + 1;

  const checkNhwc = (node: TfNode) => {
    const format = decodeString(node.attr?.data_format?.s) || 'NHWC';
    if (format !== 'NHWC') throw new Error(`exportToOnnx: ${node.name}: data_format ${format} not supported`);
  };

  const conv = (node: TfNode, ins: Value[], depthwise: boolean): GraphValue => {
    checkNhwc(node);
    const x = asValue(ins[0], node.name);
    if (!x.nchw) throw new Error(`exportToOnnx: ${node.name}: convolution input is not rank 4`);
    const filter = asConst(ins[1], `${node.name} filter`);
    const [kh, kw, ci, co] = filter.shape; // depthwise: co is the channel multiplier
    const strides = ints(node.attr?.strides);
    const dil = ints(node.attr?.dilations);
    const s = [strides[1] ?? 1, strides[2] ?? 1];
    const d = dil.length ? [dil[1], dil[2]] : [1, 1];
    const [, h, w] = x.shape;
    const pads = spatialPads(node, [h, w], [kh, kw], s, d);
    // ONNX weights: [out, in / group, kh, kw]; TF depthwise output channel c*m+k reads filter[.., c, k].
    const weights = depthwise
      ? permute(filter.data as Float32Array, filter.shape, [2, 3, 0, 1])
      : permute(filter.data as Float32Array, filter.shape, [3, 2, 0, 1]);
    const outC = depthwise ? ci * co : co;
    const wName = g.floatInit('w', weights, depthwise ? [outC, 1, kh, kw] : [co, ci, kh, kw]);
    const inputs = [x.name, wName];
    const { bias, act } = node.op.startsWith('_Fused') || node.op.startsWith('Fused') ? fusedOps(node) : {};
    if (bias) {
      const b = asConst(ins[2], `${node.name} bias`);
      inputs.push(g.floatInit('b', b.data as Float32Array, [outC]));
    }
    g.convs++;
    const y: GraphValue = {
      kind: 'value',
      name: g.node('Conv', inputs, [
        attrInts('kernel_shape', [kh, kw]),
        attrInts('strides', s),
        attrInts('dilations', d),
        attrInts('pads', pads),
        attrInt('group', depthwise ? ci : 1),
      ]),
      shape: [
        -1,
        outSize(h, kh, s[0], d[0], pads[0], pads[2]),
        outSize(w, kw, s[1], d[1], pads[1], pads[3]),
        outC,
      ],
      nchw: true,
    };
    return act ? activation(y, act, node, ins.slice(bias ? 3 : 2)) : y;
  };

  const pool = (node: TfNode, ins: Value[], op: 'AveragePool' | 'MaxPool'): GraphValue => {
    checkNhwc(node);
    const x = asValue(ins[0], node.name);
    if (!x.nchw) throw new Error(`exportToOnnx: ${node.name}: pooling input is not rank 4`);
    const k = ints(node.attr?.ksize);
    const st = ints(node.attr?.strides);
    const kernel = [k[1], k[2]];
    const s = [st[1], st[2]];
    const pads = spatialPads(node, [x.shape[1], x.shape[2]], kernel, s, [1, 1]);
    // TF's SAME average pooling divides by the pixels inside the image (count_include_pad = 0, ONNX's default).
    const name = g.node(
      op,
      [x.name],
      [attrInts('kernel_shape', kernel), attrInts('strides', s), attrInts('pads', pads)],
    );
    return {
      kind: 'value',
      name,
      shape: [
        -1,
        outSize(x.shape[1], kernel[0], s[0], 1, pads[0], pads[2]),
        outSize(x.shape[2], kernel[1], s[1], 1, pads[1], pads[3]),
        x.shape[3],
      ],
      nchw: true,
    };
  };

  const binary = (node: TfNode, ins: Value[], op: string): GraphValue => {
    const [a, b] = ins;
    if (a.kind === 'const' && b.kind === 'const') {
      throw new Error(`exportToOnnx: ${node.name}: constant-only ${node.op} not supported`);
    }
    const shape = broadcastShapes(a.shape, b.shape);
    const nchw = shape.length === 4 && ((a.kind === 'value' && a.nchw) || (b.kind === 'value' && b.nchw));
    const operand = (v: Value, i: number): string => {
      if (v.kind === 'const') return constFor(v, nchw, `${op.toLowerCase()}_${i}`);
      if (v.nchw === nchw) return v.name;
      if (v.nchw) return plain(v).name;
      throw new Error(`exportToOnnx: ${node.name}: mixes a rank-${v.shape.length} tensor with a rank-4 one`);
    };
    return { kind: 'value', name: g.node(op, [operand(a, 0), operand(b, 1)]), shape, nchw };
  };

  /** Squeeze/Mean without keep_dims: drops tfjs axes; stays NCHW-ordered only when the order agrees. */
  const dropAxes = (x: GraphValue, axes: number[], emit: (name: string, onnxAxes: number[]) => string) => {
    const rank = x.shape.length;
    const norm = [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort();
    const shape = x.shape.filter((_, i) => !norm.includes(i));
    if (x.nchw) {
      const remaining = NHWC_TO_NCHW.filter((a) => !norm.includes(a));
      const ordered = remaining.every((a, i) => i === 0 || remaining[i - 1] < a);
      if (ordered) {
        const name = emit(x.name, norm.map(nchwAxis).sort());
        return { kind: 'value', name, shape, nchw: shape.length === 4 } as GraphValue;
      }
      x = plain(x);
    }
    return { kind: 'value', name: emit(x.name, norm), shape, nchw: false } as GraphValue;
  };

  // --- node conversion ----------------------------------------------------------------------------
  const visiting = new Set<string>();
  const valueOf = (ref: string): Value => {
    const parsed = inputRef(ref);
    if (parsed == null) throw new Error(`exportToOnnx: control input ${ref} used as data`);
    if (parsed.index !== 0) throw new Error(`exportToOnnx: multi-output node ${ref} not supported`);
    const known = values.get(parsed.node);
    if (known) return known;
    const node = nodes.get(parsed.node);
    if (node == null) throw new Error(`exportToOnnx: unknown node ${parsed.node}`);
    if (visiting.has(node.name)) throw new Error(`exportToOnnx: cycle at ${node.name}`);
    visiting.add(node.name);
    const v = convert(node);
    visiting.delete(node.name);
    values.set(node.name, v);
    return v;
  };

  const convert = (node: TfNode): Value => {
    if (node.op === 'Const') {
      const c = consts.get(node.name);
      if (c == null) throw new Error(`exportToOnnx: constant ${node.name} has no weight data`);
      return c;
    }
    if (node.op === 'Placeholder') {
      return {
        kind: 'value',
        name: g.node('Transpose', [node.name], [attrInts('perm', NHWC_TO_NCHW)], 'input_nchw'),
        shape: inputShape,
        nchw: true,
      };
    }
    const ins = (node.input ?? []).filter((r) => !r.startsWith('^')).map(valueOf);
    switch (node.op) {
      case 'Identity':
      case 'StopGradient':
        return ins[0];
      case 'Conv2D':
      case '_FusedConv2D':
        return conv(node, ins, false);
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative':
        return conv(node, ins, true);
      case 'BiasAdd':
        checkNhwc(node);
        return binary(node, ins, 'Add');
      case 'Add':
      case 'AddV2':
        return binary(node, ins, 'Add');
      case 'Sub':
        return binary(node, ins, 'Sub');
      case 'Mul':
        return binary(node, ins, 'Mul');
      case 'RealDiv':
        return binary(node, ins, 'Div');
      case 'Maximum':
        return binary(node, ins, 'Max');
      case 'Minimum':
        return binary(node, ins, 'Min');
      case 'Relu':
      case 'Relu6':
      case 'Sigmoid':
      case 'Tanh':
      case 'Elu':
      case 'LeakyRelu':
        return activation(asValue(ins[0], node.name), node.op, node, []);
      case 'Prelu':
        return activation(asValue(ins[0], node.name), 'Prelu', node, [ins[1]]);
      case 'AvgPool':
        return pool(node, ins, 'AveragePool');
      case 'MaxPool':
        return pool(node, ins, 'MaxPool');
      case 'Squeeze': {
        const x = asValue(ins[0], node.name);
        let axes = ints(node.attr?.squeeze_dims ?? node.attr?.axis);
        if (axes.length === 0) axes = x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
        return dropAxes(x, axes, (name, a) => g.node('Squeeze', [name, g.int64Init('axes', a)]));
      }
      case 'Mean': {
        const x = asValue(ins[0], node.name);
        const axes = Array.from(asConst(ins[1], `${node.name} axes`).data);
        const keep = node.attr?.keep_dims?.b ?? false;
        if (keep) {
          const onnxAxes = x.nchw ? axes.map(nchwAxis) : axes;
          const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
          return {
            kind: 'value',
            name: g.node('ReduceMean', [x.name], [attrInts('axes', onnxAxes), attrInt('keepdims', 1)]),
            shape,
            nchw: x.nchw,
          };
        }
        return dropAxes(x, axes, (name, a) =>
          g.node('ReduceMean', [name], [attrInts('axes', a), attrInt('keepdims', 0)]),
        );
      }
      case 'Reshape': {
        const x = plain(asValue(ins[0], node.name));
        const target = Array.from(asConst(ins[1], `${node.name} shape`).data);
        // The batch is symbolic: a leading dimension equal to the traced batch copies the input's (ONNX 0).
        if (target.length > 0 && (target[0] === -1 || target[0] === 1) && x.shape[0] === -1) target[0] = 0;
        const shape = target.map((d, i) => (d === 0 ? x.shape[i] : d));
        return {
          kind: 'value',
          name: g.node('Reshape', [x.name, g.int64Init('shape', target)]),
          shape,
          nchw: false,
        };
      }
      case 'Pad':
      case 'PadV2': {
        const x = asValue(ins[0], node.name);
        const p = Array.from(asConst(ins[1], `${node.name} paddings`).data);
        const rank = x.shape.length;
        const order = x.nchw ? NHWC_TO_NCHW : [...Array(rank).keys()];
        const pads = [...order.map((a) => p[2 * a]), ...order.map((a) => p[2 * a + 1])];
        const padValue = node.op === 'PadV2' ? asConst(ins[2], `${node.name} value`).data[0] : 0;
        const name = g.node('Pad', [
          x.name,
          g.int64Init('pads', pads),
          g.floatInit('pad_value', new Float32Array([padValue]), []),
        ]);
        return {
          kind: 'value',
          name,
          shape: x.shape.map((d, i) => (d < 0 ? d : d + p[2 * i] + p[2 * i + 1])),
          nchw: x.nchw,
        };
      }
      case 'Softmax': {
        const x = plain(asValue(ins[0], node.name));
        return {
          kind: 'value',
          name: g.node('Softmax', [x.name], [attrInt('axis', -1)]),
          shape: x.shape,
          nchw: false,
        };
      }
      case 'MatMul':
      case '_FusedMatMul': {
        const a = asValue(ins[0], node.name);
        if (a.shape.length !== 2)
          throw new Error(`exportToOnnx: ${node.name}: MatMul of rank ${a.shape.length}`);
        const b = asConst(ins[1], `${node.name} weights`);
        const transA = node.attr?.transpose_a?.b ?? false;
        const transB = node.attr?.transpose_b?.b ?? false;
        const { bias, act } = node.op === '_FusedMatMul' ? fusedOps(node) : { bias: false, act: undefined };
        const n = transB ? b.shape[0] : b.shape[1];
        const inputs = [a.name, g.floatInit('matmul_b', b.data as Float32Array, b.shape)];
        if (bias)
          inputs.push(
            g.floatInit('matmul_c', asConst(ins[2], `${node.name} bias`).data as Float32Array, [n]),
          );
        const y: GraphValue = {
          kind: 'value',
          name: g.node('Gemm', inputs, [
            attrInt('transA', transA ? 1 : 0),
            attrInt('transB', transB ? 1 : 0),
          ]),
          shape: [transA ? a.shape[1] : a.shape[0], n],
          nchw: false,
        };
        return act ? activation(y, act, node, ins.slice(3)) : y;
      }
      default:
        throw new Error(`exportToOnnx: ${node.name}: op ${node.op} is not supported by the exporter`);
    }
  };

  const outputShapes: number[][] = [];
  const valueInfo = (name: string, shape: number[]): onnx.IValueInfoProto => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d) => (d < 0 ? { dimParam: 'N' } : { dimValue: d })) },
      },
    },
  });
  const graphOutputs: onnx.IValueInfoProto[] = [];
  for (const name of outputs) {
    const v = asValue(valueOf(name), `output ${name}`);
    const src = plain(v);
    g.nodes.push({ opType: 'Identity', input: [src.name], output: [name], name: `${name}__out` });
    outputShapes.push(v.shape);
    graphOutputs.push(valueInfo(name, v.shape));
  }

  const model: onnx.IModelProto = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: options.opset ?? 13 }],
    producerName: 'tfjs-backend-webgpu-fused bench/peers',
    graph: {
      name: 'tfjs_graph_model',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(input.name, inputShape)],
      output: graphOutputs,
    },
  };
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    inputName: input.name,
    inputShape,
    outputNames: outputs,
    outputShapes,
    convs: g.convs,
  };
}

/**
 * A one-node model (Identity) that copies its float32 input to its output: run
 * with the output kept on the GPU, it gives a GPU-resident input tensor for
 * another session (ONNX Runtime's node binding has no other way to upload).
 */
export function identityModel(shape: number[]): Uint8Array {
  const info = (name: string): onnx.IValueInfoProto => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d) => (d < 0 ? { dimParam: 'N' } : { dimValue: d })) },
      },
    },
  });
  return onnx.ModelProto.encode({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'tfjs-backend-webgpu-fused bench/peers',
    graph: {
      name: 'upload',
      node: [{ opType: 'Identity', input: ['x'], output: ['y'], name: 'copy' }],
      input: [info('x')],
      output: [info('y')],
    },
  }).finish();
}
