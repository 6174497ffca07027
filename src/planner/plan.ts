/**
 * The fusion plan: for every site of a graph, the unfused and best fused
 * cost on a device, and the decision. Plain, versioned JSON; the same graph,
 * profile and options always give the same plan.
 */

import { DwPwProblem, DwPwTile, IrTile, PwDwProblem, PwDwTile, Support } from '../kernels/types';
import { FusionObjective, FusionOption, chooseFusionsDp } from './choose_fusions';
import { DeviceProfile, assertValidProfile } from './device_profile';
import { formatBytes, formatMs } from './format';
import {
  BlockSiteProblem,
  PlannerGraph,
  PlannerNode,
  Site,
  SiteKind,
  blockProblemOf,
  dwPwProblemOf,
  dwShapeOf,
  findSites,
  fusableChains,
  pwDwProblemOf,
  pwShapeOf,
  validateGraph,
} from './graph';
import { KernelEstimate, SequenceEstimate, estimateKernel, sequenceOf } from './kernel_cost';
import { DwLayerShape, PwLayerShape, pwOutputElements } from './layer_shapes';
import { stockAddCost, stockDepthwiseCost, unfusedPointwiseCost } from './stock_costs';
import { TileSearchResult, TileSource, searchDwPwTile, searchIrTile, searchPwDwTile } from './tile_search';

export const PLAN_VERSION = 1;

/** The shapes of a site, by kind: DW→PW, PW→DW, or a whole block. */
export type SiteProblem = DwPwProblem | PwDwProblem | BlockSiteProblem;
/** A fused kernel's tile parameters, by site kind. */
export type SiteTile = DwPwTile | PwDwTile | IrTile;

/**
 * 'auto': fuse where the model predicts a saving; 'all': fuse as many layers
 * as the feasible sites can cover (whole blocks before pairs); 'none': nothing.
 */
export type FusionPolicy = 'auto' | 'all' | 'none';

export interface PlanOptions {
  /** Default 'auto'. */
  policy?: FusionPolicy;
  /** Site kinds to consider; default all three (dwpw, pwdw, pwdwpw). */
  kinds?: SiteKind[];
  /** Runner-up tiles to list per site (default 3). */
  tileCandidates?: number;
  /** Where tiles come from (default 'default': the kernels' measured defaults). */
  tiles?: TileSource;
  /**
   * On-device measurements by site id (from autotuning): they replace the
   * model's prediction in the decision, and their tile is used.
   */
  measured?: Record<string, MeasuredSite>;
  /**
   * The kernels' own legality check for a structurally legal site (epilogues,
   * bindings, ...), e.g. calling the fused kernel's `isSupported` with the
   * site's real shapes and attributes. Unsupported sites are reported, not fused.
   */
  siteSupport?: (site: Site) => Support;
}

export interface CostSummary {
  kernels: string[];
  bytes: number;
  ms: number;
  dispatches: number;
  flops: number;
  redundantFlops: number;
}

export interface TileCandidate {
  tile: SiteTile;
  ms: number;
  bytes: number;
  workgroups: number;
  bound: 'memory' | 'compute';
}

/** A site timed on the actual device: stock kernels vs the fastest fused tile. */
export interface MeasuredSite {
  unfusedMs: number;
  fusedMs: number;
  tile: SiteTile;
}

export interface SitePlan {
  id: string;
  kind: SiteKind;
  nodes: string[];
  legal: boolean;
  problem?: SiteProblem;
  unfused?: CostSummary;
  /** The best feasible tile's cost. */
  fused?: CostSummary & { tile: SiteTile; workgroups: number; occupancy: number };
  /** The fastest tiles found, best first. */
  tileCandidates: TileCandidate[];
  /** unfused.ms − fused.ms (measured when `measured` is set). */
  savingMs?: number;
  /** On-device timing that decided this site, when autotuned. */
  measured?: MeasuredSite;
  decision: 'fused' | 'unfused';
  reason: string;
}

