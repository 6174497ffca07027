/**
 * Reading the convolution nodes a site is made of: depthwise
 * (`DepthwiseConv2dNative`, `FusedDepthwiseConv2dNative`) and pointwise
 * (`Conv2D` / `_FusedConv2D` with a 1x1 filter) into plain descriptions,
 * with the tfjs-converter's exact reading of `fused_ops` (so the fused model
 * computes what stock tfjs computes) and every reason the node cannot be part
 * of a fused site.
 */

import { FusedActivation } from '../kernels/types';
import { GraphIndex } from './graph_index';
import { NodeJson, intListAttr, numberAttr, stringAttr, stringListAttr } from './model_json';
import { ShapeInference, convPadding } from './shapes';

export type ConvKind = 'dw' | 'pw';

export const DEPTHWISE_OPS = new Set([
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2dNative',
  'DepthwiseConv2d',
]);
export const CONV2D_OPS = new Set(['Conv2D', '_FusedConv2D']);

/** Explicit NHWC padding pairs, as the fused ops take them. */
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/** A stage's own epilogue as the node declares it (fused_ops). */
export interface DeclaredEpilogue {
  /** Tensor name of the bias input. */
  bias?: string;
  activation: FusedActivation;
  /** Tensor name of the PReLU weights. */
  prelu?: string;
  leakyreluAlpha?: number;
}

export interface ConvSpec {
  node: NodeJson;
  kind: ConvKind;
  /** The activation input (tensor name). */
  input: string;
  /** The filter input (tensor name). */
  filter: string;
  filterShape?: number[];
  /** Output channels (dw: C·multiplier, pw: F). */
  outChannels?: number;
  strides: [number, number];
  padding: 'same' | 'valid' | ExplicitPadding;
  epilogue: DeclaredEpilogue;
  /** Control inputs ('^name') the node carries; the fused node keeps them. */
  controlInputs: string[];
  /** Why the node cannot be fused (empty when it can). */
  problems: string[];
}

const FUSED_ACTIVATION_OPS: Record<string, FusedActivation> = {
  relu: 'relu',
  relu6: 'relu6',
  elu: 'elu',
  sigmoid: 'sigmoid',
  prelu: 'prelu',
  leakyrelu: 'leakyrelu',
};

/** dw or pw when the node is one (pw: a 2-D conv whose filter is 1x1), else undefined. */
export function convKindOf(node: NodeJson, shapes: ShapeInference, graph: GraphIndex): ConvKind | undefined {
  if (DEPTHWISE_OPS.has(node.op)) return 'dw';
  if (!CONV2D_OPS.has(node.op)) return undefined;
  const filter = graph.dataInputs(node)[1];
  const shape = filter == null ? undefined : shapes.shapeOf(filter);
  return shape != null && shape.length === 4 && shape[0] === 1 && shape[1] === 1 ? 'pw' : undefined;
}

function readEpilogue(node: NodeJson, kind: ConvKind, args: string[], problems: string[]): DeclaredEpilogue {
  if (node.op !== '_FusedConv2D' && node.op !== 'FusedDepthwiseConv2dNative') return { activation: 'linear' };
  const fusedOps = stringListAttr(node, 'fused_ops');
  const [extraOp, activationOp] = fusedOps.map((s) => s.toLowerCase());
  const numArgs = numberAttr(node, 'num_args') ?? args.length;
  if (fusedOps.length > 2) problems.push(`fused_ops [${fusedOps.join(', ')}] has more than two ops`);
  if (extraOp === 'fusedbatchnorm') {
    problems.push('fused_ops FusedBatchNorm (tfjs cannot run it either)');
    return { activation: 'linear' };
  }
  if (extraOp != null && extraOp !== 'biasadd' && extraOp !== 'noop') {
    problems.push(`fused_ops [${fusedOps.join(', ')}] does not start with BiasAdd or NoOp`);
    return { activation: 'linear' };
  }
  let activation: FusedActivation = 'linear';
  if (activationOp != null) {
    const mapped = FUSED_ACTIVATION_OPS[activationOp];
    if (mapped == null)
      problems.push(`fused activation ${fusedOps[1]} is not supported by the fused kernels`);
    else activation = mapped;
  }
  const epilogue: DeclaredEpilogue = { activation };
  const hasBias = extraOp === 'biasadd';
  const expectedArgs = (hasBias ? 1 : 0) + (activation === 'prelu' ? 1 : 0);
  if (numArgs !== expectedArgs || args.length < expectedArgs) {
    problems.push(
      `fused_ops [${fusedOps.join(', ')}] with num_args ${numArgs} and ${args.length} extra inputs`,
    );
    return { activation: 'linear' };
  }
  if (hasBias) epilogue.bias = args[0];
  if (activation === 'prelu') epilogue.prelu = args[hasBias ? 1 : 0];
  if (activation === 'leakyrelu') {
    if (kind === 'dw') {
      // tfjs-converter's FusedDepthwiseConv2dNative mapping reads no leakyrelu_alpha.
      problems.push('FusedDepthwiseConv2dNative with LeakyRelu: tfjs does not read its alpha');
    }
    epilogue.leakyreluAlpha = numberAttr(node, 'leakyrelu_alpha') ?? 0.2;
  }
  return epilogue;
}

