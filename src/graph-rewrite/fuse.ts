/**
 * `fuseGraphModelArtifacts`: the offline, pure form of the rewrite (no
 * tensors, no GPU). Model artifacts in, rewritten artifacts and the fusion
 * report out: match → legality → decide (planner) → rewrite.
 */

import type { io } from '@tensorflow/tfjs-core';

import { CONSERVATIVE_PROFILE, DeviceProfile, MeasuredSite, TileSource } from '../planner';
import { IrTile } from '../kernels/types';
import { ResolvedBlock, blockSupport, packedBlockData, resolveBlock } from './blocks';
import { BlockChoice, Decision, GraphFusionPlan, PlanChoice, decide } from './decide';
import { FoldContext } from './epilogue';
import { GraphIndex, signatureInputNodes, signatureOutputNodes } from './graph_index';
import { ResolvedSite, Tile, kernelSupport, resolveSite } from './legality';
import { MatchResult, matchSites } from './match';
import { GraphJson, WeightSpecJson, parseTensorName, shapeOfJson } from './model_json';
import { FusionReport, KindCounts, SiteReport } from './report';
import { applyRewrite } from './rewrite';
import { Shape, ShapeInference } from './shapes';
import { WeightTable, joinWeightData } from './weights';

export interface FuseOptions {
  /**
   * 'auto' (default): fuse where the planner predicts a saving on `profile`;
   * 'all': every legal site (non-overlapping, most sites); 'none': nothing;
   * or a saved `FusionPlan` (JSON from an earlier report's `plan`).
   */
  plan?: PlanChoice;
  /** The device to plan for (default: the conservative profile, WebGPU's default limits). */
  profile?: DeviceProfile;
  /**
   * Concrete input shape(s) to plan for: one shape for a single-input model,
   * or shapes by input name. Required when an input's height or width is
   * dynamic (-1); a dynamic batch is planned at 1 unless given.
   */
  inputShape?: number[] | Record<string, number[]>;
  /** Tensors the caller will read by name (execute(x, names)); they are never folded away. */
  keep?: string[];
  /**
   * On-device timings by site id (the planner's `autotune`): they replace the
   * cost model's predictions in the decision, and their tile is used.
   */
  measured?: Record<string, MeasuredSite>;
  /** Where the planner takes tiles from (default: the kernels' measured defaults). */
  tiles?: TileSource;
  /**
   * PW→DW→PW chains (+ residual Add) as one FusedInvertedResidual node:
   * 'auto' (default) as the plan decides (blocks are planner sites beside
   * the pairs), 'all' every legal one, 'none' no block (only pairs). A
   * forced block's pairs are not planned. Ignored with a saved plan (its
   * `blocks` decide).
   */
  blocks?: BlockChoice;
}

export interface FuseResult {
  artifacts: io.ModelArtifacts;
  report: FusionReport;
}

function signatureOf(artifacts: io.ModelArtifacts): unknown {
  const meta = artifacts.userDefinedMetadata as { signature?: unknown } | undefined;
  return meta?.signature ?? artifacts.signature;
}

