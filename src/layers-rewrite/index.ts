/**
 * Layers rewrite: load a converted Keras model (LayersModel) and run its
 * depthwise/pointwise layer chains as fused layers. The model is lowered to
 * graph ops and goes through the graph rewrite's match → legality → decide
 * (the planner); chosen sites become fused layers. See README.md beside this file.
 */

export { fuseLayersModel, loadLayersModel } from './load';
export type { FusedLayersLoadOptions, FusedLayersModel } from './load';
export { fuseLayersModelArtifacts } from './fuse';
export type { LayersFuseOptions, LayersFuseResult } from './fuse';
export { FusedDepthwisePointwise, FusedPointwiseDepthwise, registerFusedLayers } from './fused_layers';
export type { FusedConvPairArgs } from './fused_layers';
export { FUSED_DW_PW_LAYER, FUSED_PW_DW_LAYER } from './layer_names';
