/**
 * Which sites to fuse: the model's convolutions as a planner graph (NHWC
 * shapes from the shape propagation; an edge only where a site is
 * structurally fusable), then the planner's choice under a policy, or the
 * choices of a saved plan.
 */

import {
  DeviceProfile,
  FusionPlan,
  PLAN_VERSION,
  PlanOptions,
  PlannerGraph,
  PlannerNode,
  planFusions,
} from '../planner';
import { IrTile } from '../kernels/types';
import { ResolvedBlock, blockSupport } from './blocks';
import { ConvSpec } from './conv';
import { FoldContext, zeroPadOf } from './epilogue';
import { ResolvedSite, Tile, kernelSupport } from './legality';

/** Id of the planner node standing for every consumer that is not a fusable conv. */
const OTHER = '<other>';

export type PlanChoice = 'auto' | 'all' | 'none' | FusionPlan;

/**
 * Which PW→DW→PW chains run as one FusedInvertedResidual node: 'auto' as
 * the plan decides (blocks are planner sites beside the pairs, costed by
 * the block kernel's model), 'all' every legal one, 'none' no block.
 */
export type BlockChoice = 'auto' | 'all' | 'none';

/** A block's decision in a saved plan (`FusionPlan.blocks`, absent in plans without blocks). */
export interface BlockPlan {
  id: string;
  decision: 'fused' | 'unfused';
  reason: string;
  tile?: Partial<IrTile>;
}

/** A planner plan with the block decisions (`blocks` is optional: plans without it stay valid). */
export type GraphFusionPlan = FusionPlan & { blocks?: BlockPlan[] };

export interface Decision {
  fused: boolean;
  reason: string;
  tile?: Tile | Partial<IrTile>;
  predicted?: { unfusedMs: number; fusedMs: number; savingMs: number };
}

/** Shape the planner should see at a depthwise's input: before a zero Pad it can fold. */
function plannerInput(ctx: FoldContext, conv: ConvSpec): string {
  if (conv.kind !== 'dw' || conv.padding === 'same') return conv.input;
  const pad = ctx.graph.inputNode(conv.node, 0);
  if (pad != null && (pad.op === 'Pad' || pad.op === 'PadV2') && !('problem' in zeroPadOf(ctx, pad))) {
    return ctx.graph.dataInputs(pad)[0];
  }
  return conv.input;
}

const isNhwc = (s: number[] | undefined): s is [number, number, number, number] =>
  s != null && s.length === 4 && s.every((v) => Number.isInteger(v) && v > 0);

export function plannerGraph(
  ctx: FoldContext,
  convs: Map<string, ConvSpec>,
  legal: ResolvedSite[],
  blocks: ResolvedBlock[] = [],
): PlannerGraph {
  const nodes = new Map<string, PlannerNode>();
  for (const conv of convs.values()) {
    const inShape = ctx.shapes.shapeOf(plannerInput(ctx, conv));
    const outShape = ctx.shapes.shapeOf(conv.node.name);
    if (!isNhwc(inShape) || !isNhwc(outShape) || conv.filterShape == null) continue;
    const consumers = ctx.graph.consumers(conv.node.name);
    nodes.set(conv.node.name, {
      id: conv.node.name,
      kind: conv.kind,
      inShape,
      outShape,
      ...(conv.kind === 'dw' ? { kernelSize: conv.filterShape[0], stride: conv.strides[0] } : {}),
      consumers: consumers.length > 0 ? [OTHER] : [],
      ...(ctx.graph.isKept(conv.node.name) ? { isGraphOutput: true } : {}),
    });
  }
  for (const site of legal) {
    const [from, to] = site.candidate.convs.map((c) => c.node.name);
    const node = nodes.get(from);
    if (node != null && nodes.has(to)) node.consumers = [to];
  }
  for (const block of blocks) {
    const chain = block.candidate.convs.map((id) => nodes.get(id));
    if (chain.some((n) => n == null)) continue;
    chain[0]!.consumers = [chain[1]!.id];
    chain[1]!.consumers = [chain[2]!.id];
    if (block.candidate.residual) chain[2]!.residualAdd = true;
  }
  const list = [...nodes.values()];
  if (list.some((n) => n.consumers.includes(OTHER))) {
    list.push({ id: OTHER, kind: 'other', inShape: [1, 1, 1, 1], outShape: [1, 1, 1, 1], consumers: [] });
  }
  return { nodes: list };
}

/**
 * Decisions for the resolved, kernel-supported sites: the planner's under a
 * policy, or a saved plan's (which must only name sites legal here).
 */