export function resolveInputShapes(
  graph: GraphIndex,
  signature: unknown,
  given: FuseOptions['inputShape'],
  warnings: string[],
): { shapes: Map<string, Shape>; dynamic: string[] } {
  const placeholders = graph.nodes.filter((n) => n.op === 'Placeholder');
  const names = new Set(placeholders.map((n) => n.name));
  const requested = new Map<string, number[]>();
  if (Array.isArray(given)) {
    const inputs = signatureInputNodes(signature).filter((n) => names.has(n));
    const only = inputs.length === 1 ? inputs : placeholders.map((n) => n.name);
    if (only.length !== 1) {
      throw new Error(
        `graph rewrite: inputShape is one shape but the model has ${only.length} inputs ` +
          `(${only.join(', ')}); pass {name: shape}`,
      );
    }
    requested.set(only[0], given);
  } else if (given != null) {
    for (const [key, shape] of Object.entries(given)) {
      const name = parseTensorName(key).node;
      if (!names.has(name))
        throw new Error(`graph rewrite: inputShape names '${key}', which is not a model input`);
      requested.set(name, shape);
    }
  }
  const shapes = new Map<string, Shape>();
  const dynamic: string[] = [];
  for (const node of placeholders) {
    const declared = shapeOfJson(node.attr?.shape?.shape);
    const wanted = requested.get(node.name);
    if (wanted != null) {
      if (!wanted.every((d) => Number.isInteger(d) && d > 0)) {
        throw new Error(`graph rewrite: inputShape [${wanted}] for '${node.name}' must be positive integers`);
      }
      if (
        declared != null &&
        (declared.length !== wanted.length || declared.some((d, i) => d >= 0 && d !== wanted[i]))
      ) {
        throw new Error(
          `graph rewrite: inputShape [${wanted}] does not match input '${node.name}' of shape [${declared}]`,
        );
      }
      shapes.set(node.name, wanted.slice());
      continue;
    }
    if (declared == null) {
      dynamic.push(`${node.name} (unknown rank)`);
      continue;
    }
    const concrete = declared.map((d, i) => (i === 0 && d < 0 ? 1 : d));
    if (declared[0] < 0) warnings.push(`input '${node.name}' has a dynamic batch: planned at batch 1`);
    if (concrete.some((d) => d < 0)) dynamic.push(`${node.name} [${declared.join(',')}]`);
    else shapes.set(node.name, concrete);
  }
  return { shapes, dynamic };
}

/** Every site of a graph with its resolution, the decisions and the chosen (non-overlapping) sites. */
export interface SiteAnalysis {
  match: MatchResult;
  resolved: ResolvedSite[];
  decisions: Map<string, Decision>;
  chosen: ResolvedSite[];
  /** Resolved PW→DW→PW chains (empty when the caller cannot rewrite blocks). */
  blocks: ResolvedBlock[];
  chosenBlocks: ResolvedBlock[];
  plan?: GraphFusionPlan;
  profile: DeviceProfile;
}

/**
 * match → legality → decide over a graph (also the lowered graph of a
 * LayersModel): candidate sites, their final stages and shapes, the
 * planner's (or a saved plan's) decisions, and the sites to rewrite.
 * `extraProblems` lets a caller rule out sites its rewrite cannot express
 * before the planner sees them.
 */
export function analyzeSites(
  ctx: FoldContext,
  dynamicInputs: string[],
  options: FuseOptions,
  extraProblems?: (site: ResolvedSite) => string[],
  withBlocks = true,
): SiteAnalysis {
  const plan = options.plan ?? 'auto';
  const profile = options.profile ?? CONSERVATIVE_PROFILE;
  const match = matchSites(ctx);
  const resolved = match.sites.map((s) => resolveSite(ctx, s));
  if (extraProblems != null) {
    for (const site of resolved) {
      if (site.problems.length === 0) site.problems.push(...extraProblems(site));
    }
  }
  const shapeless = resolved.filter((s) => s.candidate.problems.length === 0 && s.inShape == null);
  if (shapeless.length > 0 && dynamicInputs.length > 0 && plan !== 'none') {
    throw new Error(
      `graph rewrite: input ${dynamicInputs.join(', ')} has a dynamic size, so the shapes of ` +
        `${shapeless.length} fusion sites are unknown; pass options.inputShape (the size to plan for) ` +
        "or plan: 'none'",
    );
  }
  const structural = resolved.filter((s) => s.problems.length === 0);
  const blocks = withBlocks ? match.chains.map((c) => resolveBlock(ctx, c)) : [];
  const { decisions, plan: madePlan } = decide(
    ctx,
    match.convs,
    structural,
    plan,
    profile,
    { measured: options.measured, tiles: options.tiles },
    blocks.filter((b) => b.problems.length === 0),
    options.blocks ?? 'auto',
  );

  // Non-overlapping by construction (planner / saved-plan check); guard anyway.
  const owner = new Map<string, string>();
  const chosenBlocks: ResolvedBlock[] = [];
  for (const block of blocks) {
    const decision = decisions.get(block.candidate.id);
    if (!decision?.fused) continue;
    const clash = block.candidate.nodes.find((n) => owner.has(n.name));
    if (clash != null) {
      decision.fused = false;
      decision.reason = `overlaps fused block ${owner.get(clash.name)} at '${clash.name}'`;
      continue;
    }
    block.candidate.nodes.forEach((n) => owner.set(n.name, block.candidate.id));
    chosenBlocks.push(block);
  }
  const chosen: ResolvedSite[] = [];
  for (const site of structural) {
    const decision = decisions.get(site.candidate.id);
    if (!decision?.fused) continue;
    const clash = site.candidate.nodes.find((n) => owner.has(n.name));
    if (clash != null) {
      decision.fused = false;
      decision.reason = `overlaps fused site ${owner.get(clash.name)} at '${clash.name}'`;
      continue;
    }
    site.candidate.nodes.forEach((n) => owner.set(n.name, site.candidate.id));
    chosen.push(site);
  }
  return { match, resolved, decisions, chosen, blocks, chosenBlocks, plan: madePlan, profile };
}

