/**
 * Lowering a Keras functional model to the GraphDef form the graph rewrite
 * matches: each layer becomes the TensorFlow ops it computes at inference
 * (`DepthwiseConv2D` → DepthwiseConv2dNative [+ BiasAdd] [+ activation],
 * `BatchNormalization` → FusedBatchNormV3 with its moving statistics,
 * `ZeroPadding2D` → Pad, `ReLU(6)` → Relu6, `SeparableConv2D` → depthwise +
 * 1x1 Conv2D + BiasAdd + activation, ...), weights become Const nodes over
 * the model's own weight manifest. Layers it does not model become one
 * opaque node, which no site crosses. Pure: JSON and bytes in, JSON out.
 *
 * Every node remembers the layer it came from, so the sites the matcher
 * finds can be mapped back to whole layers.
 */

import {
  GraphJson,
  NodeJson,
  WeightSpecJson,
  attrFloat,
  attrIntList,
  attrString,
} from '../graph-rewrite/model_json';
import { WeightTable, joinWeightData } from '../graph-rewrite/weights';
import { FunctionalJson, KerasLayerJson, LayerRef } from './keras_json';

/** Which part of its layer a node is: the computation, or its trailing activation. */
export type NodeRole = 'main' | 'activation';

export interface LoweredLayer {
  layer: KerasLayerJson;
  /** Nodes of the layer, in order (constants not included). */
  nodes: string[];
  /** The tensor name of each output of the first call. */
  outputs: string[];
  /** The layer's Keras activation when its last nodes compute it (conv layers, Activation). */
  activation?: string;
  /** Weight manifest names the layer reads. */
  weights: string[];
  /** Called more than once (a shared layer): never part of a site. */
  shared: boolean;
}

export interface LoweredModel {
  graph: GraphJson;
  weights: WeightTable;
  layers: Map<string, LoweredLayer>;
  /** node name → layer name and role. */
  owner: Map<string, { layer: string; role: NodeRole }>;
  /** Tensor name → the layer output it is, as an inbound reference. */
  refOf: Map<string, LayerRef>;
  /** Tensor names of the model outputs. */
  outputs: string[];
  /** Names of the weight specs the model itself has (not the lowering's own constants). */
  modelWeights: Set<string>;
  /** Convolution layers left opaque, and why. */
  warnings: string[];
}

const IDENTITY_LAYERS = new Set([
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'SpatialDropout3D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'ActivityRegularization',
]);

const CONV_LAYERS = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'BatchNormalization']);

/** Keras activations and the op(s) computing them (as tfjs-layers does). */
const ACTIVATION_OPS: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  elu: 'Elu',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  selu: 'Selu',
  softplus: 'Softplus',
  softsign: 'Softsign',
};

const pair = (v: unknown, fallback: number): [number, number] => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return [v[0], v[0]];
  return [fallback, fallback];
};

const nhwc = (v: [number, number]) => attrIntList([1, v[0], v[1], 1]);

/** Builds the lowered graph layer by layer. */
class Lowering {
  readonly nodes: NodeJson[] = [];
  readonly owner = new Map<string, { layer: string; role: NodeRole }>();
  readonly extraSpecs: WeightSpecJson[] = [];
  readonly extraBytes: Uint8Array[] = [];
  private readonly specNames: Set<string>;
  private readonly consts = new Set<string>();

  constructor(private readonly table: WeightTable) {
    this.specNames = new Set(table.specs.map((s) => s.name));
  }

  /** Number of values of a manifest weight. */
  specLength(name: string): number {
    return this.table.spec(name)!.shape.reduce((a, b) => a * b, 1);
  }

  /** The manifest name of a layer's weight: `layer/name`, or under an outer scope `…/layer/name`. */
  weight(layer: string, name: string): string | undefined {
    const direct = `${layer}/${name}`;
    if (this.specNames.has(direct)) return direct;
    for (const spec of this.specNames) if (spec.endsWith(`/${direct}`)) return spec;
    return undefined;
  }

