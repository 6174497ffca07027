/**
 * Finding fusion sites in a GraphDef: every depthwise → pointwise (DW→PW) and
 * pointwise → depthwise (PW→DW) pair joined by a chain of foldable
 * elementwise ops, each with what folding it takes and every reason it
 * cannot be fused; PW→DW→PW chains are listed as candidates too. Pure
 * functions over the model JSON and its weights.
 *
 * Structural rules (a site that breaks one is reported, never rewritten):
 * every intermediate tensor between the first conv and the last folded op
 * has exactly one consumer (control edges count) and is not a model output;
 * the ops in between are Identity, per-channel/scalar affine ops, at most
 * one activation, affine ops after it that fold into the next conv, and a
 * zero Pad right before a VALID/EXPLICIT depthwise.
 */

import { ActivationRegion, matchActivationRegion } from './activation_forms';
import { ConvKind, ConvSpec, ExplicitPadding, convKindOf, readConv } from './conv';
import {
  Affine,
  FoldContext,
  FoldError,
  StageBuilder,
  absorbTrailing,
  classifyStep,
  combinePadding,
  composeAffine,
  dataIndexOf,
  identityAffine,
  readsPadding,
  zeroPadOf,
} from './epilogue';
import { NodeJson } from './model_json';

export type SiteKind = 'dwpw' | 'pwdw' | 'pwdwpw';

/** A DW→PW or PW→DW pair as found, with its folds applied. */
export interface SiteCandidate {
  /** `${kind}:${first conv}>${second conv}`, the planner's site id. */
  id: string;
  kind: 'dwpw' | 'pwdw';
  convs: [ConvSpec, ConvSpec];
  /** The site's input tensor (before a folded Pad). */
  input: string;
  /** The depthwise's padding with any folded Pad. */
  dwPadding: ConvSpec['padding'];
  /** Depthwise strides (the pointwise is stride 1). */
  strides: [number, number];
  /** Every node the fused node replaces, in graph order; the last keeps its name. */
  nodes: NodeJson[];
  output: NodeJson;
  /** First and second stage, folds applied (only meaningful when `problems` is empty). */
  stages: [StageBuilder, StageBuilder];
  /** Control inputs of the replaced nodes, kept on the fused node. */
  controlInputs: string[];
  /** Why the site cannot be fused; empty when it is structurally fusable. */
  problems: string[];
  /** What was folded, for the report. */
  notes: string[];
}

/** A PW→DW→PW chain (whole inverted-residual block): listed, not rewritten yet. */
export interface ChainCandidate {
  id: string;
  kind: 'pwdwpw';
  convs: [string, string, string];
  /** Whether both of its pairs are structurally fusable. */
  pairsFusable: boolean;
}

export interface MatchResult {
  convs: Map<string, ConvSpec>;
  sites: SiteCandidate[];
  chains: ChainCandidate[];
}

interface LinkPath {
  to: NodeJson;
  producer: StageBuilder;
  post?: Affine;
  postFrom?: string;
  absorbed: NodeJson[];
  pad?: NodeJson;
  problems: string[];
}

const MAX_LINK_OPS = 24;
const PAD_OPS = new Set(['Pad', 'PadV2', 'MirrorPad']);

/** Every DW→PW / PW→DW candidate site and PW→DW→PW chain of the graph. */
export function matchSites(ctx: FoldContext): MatchResult {
  const convs = new Map<string, ConvSpec>();
  for (const node of ctx.graph.nodes) {
    const kind = convKindOf(node, ctx.shapes, ctx.graph);
    if (kind != null) convs.set(node.name, readConv(node, kind, ctx.shapes, ctx.graph));
  }
  const sites: SiteCandidate[] = [];
  for (const from of convs.values()) {
    if (from.outChannels == null) continue;
    const target: ConvKind = from.kind === 'dw' ? 'pw' : 'dw';
    for (const link of walkLink(ctx, from, target, convs)) {
      sites.push(buildCandidate(ctx, from, convs.get(link.to.name)!, link));
    }
  }
  sites.sort((a, b) => ctx.graph.position(a.convs[0].node.name) - ctx.graph.position(b.convs[0].node.name));
  const chains: ChainCandidate[] = [];
  for (const pwdw of sites.filter((s) => s.kind === 'pwdw')) {
    const dw = pwdw.convs[1].node.name;
    for (const dwpw of sites.filter((s) => s.kind === 'dwpw' && s.convs[0].node.name === dw)) {
      const names: [string, string, string] = [pwdw.convs[0].node.name, dw, dwpw.convs[1].node.name];
      chains.push({
        id: `pwdwpw:${names.join('>')}`,
        kind: 'pwdwpw',
        convs: names,
        pairsFusable: pwdw.problems.length === 0 && dwpw.problems.length === 0,
      });
    }
  }
  return { convs, sites, chains };
}