/** What the report says beyond the analysis: policy, shapes, warnings and what the rewrite changed. */
export interface ReportContext {
  policy: PlanChoice;
  profile: DeviceProfile;
  inputShapes: Map<string, Shape>;
  warnings: string[];
  replaced: Record<string, string>;
  addedWeights: string[];
  removedWeights: string[];
}

/** The fusion report of an analysis (plain JSON; `explainFusion` renders it). */
export function buildReport(analysis: SiteAnalysis, context: ReportContext): FusionReport {
  const { profile } = context;
  const sites: SiteReport[] = analysis.resolved.map((site) => {
    const c = site.candidate;
    const support = kernelSupport(site, profile.limits);
    const decision = analysis.decisions.get(c.id);
    return {
      id: c.id,
      kind: c.kind,
      convs: c.convs.map((v) => v.node.name),
      nodes: c.nodes.map((n) => n.name),
      output: c.output.name,
      legal: support.supported,
      decision: decision?.fused ? 'fused' : 'unfused',
      reason: decision?.reason ?? support.reason ?? 'not fusable',
      folds: c.problems.length === 0 ? c.notes : [],
      ...(site.inShape != null ? { inShape: site.inShape, outShape: site.outShape } : {}),
      ...(decision?.fused && decision.tile != null ? { tile: decision.tile } : {}),
      ...(decision?.predicted != null ? { predicted: decision.predicted } : {}),
    };
  });
  const blocks = new Map(analysis.blocks.map((b) => [b.candidate.id, b]));
  for (const chain of analysis.match.chains) {
    const block = blocks.get(chain.id);
    if (block == null) {
      sites.push({
        id: chain.id,
        kind: 'pwdwpw',
        convs: [...chain.convs],
        nodes: [],
        legal: false,
        decision: 'unfused',
        reason:
          'blocks are not rewritten here; its PW->DW and DW->PW pairs are planned instead' +
          (chain.pairsFusable ? '' : ' (not both pairs are fusable)'),
        folds: [],
      });
      continue;
    }
    const support = blockSupport(block, profile.limits);
    const decision = analysis.decisions.get(chain.id);
    sites.push({
      id: chain.id,
      kind: 'pwdwpw',
      convs: [...chain.convs],
      nodes: chain.nodes.map((n) => n.name),
      output: chain.output.name,
      legal: support.supported,
      decision: decision?.fused ? 'fused' : 'unfused',
      reason: decision?.reason ?? support.reason ?? 'not fusable',
      folds: block.problems.length === 0 ? chain.notes : [],
      ...(chain.residual ? { residual: true } : {}),
      ...(block.inShape != null ? { inShape: block.inShape, outShape: block.outShape } : {}),
      ...(decision?.fused && decision.tile != null ? { tile: decision.tile } : {}),
    });
  }
  const count = (kind: SiteReport['kind']): KindCounts => {
    const of = sites.filter((s) => s.kind === kind);
    return {
      found: of.length,
      legal: of.filter((s) => s.legal).length,
      fused: of.filter((s) => s.decision === 'fused').length,
    };
  };
  return {
    policy: typeof context.policy === 'object' ? 'saved plan' : context.policy,
    profile: profile.name,
    inputShapes: Object.fromEntries(context.inputShapes),
    counts: { dwpw: count('dwpw'), pwdw: count('pwdw'), pwdwpw: count('pwdwpw') },
    sites,
    replaced: context.replaced,
    addedWeights: context.addedWeights,
    removedWeights: context.removedWeights,
    warnings: context.warnings,
    ...(analysis.plan != null ? { plan: analysis.plan } : {}),
  };
}

