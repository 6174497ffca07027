/**
 * The parts of a Keras / tfjs-layers model topology (the `modelTopology` of a
 * LayersModel's model.json, pythonic snake_case keys) the layers rewrite
 * reads and writes: the functional config's layers, their inbound nodes and
 * the model's inputs and outputs. A Sequential model is read as the
 * functional model it stands for.
 */

/** [layer name, node index, tensor index] (+ call kwargs), as in `inbound_nodes` and `output_layers`. */
export type LayerRef = [string, number, number, Record<string, unknown>?];

export interface KerasLayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  /** One entry per call of the layer, each the list of tensors it was called on. */
  inbound_nodes?: LayerRef[][];
}

/** A functional model: layers in topological order, inputs and outputs. */
export interface FunctionalJson {
  class_name: string;
  config: {
    name?: string;
    layers: KerasLayerJson[];
    input_layers: LayerRef[];
    output_layers: LayerRef[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** The topology with its wrapper: `{model_config, keras_version, ...}` or the model config itself. */
export interface KerasTopology {
  model: FunctionalJson;
  /** Puts a (rewritten) model config back into the original wrapper. */
  wrap: (model: FunctionalJson) => unknown;
  /** Whether the original was a Sequential model (read as functional). */
  sequential: boolean;
}

function fail(message: string): never {
  throw new Error(`layers rewrite: ${message}`);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v != null && typeof v === 'object' && !Array.isArray(v);

function checkRef(ref: unknown, where: string): LayerRef {
  if (
    !Array.isArray(ref) ||
    ref.length < 3 ||
    typeof ref[0] !== 'string' ||
    !Number.isInteger(ref[1]) ||
    !Number.isInteger(ref[2])
  ) {
    fail(`${where}: malformed layer reference ${JSON.stringify(ref)}`);
  }
  return ref as LayerRef;
}

function checkLayer(layer: unknown, i: number): KerasLayerJson {
  if (!isObject(layer)) fail(`layer #${i} is not an object`);
  const name = layer.name ?? (isObject(layer.config) ? layer.config.name : undefined);
  if (typeof name !== 'string' || name === '') fail(`layer #${i} has no name`);
  if (typeof layer.class_name !== 'string') fail(`layer '${name}' has no class_name`);
  if (!isObject(layer.config)) fail(`layer '${name}' has no config`);
  return { ...(layer as unknown as KerasLayerJson), name };
}

/** A Sequential config as the equivalent functional config (an InputLayer from the first layer's input shape). */
function sequentialAsFunctional(root: Record<string, unknown>): FunctionalJson {
  const config = root.config;
  const list = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(list)) fail('the Sequential model has no layer list');
  const name = isObject(config) && typeof config.name === 'string' ? config.name : 'sequential';
  const layers = list.map(checkLayer).map((l) => ({ ...l }));
  if (layers.length === 0) fail('the Sequential model has no layers');
  const out: KerasLayerJson[] = [];
  let previous: string;
  if (layers[0].class_name === 'InputLayer') {
    out.push({ ...layers.shift()!, inbound_nodes: [] });
  } else {
    const first = layers[0].config;
    const shape =
      first.batch_input_shape ?? (first.input_shape ? [null, ...(first.input_shape as number[])] : null);
    if (!Array.isArray(shape))
      fail(`the first layer '${layers[0].name}' of the Sequential model has no input shape`);
    const inputName = `${layers[0].name}_input`;
    out.push({
      name: inputName,
      class_name: 'InputLayer',
      config: { batch_input_shape: shape, dtype: first.dtype ?? 'float32', sparse: false, name: inputName },
      inbound_nodes: [],
    });
  }
  previous = out[0].name;
  for (const layer of layers) {
    out.push({ ...layer, inbound_nodes: [[[previous, 0, 0, {}]]] });
    previous = layer.name;
  }
  return {
    class_name: 'Model',
    config: { name, layers: out, input_layers: [[out[0].name, 0, 0]], output_layers: [[previous, 0, 0]] },
  };
}

/** Reads a LayersModel topology (checks its structure; names the layer at fault). */
export function readTopology(topology: unknown): KerasTopology {
  if (!isObject(topology)) fail('modelTopology is not a JSON object');
  if (Array.isArray(topology.node)) fail('this is a graph model (modelTopology.node); use loadGraphModel');
  const wrapped = isObject(topology.model_config);
  const root = (wrapped ? topology.model_config : topology) as Record<string, unknown>;
  if (typeof root.class_name !== 'string') fail('modelTopology has no class_name (not a Keras model)');
  const wrap = (model: FunctionalJson) => (wrapped ? { ...topology, model_config: model } : model);
  if (root.class_name === 'Sequential')
    return { model: sequentialAsFunctional(root), wrap, sequential: true };
  const config = root.config;
  if (!isObject(config) || !Array.isArray(config.layers))
    fail(`the ${root.class_name} model has no layer list`);
  const layers = config.layers.map(checkLayer);
  for (const layer of layers) {
    const calls = layer.inbound_nodes ?? [];
    if (!Array.isArray(calls)) fail(`layer '${layer.name}' has malformed inbound_nodes`);
    calls.forEach((call, i) => {
      if (!Array.isArray(call)) {
        fail(`layer '${layer.name}': inbound node #${i} is not a list of [layer, node, tensor] references`);
      }
      call.forEach((ref) => checkRef(ref, `layer '${layer.name}'`));
    });
  }
  const refs = (key: string) => {
    const list = config[key];
    if (!Array.isArray(list)) fail(`the model config has no ${key}`);
    return list.map((r) => checkRef(r, key));
  };
  return {
    model: {
      ...(root as FunctionalJson),
      config: { ...config, layers, input_layers: refs('input_layers'), output_layers: refs('output_layers') },
    },
    wrap,
    sequential: false,
  };
}