export interface LayerPlan {
  id: string;
  kind: PlannerNode['kind'];
  /** Stock cost; absent for 'other' layers and shapes the model does not cover. */
  ms?: number;
  bytes?: number;
  /** The chosen site this layer belongs to. */
  fusedIn?: string;
}

export interface PlanTotals {
  /** Over the dw and pw layers only. */
  unfusedMs: number;
  plannedMs: number;
  unfusedBytes: number;
  plannedBytes: number;
  unfusedDispatches: number;
  plannedDispatches: number;
  fusedSites: Record<SiteKind, number>;
}

export interface FusionPlan {
  version: typeof PLAN_VERSION;
  policy: FusionPolicy;
  profile: DeviceProfile;
  sites: SitePlan[];
  layers: LayerPlan[];
  totals: PlanTotals;
}

const DEFAULT_KINDS: SiteKind[] = ['dwpw', 'pwdw', 'pwdwpw'];

/** Rounded for the JSON: 1 ns and whole bytes are far below the model's accuracy. */
const roundMs = (ms: number) => Math.round(ms * 1e6) / 1e6;

function summary(sequence: SequenceEstimate): CostSummary {
  return {
    kernels: sequence.kernels.map((k) => k.kernel),
    bytes: Math.round(sequence.bytes),
    ms: roundMs(sequence.ms),
    dispatches: sequence.dispatches,
    flops: Math.round(sequence.flops),
    redundantFlops: Math.round(sequence.redundantFlops),
  };
}

function tileCandidate(choice: { tile: SiteTile; estimate: KernelEstimate }): TileCandidate {
  return {
    tile: { ...choice.tile },
    ms: roundMs(choice.estimate.ms),
    bytes: Math.round(choice.estimate.bytes),
    workgroups: choice.estimate.workgroups,
    bound: choice.estimate.bound,
  };
}

function stockEstimate(node: PlannerNode, profile: DeviceProfile): KernelEstimate | undefined {
  if (node.kind === 'dw') {
    const shape = dwShapeOf(node);
    return typeof shape === 'string' ? undefined : estimateKernel(stockDepthwiseCost(shape), profile);
  }
  if (node.kind === 'pw') {
    const shape = pwShapeOf(node);
    return typeof shape === 'string'
      ? undefined
      : estimateKernel(unfusedPointwiseCost(shape, profile), profile);
  }
  return undefined;
}

interface Evaluated {
  site: Site;
  problem?: SiteProblem;
  unfused?: SequenceEstimate;
  search?: TileSearchResult<DwPwTile> | TileSearchResult<PwDwTile> | TileSearchResult<IrTile>;
  /** Why no fused cost exists, when none does. */
  blocker?: string;
}

function evaluateSite(
  site: Site,
  byId: Map<string, PlannerNode>,
  stock: Map<string, KernelEstimate>,
  profile: DeviceProfile,
  topTiles: number,
  tiles: TileSource,
): Evaluated {
  if (!site.legal) return { site, blocker: site.reason };
  const nodes = site.nodes.map((id) => byId.get(id) as PlannerNode);
  const unfused = sequenceOf(site.nodes.map((id) => stock.get(id) as KernelEstimate));
  if (site.kind === 'dwpw') {
    const problem = dwPwProblemOf(dwShapeOf(nodes[0]) as DwLayerShape, pwShapeOf(nodes[1]) as PwLayerShape);
    const search = searchDwPwTile(problem, profile, { top: topTiles, tiles });
    return { site, problem, unfused, search, blocker: search.reason };
  }
  if (site.kind === 'pwdw') {
    const problem = pwDwProblemOf(pwShapeOf(nodes[0]) as PwLayerShape, dwShapeOf(nodes[1]) as DwLayerShape);
    const search = searchPwDwTile(problem, profile, { top: topTiles, tiles });
    return { site, problem, unfused, search, blocker: search.reason };
  }
  // pwdwpw: the residual Add, where the block has one, runs as a stock kernel unfused.
  const expand = pwShapeOf(nodes[0]) as PwLayerShape;
  const project = pwShapeOf(nodes[2]) as PwLayerShape;
  const residual = nodes[2].residualAdd === true;
  const problem = blockProblemOf(expand, dwShapeOf(nodes[1]) as DwLayerShape, project, residual);
  const withAdd = residual
    ? sequenceOf([...unfused.kernels, estimateKernel(stockAddCost(pwOutputElements(project)), profile)])
    : unfused;
  const search = searchIrTile(problem, profile, { top: topTiles, tiles });
  return { site, problem, unfused: withAdd, search, blocker: search.reason };
}

