/**
 * Rewriting chosen sites: each becomes ONE node of a custom op
 * (`FusedDwPwConv2D` / `FusedPwDwConv2D`, or `FusedInvertedResidualBlock` for
 * a whole PW→DW→PW block, whose weights are one packed constant) named like
 * the site's last node, so
 * downstream inputs and signature outputs stay valid. Its inputs are the
 * site's input, the weight tensors in a fixed role order (listed in the
 * `input_roles` attribute) and the replaced nodes' control inputs; folded
 * weights become new constants. Constants nothing reads any more are dropped
 * together with their weight bytes. The input JSON is not modified.
 */

import { FusedActivation, FusedPadding, IrTile } from '../kernels/types';
import { ResolvedBlock } from './blocks';
import { FinalStage, TensorValue } from './epilogue';
import { GraphIndex } from './graph_index';
import {
  AttrValueJson,
  GraphJson,
  NodeJson,
  WeightSpecJson,
  attrFloat,
  attrInt,
  attrIntList,
  attrString,
  attrStringList,
  parseTensorName,
} from './model_json';
import { ResolvedSite, Tile } from './legality';
import { NewWeight, WeightTable } from './weights';

/** Custom op of a rewritten DW→PW site. */
export const FUSED_DW_PW_OP = 'FusedDwPwConv2D';
/** Custom op of a rewritten PW→DW site. */
export const FUSED_PW_DW_OP = 'FusedPwDwConv2D';
/** Custom op of a rewritten PW→DW→PW chain (+ residual): one FusedInvertedResidual. */
export const FUSED_INVERTED_RESIDUAL_OP = 'FusedInvertedResidualBlock';

/** Input roles in the order they appear on a fused node (absent ones skipped). */
export const DW_PW_ROLES = [
  'x',
  'dw_filter',
  'pw_filter',
  'dw_bias',
  'dw_prelu',
  'pw_bias',
  'pw_prelu',
] as const;
export const PW_DW_ROLES = [
  'x',
  'pw_filter',
  'dw_filter',
  'pw_bias',
  'pw_prelu',
  'dw_bias',
  'dw_prelu',
] as const;

export interface ChosenSite {
  site: ResolvedSite;
  tile?: Tile;
}

export interface ChosenBlock {
  block: ResolvedBlock;
  /** The packed weights (`packInvertedResidualData` of the folded stages). */
  packed: Float32Array;
  tile?: Partial<IrTile>;
}

export interface RewriteResult {
  topology: GraphJson;
  weightSpecs: WeightSpecJson[];
  weightData: ArrayBuffer;
  /** Removed node → the fused node that replaced it. */
  replaced: Record<string, string>;
  addedWeights: string[];
  removedWeights: string[];
}

function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

function activationAttrs(
  prefix: 'dw' | 'pw' | 'expand' | 'project',
  stage: FinalStage,
): Record<string, AttrValueJson> {
  const attrs: Record<string, AttrValueJson> = { [`${prefix}_activation`]: attrString(stage.activation) };
  if (stage.activation === ('leakyrelu' as FusedActivation)) {
    attrs[`${prefix}_leakyrelu_alpha`] = attrFloat(stage.leakyreluAlpha ?? 0.2);
  }
  return attrs;
}

function paddingAttrs(pad: FusedPadding): Record<string, AttrValueJson> {
  if (pad === 'same' || pad === 'valid') return { padding: attrString(pad.toUpperCase()) };
  if (typeof pad === 'number') {
    return {
      padding: attrString('EXPLICIT'),
      explicit_paddings: attrIntList([0, 0, pad, pad, pad, pad, 0, 0]),
    };
  }
  return { padding: attrString('EXPLICIT'), explicit_paddings: attrIntList(pad.flat()) };
}

