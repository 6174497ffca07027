/**
 * FusePlanner for WebGPU: which depthwise/pointwise pairs and blocks to fuse, with
 * which tiles, on which device. Pure and synchronous; plain data in and out.
 */

export {
  CONSERVATIVE_PROFILE,
  H100_LIKE_PROFILE,
  assertValidProfile,
  deviceProfileFromLimits,
  kernelLimitsOf,
  profileForDevice,
} from './device_profile';
export type {
  AdapterIdentity,
  DeviceProfile,
  EfficiencyCalibration,
  FusedKernelKind,
} from './device_profile';
export { fitLine, makeCalibrate, profileFromMeasurements, saturationPoint } from './calibration';
export type { Calibrate, CalibrationBackend, CalibrationMeasurements, MeasureDevice } from './calibration';
export {
  blendedEfficiency,
  calibratedEfficiency,
  estimateKernel,
  laneUtilization,
  loopEfficiency,
  predictMs,
  sequenceOf,
} from './kernel_cost';
export type { KernelCost, KernelEstimate, SequenceEstimate } from './kernel_cost';
export {
  stockAddCost,
  stockDepthwiseCost,
  stockDepthwiseLayout,
  stockPointwiseCost,
  unfusedPointwiseCost,
} from './stock_costs';
export { dwPwFusedCost, irFusedCost, pwDwFusedCost } from './fused_costs';
export { pixelRunFootprint, tiledHaloPositions, totalRunFootprint } from './footprint';
export type { DwLayerShape, PwLayerShape } from './layer_shapes';
export {
  dwPwTileCandidates,
  irTileCandidates,
  pwDwTileCandidates,
  searchDwPwTile,
  searchIrTile,
  searchPwDwTile,
} from './tile_search';
export type { TileChoice, TileSearchOptions, TileSearchResult, TileSource } from './tile_search';
export {
  SITE_KINDS,
  SITE_PATTERNS,
  blockProblemOf,
  dwPwProblemOf,
  dwShapeOf,
  findSites,
  fusableChains,
  pwDwProblemOf,
  pwShapeOf,
  siteId,
  validateGraph,
} from './graph';
export type {
  BlockSiteProblem,
  LayerKind,
  NhwcShape,
  PlannerGraph,
  PlannerNode,
  Site,
  SiteKind,
} from './graph';
export { chooseFusionsBruteForce, chooseFusionsDp } from './choose_fusions';
export type { FusionObjective, FusionOption, Selection } from './choose_fusions';
export { PLAN_VERSION, planFusions } from './plan';
export type {
  CostSummary,
  FusionPlan,
  FusionPolicy,
  LayerPlan,
  MeasuredSite,
  PlanOptions,
  PlanTotals,
  SitePlan,
  SiteProblem,
  SiteTile,
  TileCandidate,
} from './plan';
export { explain, formatTile } from './explain';
export { formatBytes, formatMs } from './format';
export { autotune, candidateTiles, fileCache, localStorageCache, memoryCache } from './autotune';
export type { AutotuneCache, AutotuneOptions, SiteVariant, TimeSite } from './autotune';