export function planFusions(
  graph: PlannerGraph,
  profile: DeviceProfile,
  options: PlanOptions = {},
): FusionPlan {
  assertValidProfile(profile);
  const policy = options.policy ?? 'auto';
  const byId = validateGraph(graph);
  const stock = new Map<string, KernelEstimate>();
  for (const node of graph.nodes) {
    const estimate = stockEstimate(node, profile);
    if (estimate != null) stock.set(node.id, estimate);
  }
  const evaluated = findSites(graph, options.kinds ?? DEFAULT_KINDS)
    .map((site) => withKernelSupport(site, options.siteSupport))
    .map((site) =>
      evaluateSite(site, byId, stock, profile, options.tileCandidates ?? 3, options.tiles ?? 'default'),
    );
  const measured = options.measured ?? {};
  const savingOf = (e: Evaluated) => {
    const m = measured[e.site.id];
    if (m != null && e.search?.best != null) return m.unfusedMs - m.fusedMs;
    return e.search?.best != null && e.unfused != null ? e.unfused.ms - e.search.best.estimate.ms : 0;
  };
  const fusable = evaluated.filter((e) => e.search?.best != null);
  const eligible =
    policy === 'none' ? [] : policy === 'auto' ? fusable.filter((e) => savingOf(e) > 0) : fusable;
  const objective: FusionObjective = policy === 'all' ? 'max-layers' : 'max-saving';
  const optionsForDp: FusionOption[] = eligible.map((e) => ({
    id: e.site.id,
    nodes: e.site.nodes,
    saving: savingOf(e),
  }));
  const chosen = new Set(chooseFusionsDp(fusableChains(graph), optionsForDp, objective).chosen);

  const fusedIn = new Map<string, string>();
  for (const e of evaluated) {
    if (chosen.has(e.site.id)) e.site.nodes.forEach((id) => fusedIn.set(id, e.site.id));
  }
  const sites = evaluated.map((e) => sitePlan(e, policy, chosen, fusedIn, savingOf(e), measured[e.site.id]));
  const layers: LayerPlan[] = graph.nodes.map((node) => {
    const estimate = stock.get(node.id);
    return {
      id: node.id,
      kind: node.kind,
      ...(estimate != null ? { ms: roundMs(estimate.ms), bytes: Math.round(estimate.bytes) } : {}),
      ...(fusedIn.has(node.id) ? { fusedIn: fusedIn.get(node.id) } : {}),
    };
  });
  return {
    version: PLAN_VERSION,
    policy,
    profile: {
      ...profile,
      limits: { ...profile.limits },
      ...(profile.fusedEfficiency != null
        ? {
            fusedEfficiency: Object.fromEntries(
              Object.entries(profile.fusedEfficiency).map(([k, v]) => [k, { ...v }]),
            ),
          }
        : {}),
    },
    sites,
    layers,
    totals: totalsOf(evaluated, stock, chosen),
  };
}

function withKernelSupport(site: Site, siteSupport: PlanOptions['siteSupport']): Site {
  if (!site.legal || siteSupport == null) return site;
  const support = siteSupport(site);
  return support.supported
    ? site
    : { ...site, legal: false, reason: support.reason ?? 'the fused kernel does not support this site' };
}