export function decide(
  ctx: FoldContext,
  convs: Map<string, ConvSpec>,
  legal: ResolvedSite[],
  plan: PlanChoice,
  profile: DeviceProfile,
  plannerOptions: Pick<PlanOptions, 'measured' | 'tiles'> = {},
  blocks: ResolvedBlock[] = [],
  blockChoice: BlockChoice = 'auto',
): { decisions: Map<string, Decision>; plan?: GraphFusionPlan } {
  const decisions = new Map<string, Decision>();
  const byId = new Map(legal.map((s) => [s.candidate.id, s]));
  if (plan === 'none') {
    for (const site of [...legal, ...blocks]) {
      decisions.set(site.candidate.id, { fused: false, reason: "policy 'none'" });
    }
    return { decisions };
  }
  if (typeof plan === 'object') return { decisions: fromSavedPlan(plan, legal, byId, profile, blocks), plan };
  if (plan !== 'auto' && plan !== 'all') {
    throw new Error(
      `graph rewrite: option plan must be 'auto', 'all', 'none' or a saved plan, got ${String(plan)}`,
    );
  }
  if (blockChoice !== 'auto' && blockChoice !== 'all' && blockChoice !== 'none') {
    throw new Error(
      `graph rewrite: option blocks must be 'auto', 'all' or 'none', got ${String(blockChoice)}`,
    );
  }
  // Blocks the option forces ('all') go first and take their pairs out of the
  // planner; under 'auto' blocks are planner sites like the pairs.
  const owner = new Map<string, string>();
  const blockPlans: BlockPlan[] = [];
  const planned = blockChoice === 'auto' ? blocks : [];
  for (const block of blockChoice === 'auto' ? [] : blocks) {
    const decision = forcedBlockDecision(block, blockChoice as 'all' | 'none', profile, owner);
    decisions.set(block.candidate.id, decision);
    blockPlans.push(blockPlanOf(block, decision));
  }
  const pairs = legal.filter((site) => {
    const clash = site.candidate.nodes.find((n) => owner.has(n.name));
    if (clash == null) return true;
    decisions.set(site.candidate.id, {
      fused: false,
      reason: `part of fused block ${owner.get(clash.name)}`,
    });
    return false;
  });
  byId.clear();
  for (const site of pairs) byId.set(site.candidate.id, site);
  const blockById = new Map(planned.map((b) => [b.candidate.id, b]));
  const graph = plannerGraph(ctx, convs, pairs, planned);
  const made = planFusions(graph, profile, {
    ...plannerOptions,
    policy: plan,
    kinds: planned.length > 0 ? ['dwpw', 'pwdw', 'pwdwpw'] : ['dwpw', 'pwdw'],
    siteSupport: (site) => {
      if (site.kind === 'pwdwpw') {
        const block = blockById.get(site.id);
        return block == null
          ? { supported: false, reason: 'not a fusable block' }
          : blockSupport(block, profile.limits);
      }
      const resolved = byId.get(site.id);
      return resolved == null
        ? { supported: false, reason: 'not a fusable site' }
        : kernelSupport(resolved, profile.limits);
    },
  });
  for (const sitePlan of made.sites) {
    const block = blockById.get(sitePlan.id);
    const site = byId.get(sitePlan.id);
    if (block == null && site == null) continue;
    const decision: Decision = { fused: sitePlan.decision === 'fused', reason: sitePlan.reason };
    if (sitePlan.fused != null && sitePlan.unfused != null) {
      decision.predicted = {
        unfusedMs: sitePlan.unfused.ms,
        fusedMs: sitePlan.fused.ms,
        savingMs: sitePlan.savingMs ?? sitePlan.unfused.ms - sitePlan.fused.ms,
      };
    }
    if (block != null) {
      if (decision.fused)
        decision.tile = checkedBlockTile(block, sitePlan.fused?.tile as IrTile, profile, decision);
      decisions.set(block.candidate.id, decision);
      blockPlans.push(blockPlanOf(block, decision));
      continue;
    }
    if (decision.fused) decision.tile = checkedTile(site!, sitePlan.fused?.tile as Tile, profile, decision);
    decisions.set(site!.candidate.id, decision);
  }
  for (const block of planned) {
    if (!decisions.has(block.candidate.id)) {
      const decision = { fused: false, reason: 'not planned (shapes outside the planner graph)' };
      decisions.set(block.candidate.id, decision);
      blockPlans.push(blockPlanOf(block, decision));
    }
  }
  for (const site of legal) {
    if (!decisions.has(site.candidate.id)) {
      decisions.set(site.candidate.id, {
        fused: false,
        reason: 'not planned (shapes outside the planner graph)',
      });
    }
  }
  return { decisions, plan: blockPlans.length > 0 ? { ...made, blocks: blockPlans } : made };
}

/** A block's decision under blocks 'all' (fused wherever the kernel takes it) or 'none'. */
function forcedBlockDecision(
  block: ResolvedBlock,
  choice: 'all' | 'none',
  profile: DeviceProfile,
  owner: Map<string, string>,
): Decision {
  const support = blockSupport(block, profile.limits);
  if (!support.supported) return { fused: false, reason: support.reason ?? 'not supported' };
  if (choice === 'none') return { fused: false, reason: "blocks 'none'" };
  const clash = block.candidate.nodes.find((n) => owner.has(n.name));
  if (clash != null) return { fused: false, reason: `overlaps fused block ${owner.get(clash.name)}` };
  block.candidate.nodes.forEach((n) => owner.set(n.name, block.candidate.id));
  return { fused: true, reason: `blocks 'all'${block.candidate.residual ? ', with the residual Add' : ''}` };
}