export function applyRewrite(
  topology: GraphJson,
  graph: GraphIndex,
  weights: WeightTable,
  chosen: ChosenSite[],
  options: { dropUnusedWeights: boolean },
  blocks: ChosenBlock[] = [],
): RewriteResult {
  const taken = new Set(topology.node.map((n) => n.name));
  const replacement = new Map<string, NodeJson[]>(); // output name -> [new consts..., fused node]
  const removed = new Set<string>();
  const replaced: Record<string, string> = {};
  const added: NewWeight[] = [];
  const markReplaced = (nodes: NodeJson[], outputName: string) => {
    for (const n of nodes) {
      if (n.name === outputName) continue;
      if (removed.has(n.name))
        throw new Error(`graph rewrite: internal error: '${n.name}' is in two fused sites`);
      removed.add(n.name);
      replaced[n.name] = outputName;
    }
  };
  for (const { site, tile } of chosen) {
    const c = site.candidate;
    const outputName = c.output.name;
    const consts: NodeJson[] = [];
    const tensor = (value: TensorValue, role: string): string => {
      if (value.kind === 'tensor') return value.name;
      const name = uniqueName(`${outputName}/fused_${role}`, taken);
      consts.push({
        name,
        op: 'Const',
        attr: {
          dtype: { type: 'DT_FLOAT' },
          value: {
            tensor: {
              dtype: 'DT_FLOAT',
              tensorShape: { dim: value.shape.map((d) => ({ size: String(d) })) },
            },
          },
        },
      });
      added.push({ name, shape: value.shape, values: value.values });
      return name;
    };
    const [firstKind, secondKind] = c.kind === 'dwpw' ? (['dw', 'pw'] as const) : (['pw', 'dw'] as const);
    const byRole: Record<string, string | undefined> = {
      x: c.input,
      [`${firstKind}_filter`]: tensor(site.first.filter, `${firstKind}_filter`),
      [`${secondKind}_filter`]: tensor(site.second.filter, `${secondKind}_filter`),
      [`${firstKind}_bias`]: site.first.bias && tensor(site.first.bias, `${firstKind}_bias`),
      [`${firstKind}_prelu`]: site.first.prelu,
      [`${secondKind}_bias`]: site.second.bias && tensor(site.second.bias, `${secondKind}_bias`),
      [`${secondKind}_prelu`]: site.second.prelu,
    };
    const roles = (c.kind === 'dwpw' ? DW_PW_ROLES : PW_DW_ROLES).filter((r) => byRole[r] != null);
    const [sh, sw] = c.strides;
    const attr: Record<string, AttrValueJson> = {
      T: { type: 'DT_FLOAT' },
      input_roles: attrStringList([...roles]),
      strides: attrIntList([1, sh, sw, 1]),
      ...paddingAttrs(site.pad),
      ...activationAttrs(firstKind, site.first),
      ...activationAttrs(secondKind, site.second),
      fused_nodes: attrStringList(c.nodes.map((n) => n.name)),
    };
    for (const [key, value] of Object.entries(tile ?? {})) {
      if (typeof value === 'number') attr[`tile_${key}`] = attrInt(value);
    }
    const fusedNode: NodeJson = {
      name: outputName,
      op: c.kind === 'dwpw' ? FUSED_DW_PW_OP : FUSED_PW_DW_OP,
      input: [...roles.map((r) => byRole[r]!), ...c.controlInputs],
      attr,
      ...(c.output.device != null ? { device: c.output.device } : {}),
    };
    replacement.set(outputName, [...consts, fusedNode]);
    markReplaced(c.nodes, outputName);
  }
  for (const { block, packed, tile } of blocks) {
    const c = block.candidate;
    const outputName = c.output.name;
    const name = uniqueName(`${outputName}/fused_packed`, taken);
    added.push({ name, shape: [packed.length], values: packed });
    const layout = block.layout!;
    const [expand, dw, project] = block.stages;
    const [sh, sw] = c.strides;
    const attr: Record<string, AttrValueJson> = {
      T: { type: 'DT_FLOAT' },
      strides: attrIntList([1, sh, sw, 1]),
      ...paddingAttrs(block.pad),
      ...activationAttrs('expand', expand),
      ...activationAttrs('dw', dw),
      ...activationAttrs('project', project),
      residual: { b: c.residual },
      // The packed layout as the dimensions and epilogue tensors it is built from.
      block_dims: attrIntList([
        layout.inChannels,
        layout.expandedChannels,
        layout.outChannels,
        layout.kernelSize,
      ]),
      expand_bias: { b: layout.expand.bias >= 0 },
      dw_bias: { b: layout.depthwise.bias >= 0 },
      project_bias: { b: layout.project.bias >= 0 },
      fused_nodes: attrStringList(c.nodes.map((n) => n.name)),
    };
    const alphas = { expand: layout.expand, dw: layout.depthwise, project: layout.project };
    for (const [prefix, stage] of Object.entries(alphas)) {
      if (stage.alphaShape != null) attr[`${prefix}_alpha_shape`] = attrIntList(stage.alphaShape);
    }
    for (const [key, value] of Object.entries(tile ?? {})) {
      if (typeof value === 'number') attr[`tile_${key}`] = attrInt(value);
      else if (typeof value === 'boolean') attr[`tile_${key}`] = { b: value };
    }
    const constNode: NodeJson = {
      name,
      op: 'Const',
      attr: {
        dtype: { type: 'DT_FLOAT' },
        value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: String(packed.length) }] } } },
      },
    };
    const fusedNode: NodeJson = {
      name: outputName,
      op: FUSED_INVERTED_RESIDUAL_OP,
      input: [c.input, name, ...c.controlInputs],
      attr,
      ...(c.output.device != null ? { device: c.output.device } : {}),
    };
    replacement.set(outputName, [constNode, fusedNode]);
    markReplaced(c.nodes, outputName);
  }

  let nodes: NodeJson[] = [];
  for (const node of topology.node) {
    if (removed.has(node.name)) continue;
    nodes.push(...(replacement.get(node.name) ?? [node]));
  }
  // Constants only the replaced nodes read are dropped (with their weights).
  const referenced = new Set(nodes.flatMap((n) => (n.input ?? []).map((i) => parseTensorName(i).node)));
  const candidates = new Set<string>();
  const allReplaced = [
    ...chosen.flatMap(({ site }) => site.candidate.nodes),
    ...blocks.flatMap(({ block }) => block.candidate.nodes),
  ];
  for (const n of allReplaced) {
    for (const input of graph.dataInputs(n)) {
      const producer = graph.get(parseTensorName(input).node);
      if (producer?.op === 'Const') candidates.add(producer.name);
    }
  }
  const dropped = new Set([...candidates].filter((name) => !referenced.has(name)));
  nodes = nodes.filter((n) => !dropped.has(n.name));
  const droppedWeights = options.dropUnusedWeights ? dropped : new Set<string>();
  const rebuilt = weights.rebuild((name) => !droppedWeights.has(name), added);

  // Every input must still resolve: the rewrite never leaves a dangling edge.
  const names = new Set(nodes.map((n) => n.name));
  for (const node of nodes) {
    for (const input of node.input ?? []) {
      if (!names.has(parseTensorName(input).node)) {
        throw new Error(`graph rewrite: internal error: '${node.name}' reads removed node '${input}'`);
      }
    }
  }
  return {
    topology: { ...topology, node: nodes },
    weightSpecs: rebuilt.specs,
    weightData: rebuilt.data,
    replaced,
    addedWeights: added.map((w) => w.name),
    removedWeights: [...droppedWeights].filter((n) => weights.has(n)),
  };
}