  add(layer: string, role: NodeRole, node: NodeJson): string {
    this.nodes.push(node);
    this.owner.set(node.name, { layer, role });
    return node.name;
  }

  /** A Const node over a manifest weight (shared by every reader). */
  constNode(name: string): string {
    if (!this.consts.has(name)) {
      this.consts.add(name);
      this.nodes.push({ name, op: 'Const' });
    }
    return name;
  }

  /** A Const node over values the lowering adds (paddings, BatchNorm defaults). */
  newConst(name: string, shape: number[], values: Float32Array | Int32Array): string {
    const dtype = values instanceof Int32Array ? 'int32' : 'float32';
    this.extraSpecs.push({ name, shape, dtype });
    this.extraBytes.push(
      new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
    );
    this.nodes.push({ name, op: 'Const' });
    return name;
  }
}

interface LayerLowering {
  nodes: string[];
  output: string;
  activation?: string;
  weights: string[];
}

function opaque(low: Lowering, layer: KerasLayerJson, name: string, inputs: string[], outputs = 1) {
  low.add(layer.name, 'main', { name, op: `Keras${layer.class_name}`, input: inputs });
  return { name, outputs: Array.from({ length: outputs }, (_, k) => (k === 0 ? name : `${name}:${k}`)) };
}

/** Appends the nodes of a Keras activation after `x`; undefined when it is not one the graph ops model. */
function lowerActivation(
  low: Lowering,
  layer: string,
  id: unknown,
  x: string,
  nodes: string[],
): { output: string; activation?: string } | undefined {
  if (id == null || id === 'linear') return { output: x };
  if (typeof id !== 'string') return undefined;
  const name = `${layer}/activation`;
  if (id === 'swish') {
    const sig = low.add(layer, 'activation', {
      name: `${layer}/activation/sigmoid`,
      op: 'Sigmoid',
      input: [x],
    });
    nodes.push(sig, low.add(layer, 'activation', { name, op: 'Mul', input: [x, sig] }));
    return { output: name, activation: id };
  }
  const op = ACTIVATION_OPS[id] ?? `KerasActivation_${id}`;
  nodes.push(low.add(layer, 'activation', { name, op, input: [x] }));
  return { output: name, activation: id };
}

const channelsLast = (config: Record<string, unknown>) =>
  config.data_format == null || config.data_format === 'channels_last';

/** Conv2D / DepthwiseConv2D / SeparableConv2D. */
function lowerConv(low: Lowering, layer: KerasLayerJson, x: string): LayerLowering | undefined {
  const c = layer.config;
  const cls = layer.class_name;
  if (!channelsLast(c) || (c.padding !== 'same' && c.padding !== 'valid')) return undefined;
  const strides = pair(c.strides, 1);
  const dilations = pair(c.dilation_rate, 1);
  const attrs = {
    strides: nhwc(strides),
    padding: attrString(String(c.padding).toUpperCase()),
    dilations: nhwc(dilations),
    data_format: attrString('NHWC'),
  };
  const weights: string[] = [];
  const need = (w: string) => {
    const found = low.weight(layer.name, w);
    if (found != null) weights.push(found);
    return found;
  };
  const nodes: string[] = [];
  let out: string;
  if (cls === 'SeparableConv2D') {
    const dw = need('depthwise_kernel');
    const pw = need('pointwise_kernel');
    if (dw == null || pw == null) return undefined;
    const hidden = low.add(layer.name, 'main', {
      name: `${layer.name}/depthwise`,
      op: 'DepthwiseConv2dNative',
      input: [x, low.constNode(dw)],
      attr: attrs,
    });
    out = low.add(layer.name, 'main', {
      name: layer.name,
      op: 'Conv2D',
      input: [hidden, low.constNode(pw)],
      attr: { ...attrs, strides: nhwc([1, 1]), padding: attrString('VALID'), dilations: nhwc([1, 1]) },
    });
    nodes.push(hidden, out);
  } else {
    const kernel = need(cls === 'DepthwiseConv2D' ? 'depthwise_kernel' : 'kernel');
    if (kernel == null) return undefined;
    const op = cls === 'DepthwiseConv2D' ? 'DepthwiseConv2dNative' : 'Conv2D';
    out = low.add(layer.name, 'main', {
      name: layer.name,
      op,
      input: [x, low.constNode(kernel)],
      attr: attrs,
    });
    nodes.push(out);
  }
  if (c.use_bias !== false) {
    const bias = need('bias');
    if (bias == null) return undefined;
    out = low.add(layer.name, 'main', {
      name: `${layer.name}/bias_add`,
      op: 'BiasAdd',
      input: [out, low.constNode(bias)],
      attr: { data_format: attrString('NHWC') },
    });
    nodes.push(out);
  }
  const act = lowerActivation(low, layer.name, c.activation, out, nodes);
  if (act == null) return undefined;
  return { nodes, output: act.output, activation: act.activation, weights };
}

