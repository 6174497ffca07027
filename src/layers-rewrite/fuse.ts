/**
 * `fuseLayersModelArtifacts`: the offline, pure rewrite of a LayersModel
 * (Keras JSON topology + weights, no tensors, no GPU). The model is lowered
 * to graph ops (lower.ts) and goes through the graph rewrite's own match →
 * legality → decide (the planner); each chosen site then replaces the whole
 * layers it covers by one fused layer with folded weights, named like the
 * site's last layer so inbound nodes and model outputs stay valid.
 */

import type { io } from '@tensorflow/tfjs-core';

import { FoldContext, FinalStage, TensorValue } from '../graph-rewrite/epilogue';
import { FuseOptions, analyzeSites, buildReport, resolveInputShapes } from '../graph-rewrite/fuse';
import { GraphIndex } from '../graph-rewrite/graph_index';
import { ResolvedSite } from '../graph-rewrite/legality';
import { WeightSpecJson } from '../graph-rewrite/model_json';
import { FusionReport } from '../graph-rewrite/report';
import { ShapeInference } from '../graph-rewrite/shapes';
import { NewWeight } from '../graph-rewrite/weights';
import { CONSERVATIVE_PROFILE } from '../planner';
import { FUSED_DW_PW_LAYER, FUSED_PW_DW_LAYER } from './layer_names';
import { FunctionalJson, KerasLayerJson, readTopology } from './keras_json';
import { LoweredModel, lowerModel } from './lower';

export interface LayersFuseOptions extends FuseOptions {
  /**
   * Layer names whose outputs you will read (e.g. a feature layer): they are
   * never folded away. The model outputs are always kept.
   */
  keep?: string[];
}

export interface LayersFuseResult {
  artifacts: io.ModelArtifacts;
  report: FusionReport;
}

const uniq = <T>(items: T[]) => [...new Set(items)];

/** Layers a site covers, in order, and why it cannot become one fused layer (if so). */
function layersOfSite(lowered: LoweredModel, site: ResolvedSite) {
  const c = site.candidate;
  const covered = new Set(c.nodes.map((n) => n.name));
  const names = uniq(
    c.nodes.map((n) => lowered.owner.get(n.name)?.layer).filter((l): l is string => l != null),
  );
  const last = lowered.owner.get(c.output.name)?.layer;
  const problems: string[] = [];
  let trailing: string | undefined;
  for (const name of names) {
    const layer = lowered.layers.get(name)!;
    if (layer.shared) problems.push(`layer '${name}' is called more than once (a shared layer)`);
    const missing = layer.nodes.filter((n) => !covered.has(n));
    if (missing.length === 0) continue;
    if (
      name === last &&
      layer.activation != null &&
      missing.every((n) => lowered.owner.get(n)?.role === 'activation')
    ) {
      trailing = layer.activation; // the fused layer applies it after the fused op
      continue;
    }
    problems.push(`the site covers only part of layer '${name}' (${layer.layer.class_name})`);
  }
  if (!lowered.refOf.has(c.input))
    problems.push(`the site's input '${c.input}' is not the output of a layer`);
  return { names, last: last ?? c.output.name, trailing, problems };
}

