/** The fused ops, exported as the namespace `fused` (like `tf.fused`). */
export { depthwisePointwiseConv2d } from './depthwise_pointwise_conv2d';
export type { DepthwisePointwiseConv2dArgs } from './depthwise_pointwise_conv2d';
