/**
 * PW→DW Fused Convolutional Module: a pointwise (1x1) expansion followed by a
 * depthwise k×k convolution in one dispatch. The expanded tensor, usually the
 * largest of the network, never reaches global memory.
 *
 * A workgroup owns a `tileH` × `tileW` block of depthwise outputs ×
 * `tile.channels` expanded channels of one image:
 *   1. it computes the pointwise result (+ bias/activation) for every
 *      position of the block's receptive field, halo included, into
 *      `pwTile`. Overlapping blocks recompute their shared halo; positions
 *      outside the image hold the depthwise zero padding (never act(bias)).
 *      Each invocation takes `threadPositions` positions × 4 channels at a
 *      time, so one weight load serves several positions;
 *   2. it computes the depthwise outputs (+ bias/activation) from `pwTile`.
 * Shapes and paddings travel in uniforms; tile, kernel size, strides (they
 * size the halo), vector widths and epilogues are compiled in and named in
 * `shaderKey`.
 */

import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import { pwDwHalo, pwDwThreadVecs } from './pointwise_depthwise_tile';
import { PwDwTile } from './types';
import {
  channelLoad4,
  epilogueKey,
  epilogueUniforms,
  fma4,
  haloInputBases,
  StageEpilogue,
  stageBindings,
  stageEpilogue,
  storeChannels4,
  vecWidth,
} from './wgsl';

export interface PointwiseDepthwiseConfig {
  /** [N, Ho, Wo, M]. */
  outputShape: number[];
  inChannels: number;
  /** Expanded channels M (pointwise output = depthwise channels). */
  channels: number;
  kernelSize: number;
  strides: [number, number];
  pw: StageEpilogue;
  dw: StageEpilogue;
  tile: PwDwTile;
  maxWorkgroupsPerDimension: number;
}