function lowerBatchNorm(low: Lowering, layer: KerasLayerJson, x: string): LayerLowering | undefined {
  const c = layer.config;
  const axis = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : (c.axis ?? -1);
  if (axis !== -1 && axis !== 3) return undefined;
  const weights: string[] = [];
  const find = (w: string) => {
    const found = low.weight(layer.name, w);
    if (found != null) weights.push(found);
    return found;
  };
  const mean = find('moving_mean');
  const variance = find('moving_variance');
  if (mean == null || variance == null) return undefined;
  const gamma = c.scale === false ? undefined : find('gamma');
  const beta = c.center === false ? undefined : find('beta');
  if ((c.scale !== false && gamma == null) || (c.center !== false && beta == null)) return undefined;
  // A missing scale/offset is 1/0; their length is the statistics' length, known only from the manifest.
  const channels = low.specLength(mean);
  const scale =
    gamma != null
      ? low.constNode(gamma)
      : low.newConst(`${layer.name}/__ones`, [channels], new Float32Array(channels).fill(1));
  const offset =
    beta != null
      ? low.constNode(beta)
      : low.newConst(`${layer.name}/__zeros`, [channels], new Float32Array(channels));
  const out = low.add(layer.name, 'main', {
    name: layer.name,
    op: 'FusedBatchNormV3',
    input: [x, scale, offset, low.constNode(mean), low.constNode(variance)],
    attr: {
      epsilon: attrFloat(typeof c.epsilon === 'number' ? c.epsilon : 1e-3),
      is_training: { b: false },
      data_format: attrString('NHWC'),
    },
  });
  return { nodes: [out], output: out, weights };
}

/** [[top, bottom], [left, right]] of a ZeroPadding2D config. */
function zeroPadding(padding: unknown): [[number, number], [number, number]] | undefined {
  if (typeof padding === 'number') {
    return [
      [padding, padding],
      [padding, padding],
    ];
  }
  if (!Array.isArray(padding) || padding.length !== 2) return undefined;
  if (padding.every((p) => typeof p === 'number')) {
    return [
      [padding[0], padding[0]],
      [padding[1], padding[1]],
    ];
  }
  if (padding.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number'))) {
    return padding as [[number, number], [number, number]];
  }
  return undefined;
}