function blockPlanOf(block: ResolvedBlock, decision: Decision): BlockPlan {
  return {
    id: block.candidate.id,
    decision: decision.fused ? 'fused' : 'unfused',
    reason: decision.reason,
    ...(decision.tile != null ? { tile: { ...(decision.tile as Partial<IrTile>) } } : {}),
  };
}

/** The planned block tile if the kernel takes it on the profile's device, else the kernel's default. */
function checkedBlockTile(
  block: ResolvedBlock,
  tile: IrTile | undefined,
  profile: DeviceProfile,
  decision: Decision,
): Partial<IrTile> | undefined {
  if (tile == null) return undefined;
  const support = blockSupport(block, profile.limits, tile);
  if (support.supported) return { ...tile };
  decision.reason += `; planned tile rejected (${support.reason}), default tile used`;
  return undefined;
}

/** The planned tile if the kernel takes it on the profile's device, else the kernel's default. */
function checkedTile(site: ResolvedSite, tile: Tile | undefined, profile: DeviceProfile, decision: Decision) {
  if (tile == null) return undefined;
  const support = kernelSupport(site, profile.limits, tile);
  if (support.supported) return { ...tile };
  decision.reason += `; planned tile rejected (${support.reason}), default tile used`;
  return undefined;
}

function fromSavedPlan(
  plan: FusionPlan,
  legal: ResolvedSite[],
  byId: Map<string, ResolvedSite>,
  profile: DeviceProfile,
  blocks: ResolvedBlock[],
): Map<string, Decision> {
  if (plan == null || plan.version !== PLAN_VERSION || !Array.isArray(plan.sites)) {
    throw new Error(`graph rewrite: the saved plan is not a version ${PLAN_VERSION} fusion plan`);
  }
  const saved = (plan as GraphFusionPlan).blocks ?? [];
  if (!Array.isArray(saved)) throw new Error('graph rewrite: the saved plan has a malformed blocks list');
  const decisions = new Map<string, Decision>();
  const owner = new Map<string, string>();
  const blockById = new Map(blocks.map((b) => [b.candidate.id, b]));
  for (const blockPlan of saved) {
    if (blockPlan?.decision !== 'fused') continue;
    const block = blockById.get(blockPlan.id);
    if (block == null) {
      throw new Error(
        `graph rewrite: the saved plan fuses block '${blockPlan.id}', which is not a fusable block of this model`,
      );
    }
    const support = blockSupport(block, profile.limits);
    if (!support.supported) {
      throw new Error(`graph rewrite: the saved plan fuses '${blockPlan.id}', but ${support.reason}`);
    }
    for (const node of block.candidate.convs) {
      const other = owner.get(node);
      if (other != null)
        throw new Error(`graph rewrite: the saved plan fuses '${node}' in both ${other} and ${blockPlan.id}`);
      owner.set(node, blockPlan.id);
    }
    const decision: Decision = { fused: true, reason: `saved plan: ${blockPlan.reason}` };
    if (blockPlan.tile != null) {
      const tiled = blockSupport(block, profile.limits, blockPlan.tile);
      if (tiled.supported) decision.tile = { ...blockPlan.tile };
      else decision.reason += `; planned tile rejected (${tiled.reason}), default tile used`;
    }
    decisions.set(blockPlan.id, decision);
  }
  for (const block of blocks) {
    if (!decisions.has(block.candidate.id))
      decisions.set(block.candidate.id, { fused: false, reason: 'saved plan: not fused' });
  }
  for (const sitePlan of plan.sites) {
    // Block sites are decided by the plan's `blocks` list above.
    if (sitePlan.decision !== 'fused' || sitePlan.kind === 'pwdwpw') continue;
    const site = byId.get(sitePlan.id);
    if (site == null) {
      throw new Error(
        `graph rewrite: the saved plan fuses site '${sitePlan.id}', which is not a fusable site of this model`,
      );
    }
    for (const node of site.candidate.convs.map((c) => c.node.name)) {
      const other = owner.get(node);
      if (other != null)
        throw new Error(`graph rewrite: the saved plan fuses '${node}' in both ${other} and ${sitePlan.id}`);
      owner.set(node, sitePlan.id);
    }
    const support = kernelSupport(site, profile.limits);
    if (!support.supported) {
      throw new Error(`graph rewrite: the saved plan fuses '${sitePlan.id}', but ${support.reason}`);
    }
    const decision: Decision = { fused: true, reason: `saved plan: ${sitePlan.reason}` };
    decision.tile = checkedTile(site, sitePlan.fused?.tile as Tile, profile, decision);
    decisions.set(sitePlan.id, decision);
  }
  for (const site of legal) {
    if (!decisions.has(site.candidate.id))
      decisions.set(site.candidate.id, { fused: false, reason: 'saved plan: not fused' });
  }
  return decisions;
}
