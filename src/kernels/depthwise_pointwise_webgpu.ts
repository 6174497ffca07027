/**
 * DW→PW Fused Convolutional Module: a depthwise k×k convolution followed by a
 * pointwise (1x1) convolution in one dispatch. The depthwise output, the large
 * intermediate, only ever lives in workgroup memory, one channel chunk at a
 * time.
 *
 * A workgroup owns `tile.pixels` consecutive output pixels (row-major over
 * N·Ho·Wo, so batches and image edges waste nothing) × `tile.filters` output
 * channels, and walks the input channels in chunks of `tile.channelChunk`:
 *   1. every invocation computes depthwise outputs (+ bias/activation) of the
 *      chunk for the tile's pixels into `dwTile` ([pixels][chunk / 4] vec4s,
 *      rows padded by one vec4 so the next step reads it without bank
 *      conflicts);
 *   2. every invocation multiplies its `threadPixels` pixels of `dwTile` into
 *      `threadFilters` output channels held in vec4 register accumulators
 *      (output-stationary), reading the pointwise weights from global memory
 *      (the same address across most of a subgroup: broadcast loads).
 * The pointwise epilogue then adds its bias, applies its activation and
 * stores. With `workgroupSplits` > 1 the workgroups of a tile take
 * interleaved channel chunks and store raw partial sums
 * [splits·N·Ho·Wo, roundUp4(F)] instead; `DepthwisePointwiseReduceProgram`
 * adds them and applies the epilogue. Shapes travel in uniforms; the tile,
 * the kernel size, the vector widths and the epilogues are compiled in and
 * named in `shaderKey`.
 */

import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import {
  dwPwInvocations,
  dwPwRun,
  dwPwSplits,
  dwPwFilterMajor,
  dwPwLaneGrid,
  dwPwTileRowVecs,
  dwPwWorkgroupSplits,
} from './depthwise_pointwise_tile';
import { DwPwTile } from './types';
import {
  channelLoad4,
  epilogueKey,
  epilogueUniforms,
  StageEpilogue,
  stageBindings,
  stageEpilogue,
  storeChannels4,
  vecWidth,
} from './wgsl';

export interface DepthwisePointwiseConfig {
  /** [N, Ho, Wo, F]. */
  outputShape: number[];
  kernelSize: number;
  /**
   * Depthwise strides: compiled in where they size the register window (runs
   * of several pixels), else read from uniforms, so sites that differ only
   * in stride share one program.
   */
  strides: [number, number];
  /** Input channels C and output channels F. */
  channels: number;
  outChannels: number;
  dw: StageEpilogue;
  /** Ignored (and not bound) when the tile splits workgroups: the reduce pass applies it. */
  pw: StageEpilogue;
  tile: DwPwTile;
  maxWorkgroupsPerDimension: number;
}

/** The pointwise stage of a split tile: raw sums, no bias or activation. */
const RAW_SUMS: StageEpilogue = { hasBias: false, activation: 'linear', hasPreluWeights: false };

/** The thread order in shaderKey: p, f, or g + the lane grid. */
function threadOrderKey(tile: DwPwTile): string {
  if (tile.threadOrder !== 'grid') return dwPwFilterMajor(tile) ? 'f' : 'p';
  const { pixelLanes, filterLanes } = dwPwLaneGrid(tile);
  return `g${pixelLanes}x${filterLanes}`;
}