/** The ops of one call of a layer on tensors `inputs`, or undefined for an opaque layer. */
function lowerLayer(low: Lowering, layer: KerasLayerJson, inputs: string[]): LayerLowering | undefined {
  const c = layer.config;
  const x = inputs[0];
  const single = inputs.length === 1;
  const one = (op: string, attr: NodeJson['attr'] = {}, extra: string[] = []): LayerLowering => {
    const name = low.add(layer.name, 'main', { name: layer.name, op, input: [x, ...extra], attr });
    return { nodes: [name], output: name, weights: [] };
  };
  switch (layer.class_name) {
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D':
      return single ? lowerConv(low, layer, x) : undefined;
    case 'BatchNormalization':
      return single ? lowerBatchNorm(low, layer, x) : undefined;
    case 'ZeroPadding2D': {
      const p = zeroPadding(c.padding);
      if (!single || p == null || !channelsLast(c)) return undefined;
      const paddings = low.newConst(
        `${layer.name}/__paddings`,
        [4, 2],
        Int32Array.from([0, 0, p[0][0], p[0][1], p[1][0], p[1][1], 0, 0]),
      );
      return one('Pad', {}, [paddings]);
    }
    case 'ReLU': {
      const slope = c.negative_slope ?? 0;
      const threshold = c.threshold ?? 0;
      if (!single || slope !== 0 || threshold !== 0) return undefined;
      if (c.max_value == null) return one('Relu');
      return c.max_value === 6 ? one('Relu6') : undefined;
    }
    case 'LeakyReLU':
      return single
        ? one('LeakyRelu', { alpha: attrFloat(typeof c.alpha === 'number' ? c.alpha : 0.3) })
        : undefined;
    case 'ELU':
      return single && (c.alpha == null || c.alpha === 1) ? one('Elu') : undefined;
    case 'Activation': {
      if (!single) return undefined;
      const nodes: string[] = [];
      if (c.activation == null || c.activation === 'linear') return one('Identity');
      const act = lowerActivation(low, layer.name, c.activation, x, nodes);
      if (act == null) return undefined;
      // The activation node is the layer's own computation here, not a trailing epilogue.
      for (const n of nodes) low.owner.set(n, { layer: layer.name, role: 'main' });
      return { nodes, output: act.output, weights: [] };
    }
    case 'Add':
      return inputs.length >= 2
        ? one(inputs.length === 2 ? 'AddV2' : 'AddN', {}, inputs.slice(1))
        : undefined;
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      if (!single || !channelsLast(c) || (c.padding !== 'same' && c.padding !== 'valid')) return undefined;
      const size = pair(c.pool_size, 2);
      const strides = c.strides == null ? size : pair(c.strides, 1);
      return one(layer.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AvgPool', {
        ksize: nhwc(size),
        strides: nhwc(strides),
        padding: attrString(String(c.padding).toUpperCase()),
        data_format: attrString('NHWC'),
      });
    }
    default:
      if (IDENTITY_LAYERS.has(layer.class_name) && single) return one('Identity');
      return undefined;
  }
}