export class PointwiseDepthwiseProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y: number[]; z: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent: number;
  uniforms = `pads : vec2<i32>, ${epilogueUniforms('pw')} ${epilogueUniforms('dw')}`;
  workgroupSize: [number, number, number];
  private readonly config: PointwiseDepthwiseConfig;
  private readonly inAligned: boolean;
  private readonly channelsAligned: boolean;

  constructor(config: PointwiseDepthwiseConfig) {
    this.config = config;
    const { outputShape, tile, pw, dw } = config;
    this.outputShape = outputShape;
    this.inAligned = config.inChannels % 4 === 0;
    this.channelsAligned = config.channels % 4 === 0;

    const pwBindings = stageBindings('pw', pw, this.channelsAligned);
    const dwBindings = stageBindings('dw', dw, this.channelsAligned);
    this.variableNames = ['x', ...pwBindings.names, ...dwBindings.names];
    this.variableComponents = [vecWidth(this.inAligned), ...pwBindings.components, ...dwBindings.components];
    this.outputComponent = vecWidth(this.channelsAligned);

    this.workgroupSize = [tile.workgroupSize, 1, 1];
    const [n, ho, wo, m] = outputShape;
    const spatialTiles = Math.ceil(ho / tile.tileH) * Math.ceil(wo / tile.tileW);
    const x = Math.min(spatialTiles, config.maxWorkgroupsPerDimension);
    this.dispatch = [x, Math.ceil(spatialTiles / x), n * Math.ceil(m / tile.channels)];
    this.dispatchLayout = { x: [2], y: [1], z: [0, 3] };

    this.shaderKey =
      `pwDw_${config.kernelSize}_${config.strides.join('x')}_${tile.tileH}_${tile.tileW}_${tile.channels}_` +
      `${tile.threadPositions}_${pwDwThreadVecs(tile)}_${tile.workgroupSize}_${this.inAligned}_` +
      `${this.channelsAligned}_` +
      `${epilogueKey(pw)}_${epilogueKey(dw)}`;
  }

  getUserCode(): string {
    const { kernelSize: k, strides, tile, pw, dw } = this.config;
    const { tileH, tileW, channels, threadPositions: rp, workgroupSize: wg } = tile;
    const [sh, sw] = strides;
    const { width: haloW, height: haloH } = pwDwHalo(tile, k, strides);
    const haloPositions = haloH * haloW;
    const positionGroups = Math.ceil(haloPositions / rp);
    const mVecs = channels / 4;
    const rm = pwDwThreadVecs(tile);
    const unitsPerGroup = mVecs / rm;
    return `
  var<workgroup> pwTile : array<vec4<f32>, ${haloPositions * mVecs}>;

  ${channelLoad4('xAt', 'x', this.inAligned, 'uniforms.xShape.w')}
  ${channelLoad4('pwWAt', 'pwW', this.channelsAligned, 'uniforms.outShape.w')}
  ${channelLoad4('dwWAt', 'dwW', this.channelsAligned, 'uniforms.outShape.w')}
  ${stageEpilogue('pw', pw, 'uniforms.outShape.w', this.channelsAligned)}
  ${stageEpilogue('dw', dw, 'uniforms.outShape.w', this.channelsAligned)}

  fn main() {
    let inH = uniforms.xShape.y;
    let inW = uniforms.xShape.z;
    let inC = uniforms.xShape.w;
    let outH = uniforms.outShape.y;
    let outW = uniforms.outShape.z;
    let channels = uniforms.outShape.w;
    let channelBlocks = (channels + ${channels - 1}) / ${channels};
    let tilesW = (outW + ${tileW - 1}) / ${tileW};
    let spatialTile = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
    let batch = i32(workgroupId.z) / channelBlocks;
    let mBase = (i32(workgroupId.z) % channelBlocks) * ${channels};
    let oh0 = (spatialTile / tilesW) * ${tileH};
    let ow0 = (spatialTile % tilesW) * ${tileW};
    let ih0 = oh0 * ${sh} - uniforms.pads.x;
    let iw0 = ow0 * ${sw} - uniforms.pads.y;
    let tid = i32(localIndex);

    // 1. Pointwise for the block and its halo into workgroup memory. A unit
    // is ${rp} positions × ${rm * 4} channels: each weight load serves ${rp} positions,
    // each input load ${rm} channel vectors.
    for (var u = tid; u < ${positionGroups * unitsPerGroup}; u += ${wg}) {
      let mv0 = (u % ${unitsPerGroup}) * ${rm};
      let group = u / ${unitsPerGroup};
      // Explicit zero values: these are re-declared for every unit.
      var acc = array<vec4<f32>, ${rp * rm}>();
      ${haloInputBases(rp, haloW, haloPositions)}
      if (mBase + mv0 * 4 < channels) {
        for (var c = 0; c < inC; c += 4) {
          var w : array<vec4<f32>, ${4 * rm}>;
          for (var r = 0; r < ${rm}; r++) {
            let m = mBase + (mv0 + r) * 4;
            w[4 * r] = pwWAt(c * channels, m);
            w[4 * r + 1] = select(vec4<f32>(0.0), pwWAt((c + 1) * channels, m), c + 1 < inC);
            w[4 * r + 2] = select(vec4<f32>(0.0), pwWAt((c + 2) * channels, m), c + 2 < inC);
            w[4 * r + 3] = select(vec4<f32>(0.0), pwWAt((c + 3) * channels, m), c + 3 < inC);
          }
          for (var i = 0; i < ${rp}; i++) {
            if (base[i] >= 0) {
              let xv = xAt(base[i], c);
              for (var r = 0; r < ${rm}; r++) {
                acc[i * ${rm} + r] = ${fma4('xv', (k) => `w[4 * r + ${k}]`, `acc[i * ${rm} + r]`)};
              }
            }
          }
        }
      }
      for (var i = 0; i < ${rp}; i++) {
        let hp = group * ${rp} + i;
        if (hp < ${haloPositions}) {
          for (var r = 0; r < ${rm}; r++) {
            let m = mBase + (mv0 + r) * 4;
            var value = vec4<f32>(0.0);
            if (base[i] >= 0 && m < channels) {
              value = pwEpilogue(acc[i * ${rm} + r], ih0 + hp / ${haloW}, iw0 + hp % ${haloW}, m);
            }
            pwTile[hp * ${mVecs} + mv0 + r] = value;
          }
        }
      }
    }
    workgroupBarrier();

    // 2. Depthwise from workgroup memory, epilogue, store.
    for (var u = tid; u < ${tileH * tileW * mVecs}; u += ${wg}) {
      let mv = u % ${mVecs};
      let o = u / ${mVecs};
      let th = o / ${tileW};
      let tw = o % ${tileW};
      let oh = oh0 + th;
      let ow = ow0 + tw;
      let m = mBase + mv * 4;
      if (oh < outH && ow < outW && m < channels) {
        var sum = vec4<f32>(0.0);
        for (var kh = 0; kh < ${k}; kh++) {
          for (var kw = 0; kw < ${k}; kw++) {
            let hp = (th * ${sh} + kh) * ${haloW} + tw * ${sw} + kw;
            sum = fma(pwTile[hp * ${mVecs} + mv], dwWAt((kh * ${k} + kw) * channels, m), sum);
          }
        }
        let value = dwEpilogue(sum, oh, ow, m);
        let outIndex = ((batch * outH + oh) * outW + ow) * channels + m;
        ${storeChannels4(this.channelsAligned, 'outIndex', 'm', 'channels')}
      }
    }
  }
`;
  }
}
