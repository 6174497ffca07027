/** Class names of the fused layers (as registered with `tf.serialization.registerClass`). */
export const FUSED_DW_PW_LAYER = 'FusedDepthwisePointwise';
export const FUSED_PW_DW_LAYER = 'FusedPointwiseDepthwise';
