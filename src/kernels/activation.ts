/**
 * WGSL for the epilogue activations of fused stages, in vec4 form. The stock
 * activations reuse tfjs-backend-webgpu's own op snippets; swish and
 * hard-swish (MobileNetV3), which tfjs's fused ops lack, are written here.
 *
 * Each stage gets its own function name (a fused kernel has two or three
 * epilogues) and an explicit `alpha` operand: the per-channel/per-pixel PReLU
 * weights, or the LeakyReLU alpha broadcast (LeakyReLU is PReLU with a
 * constant slope, so both use the PReLU snippet).
 */

import { getBinaryOpString, BinaryOpType } from '@tensorflow/tfjs-backend-webgpu/dist/binary_op_util';
import { getUnaryOpString, UnaryOpType } from '@tensorflow/tfjs-backend-webgpu/dist/unary_op_util';

import { FusedActivation } from './types';

const SWISH_VEC4 = 'return a / (vec4<f32>(1.0) + exp(-a));';
const HARD_SWISH_VEC4 = 'return a * clamp(a + vec4<f32>(3.0), vec4<f32>(0.0), vec4<f32>(6.0)) / 6.0;';

function activationBody(activation: FusedActivation): string {
  switch (activation) {
    case 'linear':
      return 'return a;';
    case 'relu':
      return getUnaryOpString(UnaryOpType.RELU, true);
    case 'relu6':
      return getUnaryOpString(UnaryOpType.RELU6, true);
    case 'elu':
      return getUnaryOpString(UnaryOpType.ELU, true);
    case 'sigmoid':
      return getUnaryOpString(UnaryOpType.SIGMOID, true);
    case 'prelu':
    case 'leakyrelu':
      return getBinaryOpString(BinaryOpType.PRELU, true);
    case 'swish':
      return SWISH_VEC4;
    case 'hardswish':
      return HARD_SWISH_VEC4;
    default:
      throw new Error(`Unknown fused activation '${activation as string}'`);
  }
}

/** Whether the activation reads an alpha operand. */
export function activationUsesAlpha(activation: FusedActivation): boolean {
  return activation === 'prelu' || activation === 'leakyrelu';
}

/**
 * `fn <name>(a : vec4<f32>, alpha : vec4<f32>) -> vec4<f32>`. The PReLU
 * snippet names its slope `b`, so alpha is bound to that name.
 */
export function activationFunction(activation: FusedActivation, name: string): string {
  const body = activationBody(activation);
  const bindAlpha = activationUsesAlpha(activation) ? 'let b = alpha;' : '';
  return `
  fn ${name}(a : vec4<f32>, alpha : vec4<f32>) -> vec4<f32> {
    ${bindAlpha}
    ${body}
  }`;
}