/** Paths from `from`'s output to a conv of kind `target` through foldable ops. */
function walkLink(
  ctx: FoldContext,
  from: ConvSpec,
  target: ConvKind,
  convs: Map<string, ConvSpec>,
): LinkPath[] {
  const found: LinkPath[] = [];
  const isTarget = (node: NodeJson) => convs.get(node.name)?.kind === target;
  const channels = from.outChannels!;
  const visit = (
    tensor: string,
    producer: StageBuilder,
    post: Affine | undefined,
    postFrom: string | undefined,
    absorbed: NodeJson[],
    problems: string[],
  ): void => {
    if (absorbed.length > MAX_LINK_OPS) return;
    const here = [...problems];
    const kept = ctx.graph.isKept(tensor);
    if (kept) here.push(`'${tensor}' is a model output`);
    if (producer.activation === 'linear' && post == null && !kept) {
      let region: ActivationRegion | undefined;
      try {
        region = matchActivationRegion(ctx.graph, ctx.weights, tensor);
      } catch (e) {
        if (!(e instanceof FoldError)) throw e;
      }
      if (region != null) {
        const next = producer.clone();
        next.setActivation(region.activation, region.nodes);
        visit(region.exit.name, next, post, postFrom, [...absorbed, ...region.nodes], here);
        return;
      }
    }
    const consumers = ctx.graph.consumers(tensor);
    if (consumers.length > 1) here.push(`'${tensor}' has ${consumers.length} consumers`);
    for (const c of consumers.filter((c) => c.control)) {
      here.push(`'${tensor}' is a control input of '${c.node.name}'`);
    }
    for (const c of consumers) {
      if (c.control || c.output !== 0) continue;
      const n = c.node;
      const index = dataIndexOf(c);
      if (index === 0 && isTarget(n)) {
        found.push({ to: n, producer, post, postFrom, absorbed, problems: here });
        continue;
      }
      if (target === 'dw' && index === 0 && PAD_OPS.has(n.op)) {
        const padConsumers = ctx.graph.consumers(n.name);
        for (const pc of padConsumers) {
          if (pc.control || dataIndexOf(pc) !== 0 || !isTarget(pc.node)) continue;
          const padProblems = [...here];
          if (padConsumers.length > 1) padProblems.push(`'${n.name}' has ${padConsumers.length} consumers`);
          if (ctx.graph.isKept(n.name)) padProblems.push(`'${n.name}' is a model output`);
          found.push({
            to: pc.node,
            producer,
            post,
            postFrom,
            absorbed: [...absorbed, n],
            pad: n,
            problems: padProblems,
          });
        }
        continue;
      }
      const step = classifyStep(ctx, n, index, channels);
      const path = [...absorbed, n];
      switch (step.kind) {
        case 'end':
          break;
        case 'identity':
          visit(n.name, producer, post, postFrom, path, here);
          break;
        case 'blocked':
          visit(n.name, producer, post, postFrom, path, [...here, step.reason]);
          break;
        case 'affine':
          if (producer.activation === 'linear' && post == null) {
            const next = producer.clone();
            try {
              next.foldOutputAffine(step.affine, n, step.shiftTensor);
              visit(n.name, next, post, postFrom, path, here);
            } catch (e) {
              if (!(e instanceof FoldError)) throw e;
              visit(n.name, producer, post, postFrom, path, [...here, e.message]);
            }
          } else {
            const composed = composeAffine(post ?? identityAffine(channels), step.affine);
            visit(n.name, producer, composed, postFrom ?? `${n.op} '${n.name}'`, path, here);
          }
          break;
        case 'activation':
          if (producer.activation === 'linear' && post == null) {
            const next = producer.clone();
            next.setActivation(step.activation, [n], step.prelu, step.leakyreluAlpha);
            visit(n.name, next, post, postFrom, path, here);
          } else {
            const after =
              post != null ? `${postFrom} after the activation` : `activation ${producer.activation}`;
            visit(n.name, producer, post, postFrom, path, [
              ...here,
              `${n.op} '${n.name}' follows ${after} and cannot be fused`,
            ]);
          }
          break;
      }
    }
  };
  visit(from.node.name, new StageBuilder(from, ctx), undefined, undefined, [], []);
  return found;
}

