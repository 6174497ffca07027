/**
 * tfjs-backend-webgpu-fused: a TensorFlow.js WebGPU backend that runs
 * depthwise + pointwise convolution sequences as single fused kernels.
 *
 *   import 'tfjs-backend-webgpu-fused';
 *   await tf.setBackend('webgpu-fused');
 */

import { BACKEND_NAME, registerWebGPUFusedBackend } from './backend/register';
import { registerFusedLayers } from './layers-rewrite/fused_layers';

registerWebGPUFusedBackend(BACKEND_NAME);
registerFusedLayers();

export { BACKEND_NAME, kernelCount, registerWebGPUFusedBackend } from './backend/register';
export { RAISED_LIMITS, WebGPUUnavailableError } from './backend/device';
export type { DeviceOptions } from './backend/device';
export { WebGPUFusedBackend } from './backend/webgpu_fused_backend';
export { version } from './version';
export * as fused from './ops/fused';
export { FUSED_ACTIVATIONS, DEFAULT_LIMITS } from './kernels/types';
export type {
  DwPwProblem,
  DwPwTile,
  FusedActivation,
  IrProblem,
  IrTile,
  FusedPadding,
  KernelLimits,
  PwDwProblem,
  PwDwTile,
  Support,
} from './kernels/types';
export { invertedResidualLayout, packInvertedResidualData } from './kernels/inverted_residual_layout';
export type {
  InvertedResidualData,
  InvertedResidualLayout,
  InvertedResidualLayoutSpec,
  PackedStageLayout,
} from './kernels/inverted_residual_layout';
export {
  FusedDepthwisePointwiseConv2D,
  isSupported as isDepthwisePointwiseSupported,
} from './kernels/FusedDepthwisePointwiseConv2D';
export {
  FusedPointwiseDepthwiseConv2D,
  isSupported as isPointwiseDepthwiseSupported,
} from './kernels/FusedPointwiseDepthwiseConv2D';
export {
  FusedInvertedResidual,
  isSupported as isInvertedResidualSupported,
} from './kernels/FusedInvertedResidual';

// ---------------------------------------------------------------------------
// Graph rewrite (src/graph-rewrite): load a converted GraphModel and run its
// DW→PW / PW→DW sites fused. The planner profiles and plan types are
// re-exported because `loadGraphModel` options take them.
export {
  DW_PW_ROLES,
  FUSED_DW_PW_OP,
  FUSED_INVERTED_RESIDUAL_OP,
  FUSED_PW_DW_OP,
  PW_DW_ROLES,
  explainFusion,
  fuseGraphModelArtifacts,
  loadGraphModel,
  precompile,
  registerFusedOps,
} from './graph-rewrite';
export type {
  BlockChoice,
  BlockPlan,
  FuseOptions,
  FuseResult,
  FusedGraphModel,
  FusedLoadOptions,
  FusionReport,
  GraphFusionPlan,
  KindCounts,
  LoadTimings,
  ModelReplay,
  PlanChoice,
  PrecompileTimings,
  SiteReport,
} from './graph-rewrite';

// Layers rewrite (src/layers-rewrite): the same for converted Keras models
// (LayersModel). The fused layer classes are registered for serialization
// on import, so saved fused models load with tf.loadLayersModel too.
export {
  FUSED_DW_PW_LAYER,
  FUSED_PW_DW_LAYER,
  FusedDepthwisePointwise,
  FusedPointwiseDepthwise,
  fuseLayersModel,
  fuseLayersModelArtifacts,
  loadLayersModel,
  registerFusedLayers,
} from './layers-rewrite';
export type {
  FusedConvPairArgs,
  FusedLayersLoadOptions,
  FusedLayersModel,
  LayersFuseOptions,
  LayersFuseResult,
} from './layers-rewrite';

// Planner (src/planner): profiles, plans, explain, on-device autotuning and calibration.
export {
  CONSERVATIVE_PROFILE,
  H100_LIKE_PROFILE,
  autotune,
  deviceProfileFromLimits,
  profileForDevice,
  explain,
  fileCache,
  localStorageCache,
  memoryCache,
  planFusions,
} from './planner';
export type {
  AutotuneCache,
  AutotuneOptions,
  DeviceProfile,
  FusionPlan,
  MeasuredSite,
  PlannerGraph,
  SitePlan,
} from './planner';
export { makeSiteTimer } from './ops/site_timer';
export type { SiteTimerOptions } from './ops/site_timer';
export { calibrate } from './ops/device_probe';