/**
 * Rewrites a graph model's artifacts so that the chosen DW→PW and PW→DW
 * sites run as fused custom ops. Pure and synchronous; the artifacts must
 * hold `weightData` (not a weight stream). Throws a clear error naming the
 * node or weight on malformed input. Load the result with this package's
 * `loadGraphModel`, or call `registerFusedOps()` before `tf.loadGraphModel`.
 */
export function fuseGraphModelArtifacts(artifacts: io.ModelArtifacts, options: FuseOptions = {}): FuseResult {
  if (artifacts == null || typeof artifacts !== 'object')
    throw new Error('graph rewrite: no model artifacts');
  const topology = artifacts.modelTopology as GraphJson | ArrayBuffer | undefined;
  if (topology == null) throw new Error('graph rewrite: the artifacts have no modelTopology');
  if (topology instanceof ArrayBuffer)
    throw new Error('graph rewrite: binary GraphDef topologies are not supported');
  if (artifacts.format === 'layers-model' || !Array.isArray((topology as GraphJson).node)) {
    throw new Error(
      'graph rewrite: not a graph model (modelTopology.node is missing); LayersModels are not rewritten',
    );
  }
  const specs = (artifacts.weightSpecs ?? []) as WeightSpecJson[];
  if (!Array.isArray(specs)) throw new Error('graph rewrite: weightSpecs must be an array');
  if (specs.length > 0 && artifacts.weightData == null) {
    throw new Error(
      `graph rewrite: missing weights: the manifest lists ${specs.length} weights but the artifacts have no ` +
        'weightData (a weight stream must be read into weightData first)',
    );
  }
  const plan = options.plan ?? 'auto';
  const profile = options.profile ?? CONSERVATIVE_PROFILE;
  const signature = signatureOf(artifacts);
  const graph = new GraphIndex(topology as GraphJson, [
    ...signatureOutputNodes(signature),
    ...(options.keep ?? []),
  ]);
  for (const name of options.keep ?? []) {
    if (!graph.has(parseTensorName(name).node))
      throw new Error(`graph rewrite: keep names '${name}', not a node`);
  }
  const weights = new WeightTable(specs, joinWeightData(artifacts.weightData));
  const warnings: string[] = [];
  const inputs = resolveInputShapes(graph, signature, options.inputShape, warnings);
  const ctx: FoldContext = { graph, weights, shapes: new ShapeInference(graph, weights, inputs.shapes) };
  const analysis = analyzeSites(ctx, inputs.dynamic, options);
  const rewrite =
    analysis.chosen.length === 0 && analysis.chosenBlocks.length === 0
      ? undefined
      : applyRewrite(
          topology as GraphJson,
          graph,
          weights,
          analysis.chosen.map((site) => ({
            site,
            tile: analysis.decisions.get(site.candidate.id)!.tile as Tile | undefined,
          })),
          { dropUnusedWeights: artifacts.modelInitializer == null },
          analysis.chosenBlocks.map((block) => ({
            block,
            packed: packedBlockData(ctx, block),
            tile: analysis.decisions.get(block.candidate.id)!.tile as Partial<IrTile> | undefined,
          })),
        );
  const report = buildReport(analysis, {
    policy: plan,
    profile,
    inputShapes: inputs.shapes,
    warnings,
    replaced: rewrite?.replaced ?? {},
    addedWeights: rewrite?.addedWeights ?? [],
    removedWeights: rewrite?.removedWeights ?? [],
  });
  if (rewrite == null) return { artifacts, report };
  const out: io.ModelArtifacts = {
    ...artifacts,
    modelTopology: rewrite.topology,
    weightSpecs: rewrite.weightSpecs as io.WeightsManifestEntry[],
    weightData: rewrite.weightData,
  };
  delete out.getWeightStream;
  return { artifacts: out, report };
}