export class DepthwisePointwiseProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y: number[]; z: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent: number;
  // The output of a split tile is its partial sums: F and N travel apart from outShape.
  uniforms = `pads : vec2<i32>, strides : vec2<i32>, outChannels : i32, ${epilogueUniforms('dw')} ${epilogueUniforms('pw')}`;
  workgroupSize: [number, number, number];
  private readonly config: DepthwisePointwiseConfig;
  private readonly channelsAligned: boolean;
  private readonly filtersAligned: boolean;
  private readonly workgroupSplits: number;

  constructor(config: DepthwisePointwiseConfig) {
    const { outputShape, tile, dw } = config;
    this.workgroupSplits = dwPwWorkgroupSplits(tile);
    const partialsOut = this.workgroupSplits > 1;
    const pw = partialsOut ? RAW_SUMS : config.pw;
    this.config = { ...config, pw };
    const [n, ho, wo, f] = outputShape;
    this.outputShape = partialsOut ? [this.workgroupSplits * n, ho, wo, Math.ceil(f / 4) * 4] : outputShape;
    this.channelsAligned = config.channels % 4 === 0;
    this.filtersAligned = config.outChannels % 4 === 0;

    const dwBindings = stageBindings('dw', dw, this.channelsAligned);
    const pwBindings = stageBindings('pw', pw, this.filtersAligned);
    this.variableNames = ['x', ...dwBindings.names, ...pwBindings.names];
    this.variableComponents = [
      vecWidth(this.channelsAligned),
      ...dwBindings.components,
      ...pwBindings.components,
    ];
    this.outputComponent = partialsOut ? 4 : vecWidth(this.filtersAligned);

    this.workgroupSize = [dwPwInvocations(tile), 1, 1];
    // Pixel tiles along x (folded into y when there are too many), filter
    // blocks × workgroup splits along z.
    const pixelTiles = Math.ceil((n * ho * wo) / tile.pixels);
    const x = Math.min(pixelTiles, config.maxWorkgroupsPerDimension);
    this.dispatch = [x, Math.ceil(pixelTiles / x), Math.ceil(f / tile.filters) * this.workgroupSplits];
    this.dispatchLayout = { x: [2], y: [1], z: [0, 3] };

    this.shaderKey =
      `dwPw_${config.kernelSize}_${dwPwRun(tile) === 1 ? 'u' : config.strides.join('x')}_${tile.pixels}_${tile.filters}_` +
      `${tile.channelChunk}_${tile.threadPixels}_${tile.threadFilters}_${dwPwRun(tile)}_${dwPwSplits(tile)}_` +
      `${this.workgroupSplits}_${threadOrderKey(tile)}_` +
      `${this.channelsAligned}_${this.filtersAligned}_` +
      `${epilogueKey(dw)}_${epilogueKey(pw)}`;
  }

  getUserCode(): string {
    const { kernelSize: k, strides, tile, dw, pw } = this.config;
    const { pixels, filters, channelChunk, threadPixels, threadFilters } = tile;
    const run = dwPwRun(tile);
    // Single-pixel runs read a k-wide window whatever the stride: it comes from uniforms.
    const [sh, sw] = run === 1 ? ['uniforms.strides.x', 'uniforms.strides.y'] : strides;
    const window = (run - 1) * strides[1] + k;
    const invocations = dwPwInvocations(tile);
    const pixelThreads = pixels / threadPixels;
    const filterVecs = threadFilters / 4;
    const chunkVecs = channelChunk / 4;
    const rowVecs = dwPwTileRowVecs(tile);
    const splits = dwPwSplits(tile);
    const sliceThreads = invocations / splits;
    const dwSlice = pixels * rowVecs;
    const wSlice = (channelChunk * filters) / 4;
    const accLength = threadPixels * filterVecs;
    const wgSplits = this.workgroupSplits;
    const filterThreads = filters / threadFilters;
    const order = tile.threadOrder ?? 'pixels';
    // The tile's j-th filter vec4 of this invocation: adjacent for one
    // invocation (pixel-major), or strided so that adjacent invocations
    // hold adjacent vec4s (filter-major, grid).
    const filterVecOf = (j: string) =>
      order === 'pixels' ? `filterThread * ${filterVecs} + ${j}` : `filterThread + ${j} * ${filterThreads}`;
    return `
  var<workgroup> dwTile : array<vec4<f32>, ${splits * dwSlice}>;
  var<workgroup> wTile : array<vec4<f32>, ${splits * wSlice}>;
  ${splits > 1 ? `var<workgroup> partials : array<vec4<f32>, ${(splits - 1) * sliceThreads * accLength}>;` : ''}

  ${channelLoad4('xAt', 'x', this.channelsAligned, 'uniforms.xShape.w')}
  ${channelLoad4('dwWAt', 'dwW', this.channelsAligned, 'uniforms.xShape.w')}
  ${channelLoad4('pwWAt', 'pwW', this.filtersAligned, 'uniforms.outChannels')}
  ${stageEpilogue('dw', dw, 'uniforms.xShape.w', this.channelsAligned)}
  ${stageEpilogue('pw', pw, 'uniforms.outChannels', this.filtersAligned)}

  // Depthwise output (+ epilogue) of channels c..c+3; channels past the end
  // are 0, as the pointwise stage must not see act(bias) there.
  fn dwFinish(sum : vec4<f32>, oh : i32, ow : i32, c : i32) -> vec4<f32> {
    let value = dwEpilogue(sum, oh, ow, c);
    return select(value, vec4<f32>(0.0), vec4<i32>(c) + vec4<i32>(0, 1, 2, 3) >= vec4<i32>(uniforms.xShape.w));
  }

  // One output pixel, for runs that cross a row or the end of the tensor.
  fn dwPixel(pixel : i32, c : i32) -> vec4<f32> {
    let channels = uniforms.xShape.w;
    let inH = uniforms.xShape.y;
    let inW = uniforms.xShape.z;
    let outW = uniforms.outShape.z;
    let outH = uniforms.outShape.y;
    let ow = pixel % outW;
    let oh = (pixel / outW) % outH;
    let batch = pixel / (outW * outH);
    let ih0 = oh * ${sh} - uniforms.pads.x;
    let iw0 = ow * ${sw} - uniforms.pads.y;
    var sum = vec4<f32>(0.0);
    for (var kh = 0; kh < ${k}; kh++) {
      let ih = ih0 + kh;
      if (ih >= 0 && ih < inH) {
        let rowBase = (batch * inH + ih) * inW;
        for (var kw = 0; kw < ${k}; kw++) {
          let iw = iw0 + kw;
          if (iw >= 0 && iw < inW) {
            sum = fma(xAt((rowBase + iw) * channels, c), dwWAt((kh * ${k} + kw) * channels, c), sum);
          }
        }
      }
    }
    return dwFinish(sum, oh, ow, c);
  }

  fn main() {
    let channels = uniforms.xShape.w;
    let inH = uniforms.xShape.y;
    let inW = uniforms.xShape.z;
    let outH = uniforms.outShape.y;
    let outW = uniforms.outShape.z;
    let outC = uniforms.outChannels;
    let numPixels = (uniforms.outShape.x / ${wgSplits}) * outH * outW;
    let tileIndex = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
    let pixelBase = tileIndex * ${pixels};
    let filterBlocks = (outC + ${filters - 1}) / ${filters};
    let filterBase = (i32(workgroupId.z) % filterBlocks) * ${filters};
    // This workgroup's share of the channel loop (${wgSplits} shares).
    let wgSplit = i32(workgroupId.z) / filterBlocks;
    let tid = i32(localIndex);
    // ${splits} slices of invocations take interleaved channel chunks.
    let slice = tid / ${sliceThreads};
    let sliceTid = tid % ${sliceThreads};
    ${this.threadMappingSnippet(pixelThreads, filterThreads)}

    var acc = array<vec4<f32>, ${accLength}>();
    // A trip count uniform across the workgroup (barriers inside); chunks
    // past the channels read as zeros.
    let rounds = (channels + ${channelChunk * splits * wgSplits - 1}) / ${channelChunk * splits * wgSplits};
    for (var chunkRound = 0; chunkRound < rounds; chunkRound++) {
      let round0 = (chunkRound * ${wgSplits} + wgSplit) * ${channelChunk * splits};
      // 1. Depthwise of this channel chunk into workgroup memory. A unit is a
      // run of ${run} adjacent pixels × 4 channels: in one row, a register
      // window of ${window} inputs per kernel row serves all of them.
      // Consecutive invocations take consecutive channel groups (coalesced).
      for (var u = tid; u < ${splits * (pixels / run) * chunkVecs}; u += ${invocations}) {
        let unitSlice = u / ${(pixels / run) * chunkVecs};
        let p0 = ((u / ${chunkVecs}) % ${pixels / run}) * ${run};
        let cv = u % ${chunkVecs};
        let c = round0 + unitSlice * ${channelChunk} + cv * 4;
        let first = pixelBase + p0;
        var values = array<vec4<f32>, ${run}>();
        if (c < channels && first < numPixels) {
          let ow0 = first % outW;
          if (ow0 + ${run - 1} < outW) {
            let oh = (first / outW) % outH;
            let batch = first / (outW * outH);
            let iw0 = ow0 * ${sw} - uniforms.pads.y;
            var sums = array<vec4<f32>, ${run}>();
            for (var kh = 0; kh < ${k}; kh++) {
              let ih = oh * ${sh} - uniforms.pads.x + kh;
              if (ih >= 0 && ih < inH) {
                let rowBase = (batch * inH + ih) * inW;
                var xs = array<vec4<f32>, ${window}>();
                for (var j = 0; j < ${window}; j++) {
                  let iw = iw0 + j;
                  if (iw >= 0 && iw < inW) {
                    xs[j] = xAt((rowBase + iw) * channels, c);
                  }
                }
                for (var kw = 0; kw < ${k}; kw++) {
                  let w = dwWAt((kh * ${k} + kw) * channels, c);
                  for (var i = 0; i < ${run}; i++) {
                    sums[i] = fma(xs[${run === 1 ? '' : `i * ${sw} + `}kw], w, sums[i]);
                  }
                }
              }
            }
            for (var i = 0; i < ${run}; i++) {
              values[i] = dwFinish(sums[i], oh, ow0 + i, c);
            }
          } else {
            for (var i = 0; i < ${run}; i++) {
              if (first + i < numPixels) {
                values[i] = dwPixel(first + i, c);
              }
            }
          }
        }
        for (var i = 0; i < ${run}; i++) {
          dwTile[unitSlice * ${dwSlice} + (p0 + i) * ${rowVecs} + cv] = values[i];
        }
      }
      // The chunk's pointwise weights [chunk][filters], zero past C and F.
      for (var v = tid; v < ${splits * wSlice}; v += ${invocations}) {
        let c = round0 + v / ${filters / 4};
        let f = filterBase + (v % ${filters / 4}) * 4;
        wTile[v] = select(vec4<f32>(0.0), pwWAt(min(c, channels - 1) * outC, f), c < channels && f < outC);
      }
      workgroupBarrier();

      // 2. Pointwise: accumulate the chunk into the register tile, weights
      // from workgroup memory (same address across a subgroup: broadcast).
      // Four channels at a time: one vec4 of depthwise values per pixel.
      for (var k4 = 0; k4 < ${chunkVecs}; k4++) {
        var a : array<vec4<f32>, ${threadPixels}>;
        for (var i = 0; i < ${threadPixels}; i++) {
          a[i] = dwTile[slice * ${dwSlice} + (pixelThread + i * ${pixelThreads}) * ${rowVecs} + k4];
        }
        for (var s = 0; s < 4; s++) {
          var w : array<vec4<f32>, ${filterVecs}>;
          for (var j = 0; j < ${filterVecs}; j++) {
            w[j] = wTile[slice * ${wSlice} + (k4 * 4 + s) * ${filters / 4} + ${filterVecOf('j')}];
          }
          for (var i = 0; i < ${threadPixels}; i++) {
            for (var j = 0; j < ${filterVecs}; j++) {
              acc[i * ${filterVecs} + j] = fma(vec4<f32>(a[i][s]), w[j], acc[i * ${filterVecs} + j]);
            }
          }
        }
      }
      workgroupBarrier();
    }
    ${splits > 1 ? this.reduceSlicesSnippet(sliceThreads, accLength) : ''}

    // 3. Pointwise epilogue and store.
    // Only slice 0 holds the full sums.
    for (var i = 0; i < ${splits > 1 ? `select(0, ${threadPixels}, slice == 0)` : threadPixels}; i++) {
      let pixel = pixelBase + pixelThread + i * ${pixelThreads};
      if (pixel < numPixels) {
        let ow = pixel % outW;
        let oh = (pixel / outW) % outH;
        for (var j = 0; j < ${filterVecs}; j++) {
          let f = filterBase + (${filterVecOf('j')}) * 4;
          if (f < outC) {
            ${
              wgSplits > 1
                ? `result[(wgSplit * numPixels + pixel) * ((outC + 3) / 4) + f / 4] = acc[i * ${filterVecs} + j];`
                : `let value = pwEpilogue(acc[i * ${filterVecs} + j], oh, ow, f);
            ${storeChannels4(this.filtersAligned, 'pixel * outC + f', 'f', 'outC')}`
            }
          }
        }
      }
    }
  }
`;
  }

  /** Which pixel and filter vec4 of the tile the invocation `sliceTid` of its slice takes. */
  private threadMappingSnippet(pixelThreads: number, filterThreads: number): string {
    switch (this.config.tile.threadOrder ?? 'pixels') {
      case 'filters':
        return `// Consecutive invocations take consecutive filter vec4s (coalesced stores).
    let pixelThread = sliceTid / ${filterThreads};
    let filterThread = sliceTid % ${filterThreads};`;
      case 'grid': {
        const { pixelLanes: pl, filterLanes: fl } = dwPwLaneGrid(this.config.tile);
        return `// Runs of ${pl * fl} invocations take ${pl} pixels × ${fl} filter vec4s: both operand loads are
    // broadcasts or contiguous rows of workgroup memory.
    let laneRun = sliceTid / ${pl * fl};
    let lane = sliceTid % ${pl * fl};
    let pixelThread = (laneRun / ${filterThreads / fl}) * ${pl} + lane / ${fl};
    let filterThread = (laneRun % ${filterThreads / fl}) * ${fl} + lane % ${fl};`;
      }
      default:
        return `// Consecutive invocations take consecutive pixels (broadcast weight loads).
    let pixelThread = sliceTid % ${pixelThreads};
    let filterThread = sliceTid / ${pixelThreads};`;
    }
  }

  /**
   * Slices other than 0 leave their partial sums in workgroup memory; slice
   * 0 adds them (in slice order, so results do not depend on scheduling).
   */
  private reduceSlicesSnippet(sliceThreads: number, accLength: number): string {
    return `
    if (slice > 0) {
      for (var e = 0; e < ${accLength}; e++) {
        partials[((slice - 1) * ${sliceThreads} + sliceTid) * ${accLength} + e] = acc[e];
      }
    }
    workgroupBarrier();
    if (slice == 0) {
      for (var other = 0; other < ${dwPwSplits(this.config.tile) - 1}; other++) {
        for (var e = 0; e < ${accLength}; e++) {
          acc[e] = acc[e] + partials[(other * ${sliceThreads} + sliceTid) * ${accLength} + e];
        }
      }
    }`;
  }
}