/** Reads a dw or pw convolution node; problems list why it cannot be fused. */
export function readConv(
  node: NodeJson,
  kind: ConvKind,
  shapes: ShapeInference,
  graph: GraphIndex,
): ConvSpec {
  const problems: string[] = [];
  const inputs = graph.dataInputs(node);
  const [input, filter] = inputs;
  const filterShape = filter == null ? undefined : shapes.shapeOf(filter);
  const format = (stringAttr(node, 'data_format') ?? 'NHWC').toUpperCase();
  if (format !== 'NHWC') problems.push(`data_format ${format} (only NHWC is fused)`);
  const s = intListAttr(node, 'strides') ?? [1, 1, 1, 1];
  const d = intListAttr(node, 'dilations') ?? [1, 1, 1, 1];
  if (s.length !== 4 || s[0] !== 1 || s[3] !== 1) problems.push(`strides [${s.join(',')}]`);
  if (d.length === 4 && (d[1] !== 1 || d[2] !== 1))
    problems.push(`dilation [${d[1]},${d[2]}] (only 1 is fused)`);
  const strides: [number, number] = [s[1] ?? 1, s[2] ?? 1];
  const pad = convPadding(node);
  let padding: ConvSpec['padding'] = 'valid';
  if (pad == null) {
    problems.push(`padding ${stringAttr(node, 'padding') ?? '(none)'} is not understood`);
  } else if (Array.isArray(pad)) {
    if (pad[0].some((v) => v !== 0) || pad[3].some((v) => v !== 0))
      problems.push('explicit padding of N or C');
    padding = pad as ExplicitPadding;
  } else {
    padding = pad;
  }
  const filterNode = filter == null ? undefined : graph.inputNode(node, 1);
  if (filterNode?.op !== 'Const') problems.push(`filter '${filter}' is not a constant`);
  if (filterShape == null || filterShape.length !== 4)
    problems.push(`filter '${filter}' has no known rank-4 shape`);
  let outChannels: number | undefined;
  if (filterShape != null && filterShape.length === 4) {
    if (kind === 'dw') {
      if (filterShape[3] !== 1) problems.push(`channel multiplier ${filterShape[3]} (only 1 is fused)`);
      outChannels = filterShape[2] * filterShape[3];
    } else {
      outChannels = filterShape[3];
    }
  }
  if (kind === 'pw') {
    if (strides[0] !== 1 || strides[1] !== 1) problems.push(`pointwise stride [${strides.join(',')}]`);
    if (Array.isArray(padding) && padding.some(([a, b]) => a !== 0 || b !== 0)) {
      problems.push('pointwise convolution with explicit non-zero padding');
    }
  }
  const epilogue = readEpilogue(node, kind, inputs.slice(2), problems);
  return {
    node,
    kind,
    input,
    filter,
    filterShape,
    outChannels,
    strides,
    padding,
    epilogue,
    controlInputs: (node.input ?? []).filter((i) => i.startsWith('^')),
    problems,
  };
}
