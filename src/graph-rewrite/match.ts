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
import { NodeJson, parseTensorName, tensorKey } from './model_json';

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
  /** An affine map after the first stage's activation, folded into the second conv's input. */
  inputAffine?: { affine: Affine; from: string };
}

/**
 * A PW→DW→PW chain (a whole inverted-residual block), optionally with the
 * residual Add after it: its PW→DW and DW→PW pairs joined at the depthwise.
 */
export interface ChainCandidate {
  /** `pwdwpw:${expand}>${depthwise}>${project}`. */
  id: string;
  kind: 'pwdwpw';
  convs: [string, string, string];
  /** Whether both of its pairs are structurally fusable. */
  pairsFusable: boolean;
  pwdw: SiteCandidate;
  dwpw: SiteCandidate;
  /** The block input (the expansion's input). */
  input: string;
  dwPadding: ConvSpec['padding'];
  strides: [number, number];
  /** Every node the fused node replaces, in graph order; the last keeps its name. */
  nodes: NodeJson[];
  output: NodeJson;
  /** Expansion, depthwise and projection stages, folds applied (when `problems` is empty). */
  stages: [StageBuilder, StageBuilder, StageBuilder];
  /** Whether a residual Add (block input + block output) is part of the chain. */
  residual: boolean;
  controlInputs: string[];
  problems: string[];
  notes: string[];
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
      chains.push(buildChain(ctx, pwdw, dwpw));
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
  let inputAffine: SiteCandidate['inputAffine'];
  if (link.post != null && to.outChannels != null) {
    if (to.kind === 'dw' && link.post.hasShift && readsPadding(dwPadding)) {
      problems.push(
        `${link.postFrom} after the activation adds a shift that would land in front of the zero-padded ` +
          `depthwise '${to.node.name}'`,
      );
    } else {
      try {
        second.foldInputAffine(link.post, link.postFrom!);
        inputAffine = { affine: link.post, from: link.postFrom! };
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
    ...(inputAffine != null ? { inputAffine } : {}),
  };
}

const RESIDUAL_OPS = new Set(['Add', 'AddV2']);

/**
 * The block of a PW→DW pair and a DW→PW pair sharing the depthwise: the
 * expansion stage of the first, the depthwise with its input folds from the
 * first and output folds from the second, the projection of the second;
 * then a residual Add of the block input, when one follows.
 */
function buildChain(ctx: FoldContext, pwdw: SiteCandidate, dwpw: SiteCandidate): ChainCandidate {
  const dw = pwdw.convs[1];
  const names: [string, string, string] = [pwdw.convs[0].node.name, dw.node.name, dwpw.convs[1].node.name];
  const pairsFusable = pwdw.problems.length === 0 && dwpw.problems.length === 0;
  const problems: string[] = [];
  if (!pairsFusable) problems.push('not both of its pairs are fusable');
  if (JSON.stringify(pwdw.dwPadding) !== JSON.stringify(dwpw.dwPadding)) {
    problems.push(`the pairs fold different paddings into '${dw.node.name}'`);
  }
  const stages: [StageBuilder, StageBuilder, StageBuilder] = [
    pwdw.stages[0].clone(),
    dwpw.stages[0].clone(),
    dwpw.stages[1].clone(),
  ];
  if (pwdw.inputAffine != null && pairsFusable) {
    try {
      stages[1].foldInputAffine(pwdw.inputAffine.affine, pwdw.inputAffine.from);
    } catch (e) {
      if (!(e instanceof FoldError)) throw e;
      problems.push(e.message);
    }
  }
  const split = (site: SiteCandidate) => site.nodes.findIndex((n) => n.name === dw.node.name);
  const nodes = [...pwdw.nodes.slice(0, split(pwdw) + 1), ...dwpw.nodes.slice(split(dwpw) + 1)];
  const notes = uniq([...pwdw.notes, ...dwpw.notes]);
  let residual = false;
  const last = nodes[nodes.length - 1];
  const consumers = ctx.graph.consumers(last.name);
  if (
    consumers.length === 1 &&
    !consumers[0].control &&
    consumers[0].output === 0 &&
    !ctx.graph.isKept(last.name)
  ) {
    const add = consumers[0].node;
    const inputs = ctx.graph.dataInputs(add);
    const key = (t: string) => tensorKey(parseTensorName(t));
    if (
      RESIDUAL_OPS.has(add.op) &&
      inputs.length === 2 &&
      inputs.some((t) => key(t) === key(last.name)) &&
      inputs.some((t) => key(t) === key(pwdw.input)) &&
      key(last.name) !== key(pwdw.input)
    ) {
      const x = ctx.shapes.shapeOf(pwdw.input);
      const y = ctx.shapes.shapeOf(last.name);
      if (dw.strides.every((s) => s === 1) && x != null && y != null && x.join() === y.join()) {
        residual = true;
        nodes.push(add);
        notes.push(`residual ${add.op} '${add.name}' fused`);
      }
    }
  }
  const nodeNames = new Set(nodes.map((n) => n.name));
  const controlInputs = uniq(nodes.flatMap((n) => (n.input ?? []).filter((i) => i.startsWith('^'))));
  if (controlInputs.some((i) => nodeNames.has(i.slice(1)))) problems.push('control edge inside the block');
  return {
    id: `pwdwpw:${names.join('>')}`,
    kind: 'pwdwpw',
    convs: names,
    pairsFusable,
    pwdw,
    dwpw,
    input: pwdw.input,
    dwPadding: pwdw.dwPadding,
    strides: pwdw.strides,
    nodes,
    output: nodes[nodes.length - 1],
    stages,
    residual,
    controlInputs,
    problems: uniq(problems),
    notes,
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