function sitePlan(
  e: Evaluated,
  policy: FusionPolicy,
  chosen: Set<string>,
  fusedIn: Map<string, string>,
  saving: number,
  measured: MeasuredSite | undefined,
): SitePlan {
  const best = e.search?.best;
  const plan: SitePlan = {
    id: e.site.id,
    kind: e.site.kind,
    nodes: [...e.site.nodes],
    legal: e.site.legal,
    ...(e.problem != null ? { problem: { ...e.problem } } : {}),
    ...(e.unfused != null ? { unfused: summary(e.unfused) } : {}),
    ...(best != null
      ? {
          fused: {
            ...summary(sequenceOf([best.estimate])),
            tile: { ...(measured?.tile ?? best.tile) },
            workgroups: best.estimate.workgroups,
            occupancy: Math.round(best.estimate.occupancy * 1e4) / 1e4,
          },
        }
      : {}),
    tileCandidates: (e.search?.top ?? []).map(tileCandidate),
    ...(best != null ? { savingMs: roundMs(saving) } : {}),
    ...(measured != null && best != null ? { measured: { ...measured, tile: { ...measured.tile } } } : {}),
    decision: chosen.has(e.site.id) ? 'fused' : 'unfused',
    reason: '',
  };
  plan.reason = reasonFor(e, plan, policy, fusedIn, saving);
  return plan;
}

function reasonFor(
  e: Evaluated,
  plan: SitePlan,
  policy: FusionPolicy,
  fusedIn: Map<string, string>,
  saving: number,
): string {
  if (e.blocker != null) return e.blocker;
  if (plan.measured != null && (plan.decision === 'fused' || policy === 'auto')) {
    const m = plan.measured;
    const verdict = plan.decision === 'fused' ? 'fused' : saving <= 0 ? 'kept unfused' : 'not chosen';
    return `measured on this device: fused ${formatMs(m.fusedMs)} ms vs unfused ${formatMs(m.unfusedMs)} ms; ${verdict}`;
  }
  const unfusedMs = plan.unfused?.ms ?? 0;
  const percent = unfusedMs > 0 ? ((100 * saving) / unfusedMs).toFixed(1) : '0';
  if (plan.decision === 'fused') {
    const bytesSaved = (plan.unfused?.bytes ?? 0) - (plan.fused?.bytes ?? 0);
    const traffic =
      bytesSaved >= 0
        ? `${formatBytes(bytesSaved)} less traffic`
        : `${formatBytes(-bytesSaved)} more traffic`;
    return saving > 0
      ? `saves ${formatMs(saving)} ms (${percent} %), ${traffic}`
      : `policy 'all' although predicted ${formatMs(-saving)} ms slower`;
  }
  if (policy === 'none') return "policy 'none'";
  if (policy === 'auto' && saving <= 0) {
    return `predicted slower: fused ${formatMs(plan.fused?.ms)} ms vs unfused ${formatMs(unfusedMs)} ms`;
  }
  const rivals = [...new Set(e.site.nodes.map((id) => fusedIn.get(id)).filter((id) => id != null))];
  if (rivals.length === 0) return 'not chosen';
  const why =
    policy === 'all' ? "policy 'all' fuses the most sites, then saves the most" : 'which saves more in total';
  return `shares a layer with ${rivals.join(', ')}; ${why}`;
}

function totalsOf(
  evaluated: Evaluated[],
  stock: Map<string, KernelEstimate>,
  chosen: Set<string>,
): PlanTotals {
  const all = sequenceOf([...stock.values()]);
  const fusedSites: Record<SiteKind, number> = { dwpw: 0, pwdw: 0, pwdwpw: 0 };
  let savedMs = 0;
  let savedBytes = 0;
  let savedDispatches = 0;
  for (const e of evaluated) {
    const best = e.search?.best;
    if (!chosen.has(e.site.id) || best == null || e.unfused == null) continue;
    fusedSites[e.site.kind]++;
    savedMs += e.unfused.ms - best.estimate.ms;
    savedBytes += e.unfused.bytes - best.estimate.bytes;
    savedDispatches += e.unfused.dispatches - best.estimate.dispatches;
  }
  return {
    unfusedMs: roundMs(all.ms),
    plannedMs: roundMs(all.ms - savedMs),
    unfusedBytes: Math.round(all.bytes),
    plannedBytes: Math.round(all.bytes - savedBytes),
    unfusedDispatches: all.dispatches,
    plannedDispatches: all.dispatches - savedDispatches,
    fusedSites,
  };
}