const uniq = <T>(items: T[]) => [...new Set(items)];

function buildCandidate(ctx: FoldContext, from: ConvSpec, to: ConvSpec, link: LinkPath): SiteCandidate {
  const kind = from.kind === 'dw' ? 'dwpw' : 'pwdw';
  const problems = [...from.problems.map((p) => `'${from.node.name}': ${p}`)];
  problems.push(...to.problems.map((p) => `'${to.node.name}': ${p}`), ...link.problems);
  const dw = kind === 'dwpw' ? from : to;
  let dwPadding = dw.padding;
  let input = from.input;
  const leading: NodeJson[] = [];
  if (link.pad != null) {
    const folded = foldPad(ctx, link.pad, dwPadding);
    if ('problem' in folded) problems.push(folded.problem);
    else dwPadding = folded.padding;
  } else if (kind === 'dwpw') {
    // A zero Pad feeding the site's depthwise (and nothing else) folds into its padding.
    const padNode = ctx.graph.inputNode(from.node, 0);
    if (
      padNode != null &&
      PAD_OPS.has(padNode.op) &&
      !ctx.graph.isKept(padNode.name) &&
      ctx.graph.consumers(padNode.name).length === 1
    ) {
      const folded = foldPad(ctx, padNode, dwPadding);
      if (!('problem' in folded)) {
        dwPadding = folded.padding;
        input = ctx.graph.dataInputs(padNode)[0];
        leading.push(padNode);
      }
    }
  }
  if (dw.strides[0] !== dw.strides[1]) problems.push(`'${dw.node.name}': asymmetric strides [${dw.strides}]`);
  const first = link.producer.clone();
  let second = new StageBuilder(to, ctx);
  if (link.post != null && to.outChannels != null) {
    if (to.kind === 'dw' && link.post.hasShift && readsPadding(dwPadding)) {
      problems.push(
        `${link.postFrom} after the activation adds a shift that would land in front of the zero-padded ` +
          `depthwise '${to.node.name}'`,
      );
    } else {
      try {
        second.foldInputAffine(link.post, link.postFrom!);
      } catch (e) {
        if (!(e instanceof FoldError)) throw e;
        problems.push(e.message);
      }
    }
  }
  let trailing: NodeJson[] = [];
  if (problems.length === 0 && to.outChannels != null) {
    const tail = absorbTrailing(ctx, second, to.node.name);
    second = tail.stage;
    trailing = tail.absorbed;
  }
  const nodes = [...leading, from.node, ...link.absorbed, to.node, ...trailing];
  const names = new Set(nodes.map((n) => n.name));
  const controlInputs = uniq(nodes.flatMap((n) => (n.input ?? []).filter((i) => i.startsWith('^'))));
  if (controlInputs.some((i) => names.has(i.slice(1)))) problems.push('control edge inside the site');
  return {
    id: `${kind}:${from.node.name}>${to.node.name}`,
    kind,
    convs: [from, to],
    input,
    dwPadding,
    strides: dw.strides,
    nodes,
    output: nodes[nodes.length - 1],
    stages: [first, second],
    controlInputs,
    problems: uniq(problems),
    notes: [
      ...first.notes,
      ...second.notes,
      ...(link.pad || leading.length ? ['zero Pad folded into the depthwise padding'] : []),
    ],
  };
}

function foldPad(
  ctx: FoldContext,
  pad: NodeJson,
  dwPadding: ConvSpec['padding'],
): { padding: ConvSpec['padding'] } | { problem: string } {
  const zero = zeroPadOf(ctx, pad);
  if ('problem' in zero) return zero;
  const combined = combinePadding(dwPadding, zero.pairs as ExplicitPadding, pad.name);
  if (!Array.isArray(combined) && typeof combined === 'object') return combined;
  return { padding: combined };
}
