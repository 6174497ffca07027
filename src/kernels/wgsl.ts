/**
 * Small WGSL generators shared by the fused programs: channel-vector loads
 * that work for any channel count, and the bias + activation epilogue of a
 * stage. The vector width is decided once from the shapes (`aligned` = the
 * channel count is a multiple of 4, so the buffer is bound as vec4 and read
 * with one load); otherwise four bounds-checked scalar loads.
 */

import { activationFunction, activationUsesAlpha } from './activation';
import { FusedActivation } from './types';

/**
 * `fn <name>(base : i32, c : i32) -> vec4<f32>`: elements base+c .. base+c+3
 * of `buffer`, zero for channels at or past `channels` (a WGSL expression).
 * With `aligned`, base and c must be multiples of 4.
 */
export function channelLoad4(name: string, buffer: string, aligned: boolean, channels: string): string {
  if (aligned) {
    return `
  fn ${name}(base : i32, c : i32) -> vec4<f32> {
    return ${buffer}[(base + c) / 4];
  }`;
  }
  return `
  fn ${name}(base : i32, c : i32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var j = 0; j < 4; j++) {
      if (c + j < ${channels}) {
        v[j] = ${buffer}[base + c + j];
      }
    }
    return v;
  }`;
}

/**
 * WGSL statement storing `value` (a vec4 of channels c..c+3) at element
 * `index` of `result`: one vec4 store when `aligned` (index a multiple of 4),
 * else four bounds-checked scalar stores (channels at or past `channels`
 * are skipped).
 */
export function storeChannels4(aligned: boolean, index: string, c: string, channels: string): string {
  if (aligned) return `result[(${index}) / 4] = value;`;
  return `for (var e = 0; e < 4; e++) {
      if (${c} + e < ${channels}) {
        result[${index} + e] = value[e];
      }
    }`;
}

/** What one stage (depthwise or pointwise) applies after its sum. */
export interface StageEpilogue {
  hasBias: boolean;
  activation: FusedActivation;
  /** PReLU weights are bound (activation 'prelu'). */
  hasPreluWeights: boolean;
}

export function epilogueKey(e: StageEpilogue): string {
  return `${e.hasBias ? 'b' : ''}${e.activation}${e.hasPreluWeights ? 'w' : ''}`;
}

/**
 * `fn <stage>Epilogue(v : vec4<f32>, h : i32, w : i32, c : i32) -> vec4<f32>`
 * for output channels c..c+3 at pixel (h, w): bias, then the activation.
 * Expects bindings `<stage>Bias` / `<stage>Alpha` when used and uniforms
 * `<stage>AlphaStrides : vec3<i32>` (PReLU weights broadcast to [H, W, C])
 * and `<stage>LeakyAlpha : f32`. With `packed` (a vec4 buffer name) bias and
 * PReLU weights come from that buffer at uniforms `<stage>BiasOffset` /
 * `<stage>AlphaOffset` instead (and `packedScalar` must be declared).
 */
