/**
 * The planner's view of a model: plain nodes with shapes and consumers, the
 * fusion sites in it, and the chains along which sites can overlap.
 *
 * A site is a path of 2–3 layers whose inner intermediates each have exactly
 * one consumer (the next layer) and are not graph outputs; only then can the
 * intermediate stay on chip. Because a fusable intermediate has one consumer
 * and a dw/pw layer has one activation input, the fusable edges form disjoint
 * chains, and sites can only overlap within a chain.
 */

import { DwPwProblem, IrProblem, PwDwProblem } from '../kernels/types';
import { DwLayerShape, PwLayerShape } from './layer_shapes';

export type LayerKind = 'dw' | 'pw' | 'other';

/** [batch, height, width, channels]. */
export type NhwcShape = [number, number, number, number];

export interface PlannerNode {
  id: string;
  kind: LayerKind;
  /** The activation input (not weights). */
  inShape: NhwcShape;
  outShape: NhwcShape;
  /** Square kernel size; dw layers need it, pw layers must be 1 (the default). */
  kernelSize?: number;
  /** Default 1; pw layers must be 1. */
  stride?: number;
  /** Ids of the nodes that read this node's output. */
  consumers: string[];
  /** The output is read by the caller too, so it must be written. */
  isGraphOutput?: boolean;
  /**
   * pw layers: the output's one consumer is an Add of the input of the
   * pw→dw→pw block ending here (an inverted residual), which the block
   * kernel can take over.
   */
  residualAdd?: boolean;
}

export interface PlannerGraph {
  nodes: PlannerNode[];
}

/** DW→PW, PW→DW, and a whole inverted-residual block PW→DW→PW (with its residual Add where there is one). */
export type SiteKind = 'dwpw' | 'pwdw' | 'pwdwpw';

export const SITE_KINDS: readonly SiteKind[] = ['dwpw', 'pwdw', 'pwdwpw'];

export const SITE_PATTERNS: Record<SiteKind, readonly LayerKind[]> = {
  dwpw: ['dw', 'pw'],
  pwdw: ['pw', 'dw'],
  pwdwpw: ['pw', 'dw', 'pw'],
};

export interface Site {
  /** `${kind}:${node ids joined by '>'}`. */
  id: string;
  kind: SiteKind;
  nodes: string[];
  legal: boolean;
  /** Why the site cannot be fused, when it cannot. */
  reason?: string;
}

export function siteId(kind: SiteKind, nodes: string[]): string {
  return `${kind}:${nodes.join('>')}`;
}

/** Throws on graphs the planner cannot reason about. */
export function validateGraph(graph: PlannerGraph): Map<string, PlannerNode> {
  const byId = new Map<string, PlannerNode>();
  for (const node of graph.nodes) {
    if (byId.has(node.id)) throw new Error(`planner graph: duplicate node id '${node.id}'`);
    byId.set(node.id, node);
  }
  const producers = new Map<string, number>();
  for (const node of graph.nodes) {
    for (const shape of [node.inShape, node.outShape]) {
      if (shape.length !== 4 || !shape.every((v) => Number.isInteger(v) && v > 0)) {
        throw new Error(`planner graph: node '${node.id}' has a bad NHWC shape ${JSON.stringify(shape)}`);
      }
    }
    for (const consumer of node.consumers) {
      if (!byId.has(consumer)) {
        throw new Error(`planner graph: node '${node.id}' lists unknown consumer '${consumer}'`);
      }
      producers.set(consumer, (producers.get(consumer) ?? 0) + 1);
    }
  }
  for (const node of graph.nodes) {
    if (node.kind !== 'other' && (producers.get(node.id) ?? 0) > 1) {
      throw new Error(
        `planner graph: ${node.kind} node '${node.id}' has several producers; it takes one input`,
      );
    }
  }
  return byId;
}

/** The depthwise layer a node describes, or why it is not one the kernels take. */
export function dwShapeOf(node: PlannerNode): DwLayerShape | string {
  const [n, h, w, c] = node.inShape;
  const [on, oh, ow, oc] = node.outShape;
  const k = node.kernelSize;
  const s = node.stride ?? 1;
  if (k == null || !Number.isInteger(k) || k < 1) return `depthwise '${node.id}' needs a kernel size`;
  if (oc !== c) return `depthwise '${node.id}' has a channel multiplier other than 1`;
  if (on !== n) return `depthwise '${node.id}' changes the batch`;
  return {
    batch: n,
    inHeight: h,
    inWidth: w,
    channels: c,
    kernelSize: k,
    stride: s,
    outHeight: oh,
    outWidth: ow,
  };
}

/** The pointwise layer a node describes, or why it is not one the kernels take. */
export function pwShapeOf(node: PlannerNode): PwLayerShape | string {
  const [n, h, w, c] = node.inShape;
  const [on, oh, ow, oc] = node.outShape;
  if ((node.kernelSize ?? 1) !== 1 || (node.stride ?? 1) !== 1) {
    return `pointwise '${node.id}' is not a 1x1 stride-1 convolution`;
  }
  if (on !== n || oh !== h || ow !== w) return `pointwise '${node.id}' changes the spatial shape`;
  return { batch: n, height: h, width: w, inChannels: c, outChannels: oc };
}

