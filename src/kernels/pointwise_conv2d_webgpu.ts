/**
 * Pointwise (1x1, stride 1) convolution, NHWC: the [M, K] × [K, N] product
 * of the pixels with the filter, plus bias and activation.
 *
 * A workgroup owns `tile.pixels` consecutive pixels (row-major over N·H·W)
 * × `tile.filters` output channels, and walks the input channels in chunks:
 * each chunk of the input rows and of the filter is copied into workgroup
 * memory (coalesced loads), then every invocation multiplies its
 * `threadPixels` × `threadFilters` register tile from there. An invocation's
 * pixels and filter vectors are strided by the number of invocations along
 * each, so neighbouring invocations read neighbouring words (no bank
 * conflicts) and store neighbouring outputs.
 *
 * tfjs runs these convolutions as a general matrix product with 32×32
 * outputs per workgroup, which leaves most of a large GPU idle on small maps
 * at batch 1; this program picks its tile per shape (pointwise_tile.ts) and,
 * with `splits` > 1, divides the input channels among workgroups that store
 * raw partial sums [splits·N, H, W, roundUp4(F)] for
 * DepthwisePointwiseReduceProgram to add up and finish.
 */

import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import { PointwiseTile, pwInputRowVecs, pwInvocations, pwSplits, pwWorkgroupCount } from './pointwise_tile';
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

export interface PointwiseConv2DConfig {
  /** [N, H, W, F]; the input channels are a multiple of 4 (F may be any count). */
  outputShape: number[];
  inChannels: number;
  pw: StageEpilogue;
  tile: PointwiseTile;
  maxWorkgroupsPerDimension: number;
}

