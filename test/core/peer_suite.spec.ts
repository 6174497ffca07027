/**
 * tfjs-core's own test suite, run against `webgpu-fused` the way
 * tfjs-backend-webgpu runs it (env + filters in test/setup.ts). Required, not
 * imported, so the env and filters are in place before the specs register.
 */

/* eslint-disable @typescript-eslint/no-require-imports */
import '../setup';

require('@tensorflow/tfjs-core/dist/ops/conv2d_test');
require('@tensorflow/tfjs-core/dist/ops/depthwise_conv2d_test');
require('@tensorflow/tfjs-core/dist/ops/conv2d_separable_test');
require('@tensorflow/tfjs-core/dist/ops/fused/fused_conv2d_test');
require('@tensorflow/tfjs-core/dist/ops/fused/fused_depthwise_conv2d_test');
require('@tensorflow/tfjs-core/dist/ops/fused/fused_mat_mul_test');
require('@tensorflow/tfjs-core/dist/ops/mat_mul_test');
require('@tensorflow/tfjs-core/dist/ops/relu_test');
require('@tensorflow/tfjs-core/dist/ops/relu6_test');
require('@tensorflow/tfjs-core/dist/ops/elu_test');
require('@tensorflow/tfjs-core/dist/ops/sigmoid_test');
require('@tensorflow/tfjs-core/dist/ops/leaky_relu_test');
require('@tensorflow/tfjs-core/dist/ops/binary_ops_test'); // holds the prelu specs