export function dwPwProblemOf(dw: DwLayerShape, pw: PwLayerShape): DwPwProblem {
  return {
    batch: dw.batch,
    inHeight: dw.inHeight,
    inWidth: dw.inWidth,
    channels: dw.channels,
    outChannels: pw.outChannels,
    kernelSize: dw.kernelSize,
    stride: dw.stride,
    outHeight: dw.outHeight,
    outWidth: dw.outWidth,
  };
}

/** A pw→dw→pw site: the block's shapes and whether its residual Add is part of it. */
export interface BlockSiteProblem extends IrProblem {
  residual: boolean;
}

export function blockProblemOf(
  expand: PwLayerShape,
  dw: DwLayerShape,
  project: PwLayerShape,
  residual: boolean,
): BlockSiteProblem {
  return {
    batch: expand.batch,
    inHeight: expand.height,
    inWidth: expand.width,
    inChannels: expand.inChannels,
    expandedChannels: expand.outChannels,
    outChannels: project.outChannels,
    kernelSize: dw.kernelSize,
    stride: dw.stride,
    outHeight: dw.outHeight,
    outWidth: dw.outWidth,
    residual,
  };
}

export function pwDwProblemOf(pw: PwLayerShape, dw: DwLayerShape): PwDwProblem {
  return {
    batch: pw.batch,
    inHeight: pw.height,
    inWidth: pw.width,
    inChannels: pw.inChannels,
    channels: pw.outChannels,
    kernelSize: dw.kernelSize,
    stride: dw.stride,
    outHeight: dw.outHeight,
    outWidth: dw.outWidth,
  };
}

const sameShape = (a: NhwcShape, b: NhwcShape) => a.every((v, i) => v === b[i]);

/** Why the path cannot be fused, or undefined when it can. */
function illegalReason(path: PlannerNode[]): string | undefined {
  for (const node of path) {
    const shape = node.kind === 'dw' ? dwShapeOf(node) : pwShapeOf(node);
    if (typeof shape === 'string') return shape;
  }
  for (let i = 0; i + 1 < path.length; i++) {
    const [from, to] = [path[i], path[i + 1]];
    if (from.consumers.length !== 1) {
      return `intermediate '${from.id}' has ${from.consumers.length} consumers`;
    }
    if (from.isGraphOutput) return `intermediate '${from.id}' is a graph output`;
    if (!sameShape(from.outShape, to.inShape)) {
      return `'${from.id}' output ${JSON.stringify(from.outShape)} does not match '${to.id}' input`;
    }
  }
  return undefined;
}

/**
 * Every path whose layer kinds match a site pattern, legal or not, ordered by
 * the graph position of its first node, then by kind.
 */
export function findSites(graph: PlannerGraph, kinds: readonly SiteKind[] = SITE_KINDS): Site[] {
  const byId = validateGraph(graph);
  const sites: Site[] = [];
  for (const first of graph.nodes) {
    for (const kind of SITE_KINDS) {
      if (!kinds.includes(kind)) continue;
      const pattern = SITE_PATTERNS[kind];
      for (const path of pathsMatching(first, pattern, byId)) {
        const nodes = path.map((n) => n.id);
        const reason = illegalReason(path);
        sites.push({ id: siteId(kind, nodes), kind, nodes, legal: reason == null, reason });
      }
    }
  }
  return sites;
}

function pathsMatching(
  first: PlannerNode,
  pattern: readonly LayerKind[],
  byId: Map<string, PlannerNode>,
): PlannerNode[][] {
  if (first.kind !== pattern[0]) return [];
  let paths: PlannerNode[][] = [[first]];
  for (const kind of pattern.slice(1)) {
    paths = paths.flatMap((path) =>
      path[path.length - 1].consumers
        .map((id) => byId.get(id) as PlannerNode)
        .filter((next) => next.kind === kind)
        .map((next) => [...path, next]),
    );
  }
  return paths;
}

/**
 * The chains of layers joined by fusable edges (single consumer, not an
 * output, both ends dw or pw), in graph order. Legal sites are contiguous
 * runs of one chain.
 */
export function fusableChains(graph: PlannerGraph): string[][] {
  const byId = validateGraph(graph);
  const next = new Map<string, string>();
  const hasPrevious = new Set<string>();
  for (const node of graph.nodes) {
    if (node.kind === 'other' || node.isGraphOutput || node.consumers.length !== 1) continue;
    const consumer = byId.get(node.consumers[0]) as PlannerNode;
    if (consumer.kind === 'other') continue;
    next.set(node.id, consumer.id);
    hasPrevious.add(consumer.id);
  }
  const chains: string[][] = [];
  for (const node of graph.nodes) {
    if (hasPrevious.has(node.id) || !next.has(node.id)) continue;
    const chain = [node.id];
    for (let id = next.get(node.id); id != null; id = next.get(id)) chain.push(id);
    chains.push(chain);
  }
  return chains;
}
