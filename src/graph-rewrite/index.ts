/**
 * Graph rewrite: load a converted GraphModel and run its depthwise/pointwise
 * sites fused. match → legality → decide (planner) → rewrite, plus the
 * custom-op executors and the loader. See README.md beside this file.
 */

export { loadGraphModel, defaultProfile } from './load';
export { precompile } from './precompile';
export type { PrecompileTimings } from './precompile';
export { MAX_RECORDINGS } from './replay';
export type { ModelReplay } from './replay';
export type { FusedGraphModel, FusedLoadOptions, LoadTimings } from './load';
export { fuseGraphModelArtifacts } from './fuse';
export type { FuseOptions, FuseResult } from './fuse';
export { registerFusedOps } from './executors';
export { explainFusion } from './report';
export type { FusionReport, KindCounts, SiteReport } from './report';
export {
  FUSED_DW_PW_OP,
  FUSED_PW_DW_OP,
  FUSED_INVERTED_RESIDUAL_OP,
  DW_PW_ROLES,
  PW_DW_ROLES,
} from './rewrite';
export type { BlockChoice, BlockPlan, GraphFusionPlan, PlanChoice } from './decide';