export function stageEpilogue(
  stage: string,
  e: StageEpilogue,
  channels: string,
  biasAligned: boolean,
  packed?: string,
): string {
  const parts: string[] = [];
  const body: string[] = ['var r = v;'];
  // Packed stages read bias and PReLU weights from one vec4 buffer at
  // offsets (in floats, bias 4-aligned) given by uniforms.
  const alphaValue = (index: string) =>
    packed == null ? `${stage}Alpha[${index}]` : `packedScalar(uniforms.${stage}AlphaOffset + ${index})`;
  if (e.hasBias) {
    parts.push(
      packed == null
        ? channelLoad4(`${stage}BiasAt`, `${stage}Bias`, biasAligned, channels)
        : `
  fn ${stage}BiasAt(base : i32, c : i32) -> vec4<f32> {
    return ${packed}[(uniforms.${stage}BiasOffset + base + c) / 4];
  }`,
    );
    body.push(`r = r + ${stage}BiasAt(0, c);`);
  }
  if (e.activation !== 'linear') {
    parts.push(activationFunction(e.activation, `${stage}Activation`));
    let alpha = 'vec4<f32>(0.0)';
    if (e.activation === 'leakyrelu') {
      alpha = `vec4<f32>(uniforms.${stage}LeakyAlpha)`;
    } else if (activationUsesAlpha(e.activation)) {
      // Any broadcastable PReLU shape: strides are 0 along broadcast dims.
      // Channels past the end are clamped; their outputs are never stored.
      parts.push(`
  fn ${stage}AlphaAt(h : i32, w : i32, c : i32) -> vec4<f32> {
    let s = uniforms.${stage}AlphaStrides;
    let base = h * s.x + w * s.y;
    let last = ${channels} - 1;
    return vec4<f32>(
        ${alphaValue('base + min(c, last) * s.z')},
        ${alphaValue('base + min(c + 1, last) * s.z')},
        ${alphaValue('base + min(c + 2, last) * s.z')},
        ${alphaValue('base + min(c + 3, last) * s.z')});
  }`);
      alpha = `${stage}AlphaAt(h, w, c)`;
    }
    body.push(`r = ${stage}Activation(r, ${alpha});`);
  }
  body.push('return r;');
  parts.push(`
  fn ${stage}Epilogue(v : vec4<f32>, h : i32, w : i32, c : i32) -> vec4<f32> {
    ${body.join('\n    ')}
  }`);
  return parts.join('\n');
}

/** The uniform fields every stage epilogue reads (declared even if unused). */
export function epilogueUniforms(stage: string): string {
  return `${stage}AlphaStrides : vec3<i32>, ${stage}LeakyAlpha : f32,`;
}

/** vec4 bindings where the channel count allows (see `channelLoad4`), else scalars. */
export const vecWidth = (aligned: boolean) => (aligned ? 4 : 1);

/**
 * The bindings of one stage, in the order the kernels pass its tensors:
 * `<stage>W` (the filter), then `<stage>Bias` and `<stage>Alpha` when used.
 * Filter and bias are vec4 when the stage's channels are aligned; PReLU
 * weights, indexed by broadcast strides, are always scalar.
 */
export function stageBindings(
  stage: string,
  e: StageEpilogue,
  aligned: boolean,
): { names: string[]; components: number[] } {
  const names = [`${stage}W`];
  const components = [vecWidth(aligned)];
  if (e.hasBias) {
    names.push(`${stage}Bias`);
    components.push(vecWidth(aligned));
  }
  if (e.hasPreluWeights) {
    names.push(`${stage}Alpha`);
    components.push(1);
  }
  return { names, components };
}

/** `fn packedScalar(i : i32) -> f32`: float `i` of the vec4 buffer `buffer`. */
export function packedScalarLoad(buffer: string): string {
  return `
  fn packedScalar(i : i32) -> f32 {
    return ${buffer}[i / 4][i % 4];
  }`;
}

/**
 * WGSL expression: `acc` plus four input channels `x` (a vec4) times their
 * weight rows `w(0..3)` (vec4s of output channels), as nested fmas.
 */
export function fma4(x: string, w: (k: number) => string, acc: string): string {
  return (
    `fma(vec4<f32>(${x}.x), ${w(0)}, fma(vec4<f32>(${x}.y), ${w(1)}, ` +
    `fma(vec4<f32>(${x}.z), ${w(2)}, fma(vec4<f32>(${x}.w), ${w(3)}, ${acc}))))`
  );
}

/**
 * WGSL statements declaring `base`: for each of the `positions` halo
 * positions of group `group` (the halo is `haloW` wide and starts at input
 * row ih0, column iw0), the offset of its first input channel in x, or -1
 * outside the image or past the halo's `haloPositions`. Uses inH, inW, inC
 * and batch.
 */
export function haloInputBases(positions: number, haloW: number, haloPositions: number): string {
  return `var base = array<i32, ${positions}>();
      for (var i = 0; i < ${positions}; i++) {
        let hp = group * ${positions} + i;
        let ih = ih0 + hp / ${haloW};
        let iw = iw0 + hp % ${haloW};
        let inside = hp < ${haloPositions} && ih >= 0 && ih < inH && iw >= 0 && iw < inW;
        base[i] = select(-1, ((batch * inH + ih) * inW + iw) * inC, inside);
      }`;
}