export class PointwiseConv2DProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y: number[]; z: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent: number;
  // outChannels: F (split partial sums are stored F rounded up to vec4s wide).
  uniforms = `splits : i32, outChannels : i32, ${epilogueUniforms('pw')}`;
  workgroupSize: [number, number, number];
  private readonly config: PointwiseConv2DConfig;
  private readonly splits: number;
  /** F is a multiple of 4: the filter, bias and output are bound as vec4s, else as scalars. */
  private readonly aligned: boolean;

  constructor(config: PointwiseConv2DConfig) {
    this.config = config;
    const { tile, outputShape } = config;
    const [n, h, w, f] = outputShape;
    this.splits = pwSplits(tile);
    this.aligned = f % 4 === 0;
    // Raw partial sums are always whole vec4s (the reduce pass reads them so).
    this.outputShape = this.splits > 1 ? [this.splits * n, h, w, Math.ceil(f / 4) * 4] : outputShape;
    this.outputComponent = this.splits > 1 ? 4 : vecWidth(this.aligned);
    // A split tile binds the filter only: the bias and PReLU weights go to the reduce pass.
    const bindings = stageBindings(
      'pw',
      this.splits > 1 ? { ...config.pw, hasBias: false, hasPreluWeights: false } : config.pw,
      this.aligned,
    );
    this.variableNames = ['x', ...bindings.names];
    this.variableComponents = [4, ...bindings.components];
    this.workgroupSize = [pwInvocations(tile), 1, 1];
    const groups = pwWorkgroupCount(
      { pixels: n * h * w, inChannels: config.inChannels, outChannels: f },
      tile,
    );
    const x = Math.min(groups, config.maxWorkgroupsPerDimension);
    this.dispatch = [x, Math.ceil(groups / x), 1];
    // Not flat: main() indexes its own workgroups.
    this.dispatchLayout = { x: [2], y: [1], z: [0, 3] };
    this.shaderKey =
      `pointwise_${tile.pixels}_${tile.filters}_${tile.threadPixels}_${tile.threadFilters}_${tile.chunk}_` +
      `${this.aligned}_` +
      // The split count is a uniform: shapes that differ only in it share a program.
      `${this.splits > 1 ? 'raw' : epilogueKey(config.pw)}`;
  }

  getUserCode(): string {
    const { tile, pw } = this.config;
    const { pixels, filters, threadPixels, threadFilters, chunk } = tile;
    const splits = this.splits > 1 ? 'uniforms.splits' : '1';
    const pixelThreads = pixels / threadPixels;
    const filterThreads = filters / threadFilters;
    const filterVecs = threadFilters / 4;
    const chunkVecs = chunk / 4;
    const rowVecs = pwInputRowVecs(tile);
    const filterVecsAll = filters / 4;
    const wg = pwInvocations(tile);
    return `
  var<workgroup> xTile : array<vec4<f32>, ${pixels * rowVecs}>;
  var<workgroup> wTile : array<vec4<f32>, ${chunk * filterVecsAll}>;
  ${channelLoad4('pwWAt', 'pwW', this.aligned, 'uniforms.outChannels')}
  ${this.splits > 1 ? '' : stageEpilogue('pw', pw, 'uniforms.outChannels', this.aligned)}

  fn main() {
    let inC = uniforms.xShape.w;
    let outC = uniforms.outChannels;
    let outH = uniforms.outShape.y;
    let outW = uniforms.outShape.z;
    let pixelCount = uniforms.xShape.x * uniforms.xShape.y * uniforms.xShape.z;
    let pixelBlocks = (pixelCount + ${pixels - 1}) / ${pixels};
    let filterBlocks = (outC + ${filters - 1}) / ${filters};
    let block = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
    let filterBase = (block % filterBlocks) * ${filters};
    let pixelBase = ((block / filterBlocks) % pixelBlocks) * ${pixels};
    // Past the last split: a workgroup the dispatch rounding added; it loads zeros and stores nothing.
    let split = block / (filterBlocks * pixelBlocks);
    let tid = i32(localIndex);
    let filterThread = tid % ${filterThreads};
    let pixelThread = tid / ${filterThreads};

    var acc = array<vec4<f32>, ${threadPixels * filterVecs}>();
    // A trip count uniform across the workgroup (barriers inside); split s
    // takes chunks s·rounds .. s·rounds + rounds - 1.
    let rounds = ((inC + ${chunk - 1}) / ${chunk} + ${splits} - 1) / ${splits};
    for (var r = 0; r < rounds; r++) {
      let c0 = (split * rounds + r) * ${chunk};
      for (var v = tid; v < ${pixels * chunkVecs}; v += ${wg}) {
        let p = pixelBase + v / ${chunkVecs};
        let c = c0 + (v % ${chunkVecs}) * 4;
        let inside = p < pixelCount && c < inC && split < ${splits};
        xTile[(v / ${chunkVecs}) * ${rowVecs} + v % ${chunkVecs}] =
            select(vec4<f32>(0.0), x[select(0, (p * inC + c) / 4, inside)], inside);
      }
      for (var v = tid; v < ${chunk * filterVecsAll}; v += ${wg}) {
        let c = c0 + v / ${filterVecsAll};
        let f = filterBase + (v % ${filterVecsAll}) * 4;
        let inside = c < inC && f < outC;
        wTile[v] = select(vec4<f32>(0.0), pwWAt(select(0, c * outC, inside), select(0, f, inside)), inside);
      }
      workgroupBarrier();
      for (var k4 = 0; k4 < ${chunkVecs}; k4++) {
        var a : array<vec4<f32>, ${threadPixels}>;
        for (var i = 0; i < ${threadPixels}; i++) {
          a[i] = xTile[(pixelThread + i * ${pixelThreads}) * ${rowVecs} + k4];
        }
        for (var s = 0; s < 4; s++) {
          var b : array<vec4<f32>, ${filterVecs}>;
          for (var j = 0; j < ${filterVecs}; j++) {
            b[j] = wTile[(k4 * 4 + s) * ${filterVecsAll} + filterThread + j * ${filterThreads}];
          }
          for (var i = 0; i < ${threadPixels}; i++) {
            for (var j = 0; j < ${filterVecs}; j++) {
              acc[i * ${filterVecs} + j] = fma(vec4<f32>(a[i][s]), b[j], acc[i * ${filterVecs} + j]);
            }
          }
        }
      }
      workgroupBarrier();
    }

    for (var i = 0; i < ${threadPixels}; i++) {
      let p = pixelBase + pixelThread + i * ${pixelThreads};
      for (var j = 0; j < ${filterVecs}; j++) {
        let f = filterBase + (filterThread + j * ${filterThreads}) * 4;
        if (p < pixelCount && f < outC && split < ${splits}) {
          ${
            this.splits > 1
              ? `result[(split * pixelCount + p) * ((outC + 3) / 4) + f / 4] = acc[i * ${filterVecs} + j];`
              : `let value = pwEpilogue(acc[i * ${filterVecs} + j], (p / outW) % outH, p % outW, f);
          ${storeChannels4(this.aligned, 'p * outC + f', 'f', 'outC')}`
          }
        }
      }
    }
  }
`;
  }
}
