/** The fused ops, exported as the namespace `fused` (like `tf.fused`). */
export { depthwisePointwiseConv2d } from './depthwise_pointwise_conv2d';
export type { DepthwisePointwiseConv2dArgs } from './depthwise_pointwise_conv2d';
export { pointwiseDepthwiseConv2d } from './pointwise_depthwise_conv2d';
export type { PointwiseDepthwiseConv2dArgs } from './pointwise_depthwise_conv2d';
export { invertedResidual, invertedResidualPacked, packInvertedResidual } from './inverted_residual';
export type {
  InvertedResidualArgs,
  InvertedResidualPackedArgs,
  InvertedResidualWeights,
  PackedInvertedResidual,
} from './inverted_residual';