function snakeKeys(tile: object | undefined): Record<string, number> | undefined {
  if (tile == null) return undefined;
  return Object.fromEntries(
    Object.entries(tile).map(([k, v]) => [k.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`), v as number]),
  );
}

/** The fused layer's JSON (pythonic keys, as in model.json) and its new weights. */
function fusedLayer(
  lowered: LoweredModel,
  ctx: FoldContext,
  site: ResolvedSite,
  name: string,
  trailing: string | undefined,
  tile: object | undefined,
): { json: KerasLayerJson; weights: NewWeight[] } {
  const c = site.candidate;
  const values = (value: TensorValue): Float32Array => {
    if (value.kind === 'new') return value.values;
    const read = ctx.weights.read(value.name);
    if (read.dtype !== 'float32') throw new Error(`layers rewrite: weight '${value.name}' is ${read.dtype}`);
    return (read.values as Float32Array).slice();
  };
  const shapeOf = (value: TensorValue) =>
    value.kind === 'new' ? value.shape : ctx.weights.spec(value.name)!.shape;
  for (const stage of [site.first, site.second]) {
    if (stage.prelu != null) throw new Error(`layers rewrite: internal error: PReLU weights at '${name}'`);
  }
  const [dw, pw]: FinalStage[] = c.kind === 'dwpw' ? [site.first, site.second] : [site.second, site.first];
  const weights: NewWeight[] = [
    { name: `${name}/dw_kernel`, shape: shapeOf(dw.filter).slice(), values: values(dw.filter) },
    { name: `${name}/pw_kernel`, shape: shapeOf(pw.filter).slice(), values: values(pw.filter) },
  ];
  if (dw.bias != null)
    weights.push({
      name: `${name}/dw_bias`,
      shape: [shapeOf(dw.bias).reduce((a, b) => a * b, 1)],
      values: values(dw.bias),
    });
  if (pw.bias != null)
    weights.push({
      name: `${name}/pw_bias`,
      shape: [shapeOf(pw.bias).reduce((a, b) => a * b, 1)],
      values: values(pw.bias),
    });
  const dwShape = shapeOf(dw.filter);
  const pwShape = shapeOf(pw.filter);
  const ref = lowered.refOf.get(c.input)!;
  const config: Record<string, unknown> = {
    name,
    trainable: false,
    dtype: 'float32',
    kernel_size: [dwShape[0], dwShape[1]],
    filters: pwShape[3],
    strides: [...c.strides],
    padding: site.pad,
    dw_activation: dw.activation,
    pw_activation: pw.activation,
    dw_leakyrelu_alpha: dw.leakyreluAlpha ?? 0.2,
    pw_leakyrelu_alpha: pw.leakyreluAlpha ?? 0.2,
    dw_use_bias: dw.bias != null,
    pw_use_bias: pw.bias != null,
    activation: trailing ?? 'linear',
  };
  const snakeTile = snakeKeys(tile);
  if (snakeTile != null) config.tile = snakeTile;
  return {
    json: {
      name,
      class_name: c.kind === 'dwpw' ? FUSED_DW_PW_LAYER : FUSED_PW_DW_LAYER,
      config,
      inbound_nodes: [[[ref[0], ref[1], ref[2], {}]]],
    },
    weights,
  };
}

/**
 * Rewrites a LayersModel's artifacts (model.json topology + weights) so that
 * the chosen DW→PW and PW→DW sites run as fused layers, with BatchNorm,
 * biases, activations and ZeroPadding2D folded in. Pure and synchronous;
 * the artifacts must hold `weightData`. Same options (plan, profile,
 * inputShape, keep as layer names, measured, tiles) and report as
 * `fuseGraphModelArtifacts`. Load the result with `tf.loadLayersModel(
 * tf.io.fromMemory(artifacts))` (the fused layer classes register when this
 * package is imported).
 */
export function fuseLayersModelArtifacts(
  artifacts: io.ModelArtifacts,
  options: LayersFuseOptions = {},
): LayersFuseResult {
  if (artifacts == null || typeof artifacts !== 'object')
    throw new Error('layers rewrite: no model artifacts');
  if (artifacts.modelTopology == null) throw new Error('layers rewrite: the artifacts have no modelTopology');
  const topology = readTopology(artifacts.modelTopology);
  const specs = (artifacts.weightSpecs ?? []) as WeightSpecJson[];
  if (!Array.isArray(specs)) throw new Error('layers rewrite: weightSpecs must be an array');
  if (specs.length > 0 && artifacts.weightData == null) {
    throw new Error(
      `layers rewrite: missing weights: the manifest lists ${specs.length} weights but the artifacts have no ` +
        'weightData (a weight stream must be read into weightData first)',
    );
  }
  const plan = options.plan ?? 'auto';
  const profile = options.profile ?? CONSERVATIVE_PROFILE;
  const lowered = lowerModel(topology.model, specs, artifacts.weightData);
  const keep = (options.keep ?? []).map((name) => {
    const layer = lowered.layers.get(name);
    if (layer == null) throw new Error(`layers rewrite: keep names '${name}', not a layer of the model`);
    return layer.outputs[0];
  });
  const graph = new GraphIndex(lowered.graph, [...lowered.outputs, ...keep]);
  const warnings: string[] = [...lowered.warnings];
  const inputs = resolveInputShapes(graph, undefined, options.inputShape, warnings);
  const ctx: FoldContext = {
    graph,
    weights: lowered.weights,
    shapes: new ShapeInference(graph, lowered.weights, inputs.shapes),
  };
  const analysis = analyzeSites(
    ctx,
    inputs.dynamic,
    { ...options, plan, profile },
    (site) => layersOfSite(lowered, site).problems,
    false, // no fused block layer: PW→DW→PW chains are planned as pairs
  );

  // Replace each chosen site's layers by its fused layer.
  const replaced: Record<string, string> = {};
  const replacement = new Map<string, KerasLayerJson>();
  const added: NewWeight[] = [];
  const removedWeights = new Set<string>();
  for (const site of analysis.chosen) {
    const { names, last, trailing } = layersOfSite(lowered, site);
    const tile = analysis.decisions.get(site.candidate.id)?.tile;
    const fused = fusedLayer(lowered, ctx, site, last, trailing, tile);
    replacement.set(last, fused.json);
    added.push(...fused.weights);
    for (const name of names) {
      lowered.layers.get(name)!.weights.forEach((w) => removedWeights.add(w));
      if (name !== last) replaced[name] = last;
    }
  }
  const report = buildReport(analysis, {
    policy: plan,
    profile,
    inputShapes: inputs.shapes,
    warnings,
    replaced,
    addedWeights: added.map((w) => w.name),
    removedWeights: [...removedWeights],
  });
  // Sites name layers, not the lowered ops.
  const layerOf = (node: string) => lowered.owner.get(node)?.layer ?? node;
  for (const site of report.sites) {
    if (site.kind === 'pwdwpw') continue;
    site.nodes = uniq(site.nodes.map(layerOf));
    if (site.output != null) site.output = layerOf(site.output);
  }
  if (analysis.chosen.length === 0) return { artifacts, report };

  const model = topology.model;
  const layers = model.config.layers
    .filter((l) => replaced[l.name] == null)
    .map((l) => replacement.get(l.name) ?? l);
  const rewritten: FunctionalJson = { ...model, config: { ...model.config, layers } };
  const rebuilt = lowered.weights.rebuild(
    (name) =>
      lowered.modelWeights.has(name) &&
      !removedWeights.has(name) &&
      lowered.weights.spec(name)?.group !== 'optimizer',
    added,
  );
  const out: io.ModelArtifacts = {
    ...artifacts,
    format: artifacts.format ?? 'layers-model',
    modelTopology: topology.wrap(rewritten) as object,
    weightSpecs: rebuilt.specs as io.WeightsManifestEntry[],
    weightData: rebuilt.data,
  };
  // Inference only: no training config (it would compile the model) and no optimizer state.
  delete out.trainingConfig;
  delete out.getWeightStream;
  return { artifacts: out, report };
}