/** Lowers a functional model over its weight manifest and bytes. */
export function lowerModel(
  model: FunctionalJson,
  specs: WeightSpecJson[],
  weightData: ArrayBuffer | ArrayBuffer[] | undefined,
): LoweredModel {
  const base = joinWeightData(weightData);
  const low = new Lowering(new WeightTable(specs, base));
  const layers = new Map<string, LoweredLayer>();
  const refOf = new Map<string, LayerRef>();
  /** `layer|node|tensor` → tensor name. */
  const tensors = new Map<string, string>();
  const tensorOf = (ref: LayerRef, reader: string) => {
    const name = tensors.get(`${ref[0]}|${ref[1]}|${ref[2]}`);
    if (name == null) {
      throw new Error(
        `layers rewrite: layer '${reader}' reads [${ref.slice(0, 3).join(', ')}], which no layer produces`,
      );
    }
    return name;
  };
  // Calls of shared layers may read layers listed after them: lower each call once its inputs exist.
  const warnings: string[] = [];
  const pending: Array<{ lowered: LoweredLayer; call: number }> = [];
  const record = (layer: string, call: number, outputs: string[]) => {
    outputs.forEach((t, k) => {
      tensors.set(`${layer}|${call}|${k}`, t);
      refOf.set(t, [layer, call, k]);
    });
  };
  for (const layer of model.config.layers) {
    if (layers.has(layer.name)) throw new Error(`layers rewrite: duplicate layer name '${layer.name}'`);
    const calls = layer.inbound_nodes ?? [];
    const lowered: LoweredLayer = { layer, nodes: [], outputs: [], weights: [], shared: calls.length > 1 };
    layers.set(layer.name, lowered);
    if (layer.class_name === 'InputLayer' || calls.length === 0) {
      const shape = (layer.config.batch_input_shape ?? layer.config.batch_shape) as
        | (number | null)[]
        | undefined;
      const name = low.add(layer.name, 'main', {
        name: layer.name,
        op: layer.class_name === 'InputLayer' ? 'Placeholder' : `Keras${layer.class_name}`,
        attr:
          shape == null
            ? { shape: { shape: { unknownRank: true } } }
            : { shape: { shape: { dim: shape.map((d) => ({ size: d == null ? -1 : d })) } } },
      });
      lowered.nodes.push(name);
      lowered.outputs = [name];
      record(layer.name, 0, [name]);
      continue;
    }
    calls.forEach((_, call) => pending.push({ lowered, call }));
  }
  const ready = ({ lowered, call }: { lowered: LoweredLayer; call: number }) =>
    lowered.layer.inbound_nodes![call].every((ref) => tensors.has(`${ref[0]}|${ref[1]}|${ref[2]}`));
  while (pending.length > 0) {
    const index = pending.findIndex(ready);
    if (index < 0) {
      const { lowered, call } = pending[0];
      lowered.layer.inbound_nodes![call].forEach((ref) => tensorOf(ref, lowered.layer.name)); // throws
      throw new Error(`layers rewrite: layer '${lowered.layer.name}' is part of a cycle`);
    }
    const [{ lowered, call }] = pending.splice(index, 1);
    const layer = lowered.layer;
    const calls = layer.inbound_nodes!;
    const inputs = calls[call].map((ref) => tensorOf(ref, layer.name));
    const part = calls.length === 1 ? lowerLayer(low, layer, inputs) : undefined;
    if (part != null) {
      lowered.nodes.push(...part.nodes);
      lowered.weights.push(...part.weights);
      lowered.activation = part.activation;
      lowered.outputs = [part.output];
      record(layer.name, call, [part.output]);
      continue;
    }
    // Opaque: one node per call; its outputs read as node:k (unknown shapes stop the planner there).
    if (CONV_LAYERS.has(layer.class_name) && call === 0) {
      warnings.push(
        calls.length > 1
          ? `layer '${layer.name}' (${layer.class_name}) is shared (called ${calls.length} times): not fused`
          : `layer '${layer.name}' (${layer.class_name}) has a configuration or weights the rewrite does not ` +
              'model: not fused',
      );
    }
    const name = call === 0 ? layer.name : `${layer.name}@${call}`;
    const node = opaque(low, layer, name, inputs, 8);
    lowered.nodes.push(name);
    if (call === 0) lowered.outputs = node.outputs;
    record(layer.name, call, node.outputs);
  }
  const outputs = model.config.output_layers.map((ref) => tensorOf(ref, 'output_layers'));
  const extraTotal = low.extraBytes.reduce((n, b) => n + b.byteLength, 0);
  const data = new Uint8Array(base.byteLength + extraTotal);
  data.set(new Uint8Array(base), 0);
  let offset = base.byteLength;
  for (const bytes of low.extraBytes) {
    data.set(bytes, offset);
    offset += bytes.byteLength;
  }
  return {
    graph: { node: low.nodes },
    weights: new WeightTable([...specs, ...low.extraSpecs], data.buffer),
    layers,
    owner: low.owner,
    refOf,
    outputs,
    modelWeights: new Set(specs.map((s) => s.name)),
    warnings,
  };
}
