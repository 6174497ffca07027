/**
 * A whole inverted-residual block in one dispatch: expansion 1x1 (+ bias,
 * activation) → depthwise k×k (+ bias, activation) → projection 1x1
 * (+ bias, activation) (+ the block input, the residual). Neither the
 * expanded tensor nor the depthwise output reaches global memory.
 *
 * A workgroup owns a `tileH` × `tileW` block of outputs of one image ×
 * `tile.filters` output channels and walks the expanded channels in chunks:
 *   1. the expansion of the chunk for every position of the block's
 *      receptive field (halo included) into `expTile`; positions outside the
 *      image hold the depthwise zero padding and are never computed. An
 *      invocation takes `expandPositions` positions × `expandVecs` vec4s of
 *      channels, so each weight load serves several positions and each input
 *      load (the same address across neighbouring invocations) several
 *      channel vectors;
 *   2. the depthwise of the chunk for the block into `dwTile`;
 *   3. the projection of the chunk into register accumulators,
 *      `threadPixels` × `threadFilters` per invocation (output-stationary).
 * With `stageWeights` each chunk's expansion, depthwise and projection weights are first
 * copied into workgroup memory (coalesced), so the inner loops of steps 1 and
 * 3 read them from there instead of from global memory.
 * With one split the projection epilogue and the residual follow and the
 * block is stored. With `splits` > 1 workgroups take interleaved chunks, and
 *   - 'pass' (default): raw partial sums [splits·N, Ho, Wo, roundUp4(Cout)]
 *     are stored for InvertedResidualReduceProgram to add up and finish;
 *   - 'inline': each stores its partial projection in a slot of the backend's
 *     scratch buffer, as atomics, and counts itself in on an atomic counter;
 *     the last workgroup of each group of splits adds the group's partials in
 *     split order (waiting for words still in flight), the last of those adds
 *     the group sums and finishes the block. Slots are zeroed after use and
 *     counters reset, so the scratch is clean for the next dispatch; results
 *     do not depend on scheduling.
 *
 * Every weight comes from one packed buffer `w` (inverted_residual_layout.ts)
 * at offsets given in uniforms; tile, kernel size, strides, vector widths,
 * epilogues, residual and split mode are compiled in and named in `shaderKey`.
 */

import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import {
  irDepthwiseRowVecs,
  irExpandVecs,
  irHalo,
  irInlineReduce,
  irPixelThreads,
  irReduceGroupSize,
  irSlotVec4s,
  irSplits,
} from './inverted_residual_tile';
import { IrTile } from './types';
import {
  channelLoad4,
  epilogueKey,
  epilogueUniforms,
  fma4,
  haloInputBases,
  packedScalarLoad,
  StageEpilogue,
  stageEpilogue,
  storeChannels4,
  vecWidth,
} from './wgsl';

export interface InvertedResidualEpilogues {
  expand: StageEpilogue;
  dw: StageEpilogue;
  project: StageEpilogue;
}

export interface InvertedResidualConfig {
  batch: number;
  outHeight: number;
  outWidth: number;
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  strides: [number, number];
  epilogues: InvertedResidualEpilogues;
  residual: boolean;
  tile: IrTile;
  maxWorkgroupsPerDimension: number;
}

/** Uniforms shared by the block program and its reduce pass (offsets in floats). */
export const INVERTED_RESIDUAL_UNIFORMS =
  'pads : vec2<i32>, expandedChannels : i32, outChannels : i32, ' +
  'expandWOffset : i32, expandBiasOffset : i32, expandAlphaOffset : i32, ' +
  'dwWOffset : i32, dwBiasOffset : i32, dwAlphaOffset : i32, ' +
  'projectWOffset : i32, projectBiasOffset : i32, projectAlphaOffset : i32, ' +
  `${epilogueUniforms('expand')} ${epilogueUniforms('dw')} ${epilogueUniforms('project')}`;

/**
 * The projection epilogue + residual + store of one vec4 of outputs at
 * `outIndex` (channel `f`); shared with the reduce pass.
 */
export function finishSnippet(residual: boolean, outAligned: boolean): string {
  return `
  fn finish(sum : vec4<f32>, batch : i32, oh : i32, ow : i32, f : i32) {
    var value = projectEpilogue(sum, oh, ow, f);
    ${residual ? 'value = value + xAt(((batch * uniforms.xShape.y + oh) * uniforms.xShape.z + ow) * uniforms.xShape.w, f);' : ''}
    let outIndex = ((batch * uniforms.outShape.y + oh) * uniforms.outShape.z + ow) * uniforms.outChannels + f;
    ${storeChannels4(outAligned, 'outIndex', 'f', 'uniforms.outChannels')}
  }`;
}

/** Bits stored in a filled slot word: the value's bits XOR a signalling-NaN pattern no arithmetic produces, never 0. */
const SLOT_MARK = '0x7fbadbadu';

/**
 * Polls of a slot word that has not arrived before the reducer gives up on
 * it (it then reads as NaN). Stores that precede a workgroup's count-in
 * arrive within a few hundred polls on an H100; the bound only keeps a
 * driver that never delivers them from hanging.
 */
const SLOT_POLLS = 1 << 16;

/**
 * WGSL orders memory only within a workgroup (storageBarrier) and gives
 * atomics relaxed, device-coherent semantics: a partial another workgroup
 * stored with plain stores before counting in may still be in flight, or
 * hidden by a stale cache line, when the reducer reads it. So every slot word
 * is an atomic, written as bits ^ SLOT_MARK (never 0) and read by polling
 * until it is non-zero, then zeroed for the next dispatch.
 */
function inlineReduceDeclarations(binding: number): string {
  return `
  @group(0) @binding(${binding}) var<storage, read_write> counters : array<atomic<u32>>;
  @group(0) @binding(${binding + 1}) var<storage, read_write> slots : array<atomic<u32>>;
  var<workgroup> lastOfGroup : i32;
  var<workgroup> lastOfAll : i32;

  fn putSlot(at : i32, value : vec4<f32>) {
    let bits = bitcast<vec4<u32>>(value) ^ vec4<u32>(${SLOT_MARK});
    for (var k = 0; k < 4; k++) {
      atomicStore(&slots[at * 4 + k], bits[k]);
    }
  }

  // Takes a partial and zeroes its slot, waiting for words still in flight.
  fn takeSlot(at : i32) -> vec4<f32> {
    var bits = vec4<u32>(0u);
    for (var k = 0; k < 4; k++) {
      var word = atomicLoad(&slots[at * 4 + k]);
      for (var poll = 0; word == 0u && poll < ${SLOT_POLLS}; poll++) {
        word = atomicLoad(&slots[at * 4 + k]);
      }
      atomicStore(&slots[at * 4 + k], 0u);
      bits[k] = word;
    }
    return bitcast<vec4<f32>>(bits ^ vec4<u32>(${SLOT_MARK}));
  }`;
}

export class InvertedResidualProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y: number[]; z: number[] };
  dispatch: [number, number, number];
  variableNames = ['x', 'w'];
  variableComponents: number[];
  outputComponent: number;
  uniforms = INVERTED_RESIDUAL_UNIFORMS;
  workgroupSize: [number, number, number];
  private readonly config: InvertedResidualConfig;
  private readonly inAligned: boolean;
  private readonly outAligned: boolean;
  private readonly splits: number;
  private readonly inline: boolean;
  /** The inline reduction's counters and slots (two ranges of the backend's scratch), bound after the uniforms. */
  extraBindings?: GPUBufferBinding[];

  constructor(config: InvertedResidualConfig) {
    this.config = config;
    const { tile, batch, outHeight, outWidth, outChannels } = config;
    this.splits = irSplits(tile);
    this.inline = irInlineReduce(tile);
    this.inAligned = config.inChannels % 4 === 0;
    // Partial sums for a reduce pass are always stored as whole vec4s.
    const partialsOut = this.splits > 1 && !this.inline;
    this.outAligned = partialsOut || outChannels % 4 === 0;
    this.outputShape = partialsOut
      ? [this.splits * batch, outHeight, outWidth, Math.ceil(outChannels / 4) * 4]
      : [batch, outHeight, outWidth, outChannels];
    this.variableComponents = [vecWidth(this.inAligned), 4];
    this.outputComponent = vecWidth(this.outAligned);
    this.workgroupSize = [irPixelThreads(tile) * (tile.filters / tile.threadFilters), 1, 1];

    const spatialTiles = Math.ceil(outHeight / tile.tileH) * Math.ceil(outWidth / tile.tileW);
    const x = Math.min(spatialTiles, config.maxWorkgroupsPerDimension);
    const filterBlocks = Math.ceil(outChannels / tile.filters);
    this.dispatch = [x, Math.ceil(spatialTiles / x), this.splits * batch * filterBlocks];
    this.dispatchLayout = { x: [2], y: [1], z: [0, 3] };

    const { expand, dw, project } = config.epilogues;
    this.shaderKey =
      `invRes_${config.kernelSize}_${config.strides.join('x')}_${tile.tileH}_${tile.tileW}_${tile.filters}_` +
      `${tile.chunk}_${tile.threadPixels}_${tile.threadFilters}_${tile.expandPositions}_${irExpandVecs(tile)}_` +
      `${this.splits}${this.inline ? 'i' : ''}_` +
      `${this.inAligned}_${this.outAligned}_${config.residual}_` +
      // Staged weights size workgroup arrays by the input channels.
      `${tile.stageWeights ? `sw${Math.ceil(config.inChannels / 4) * 4}_` : ''}` +
      `${epilogueKey(expand)}_${epilogueKey(dw)}_${epilogueKey(project)}`;
  }

  getUserCode(): string {
    const { kernelSize: k, strides, tile, epilogues, residual } = this.config;
    const { tileH, tileW, filters, chunk, threadPixels, threadFilters, expandPositions: rp } = tile;
    const [sh, sw] = strides;
    const { height: haloH, width: haloW } = irHalo(tile, k, strides);
    const haloPositions = haloH * haloW;
    const positionGroups = Math.ceil(haloPositions / rp);
    const chunkVecs = chunk / 4;
    const rowVecs = irDepthwiseRowVecs(tile);
    const pixelThreads = irPixelThreads(tile);
    const dwRows = pixelThreads * threadPixels;
    const filterVecs = threadFilters / 4;
    const wg = this.workgroupSize[0];
    const splits = this.splits;
    const staged = tile.stageWeights === true;
    const inC4 = Math.ceil(this.config.inChannels / 4) * 4;
    const filterVecsAll = filters / 4;
    const rm = irExpandVecs(tile);
    const vecGroups = chunkVecs / rm;
    const wSrc = staged ? 'wExp' : 'w';
    const partials = splits > 1 && !this.inline;
    return `
  var<workgroup> expTile : array<vec4<f32>, ${haloPositions * chunkVecs}>;
  var<workgroup> dwTile : array<vec4<f32>, ${dwRows * rowVecs}>;
  ${
    staged
      ? `var<workgroup> wExp : array<vec4<f32>, ${inC4 * chunkVecs}>;
  var<workgroup> wDw : array<vec4<f32>, ${k * k * chunkVecs}>;
  var<workgroup> wProj : array<vec4<f32>, ${chunk * filterVecsAll}>;`
      : ''
  }

  ${channelLoad4('xAt', 'x', this.inAligned, 'uniforms.xShape.w')}
  ${packedScalarLoad('w')}
  ${stageEpilogue('expand', epilogues.expand, 'uniforms.expandedChannels', true, 'w')}
  ${stageEpilogue('dw', epilogues.dw, 'uniforms.expandedChannels', true, 'w')}
  ${partials ? '' : stageEpilogue('project', epilogues.project, 'uniforms.outChannels', true, 'w')}
  ${partials ? '' : finishSnippet(residual, this.outAligned)}
  ${this.inline ? inlineReduceDeclarations(this.variableNames.length + 2) : ''}

  fn main() {
    let inH = uniforms.xShape.y;
    let inW = uniforms.xShape.z;
    let inC = uniforms.xShape.w;
    let batches = uniforms.xShape.x;
    let outH = uniforms.outShape.y;
    let outW = uniforms.outShape.z;
    let expanded = uniforms.expandedChannels;
    let expanded4 = (expanded + 3) / 4 * 4;
    let outC = uniforms.outChannels;
    let outC4 = (outC + 3) / 4 * 4;
    let filterBlocks = (outC + ${filters - 1}) / ${filters};
    let tilesW = (outW + ${tileW - 1}) / ${tileW};
    let spatialTile = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
    let z = i32(workgroupId.z);
    let filterBase = (z % filterBlocks) * ${filters};
    let batch = (z / filterBlocks) % batches;
    let split = z / (filterBlocks * batches);
    let oh0 = (spatialTile / tilesW) * ${tileH};
    let ow0 = (spatialTile % tilesW) * ${tileW};
    let ih0 = oh0 * ${sh} - uniforms.pads.x;
    let iw0 = ow0 * ${sw} - uniforms.pads.y;
    let tid = i32(localIndex);
    let pixelThread = tid % ${pixelThreads};
    let filterVec = (tid / ${pixelThreads}) * ${filterVecs};
    let filterOffset = filterBase + filterVec * 4;

    var acc = array<vec4<f32>, ${threadPixels * filterVecs}>();
    // A trip count uniform across the workgroup (barriers inside); splits
    // take interleaved chunks.
    let rounds = (expanded + ${chunk * splits - 1}) / ${chunk * splits};
    for (var r = 0; r < rounds; r++) {
      let m0 = (r * ${splits} + split) * ${chunk};
      ${
        staged
          ? `// The chunk's expansion weights [roundUp4(Cin)][chunk] (zero past M).
      for (var v = tid; v < ${inC4 * chunkVecs}; v += ${wg}) {
        let m = m0 + (v % ${chunkVecs}) * 4;
        let index = (uniforms.expandWOffset + (v / ${chunkVecs}) * expanded4 + min(m, expanded4 - 4)) / 4;
        wExp[v] = select(vec4<f32>(0.0), w[index], m < expanded);
      }
      for (var v = tid; v < ${k * k * chunkVecs}; v += ${wg}) {
        let m = m0 + (v % ${chunkVecs}) * 4;
        let index = (uniforms.dwWOffset + (v / ${chunkVecs}) * expanded4 + min(m, expanded4 - 4)) / 4;
        wDw[v] = select(vec4<f32>(0.0), w[index], m < expanded);
      }
      workgroupBarrier();`
          : ''
      }
      // 1. Expansion of the chunk for the block + halo. Weight rows are
      // padded to 4 input channels with zeros, so c + 1..3 need no checks.
      for (var u = tid; u < ${positionGroups * vecGroups}; u += ${wg}) {
        // Vectors cvg, cvg + ${vecGroups}, ...: neighbouring invocations read neighbouring weights.
        let cvg = u % ${vecGroups};
        let group = u / ${vecGroups};
        var sums = array<vec4<f32>, ${rp * rm}>();
        ${haloInputBases(rp, haloW, haloPositions)}
        // Channels past M compute garbage that is never stored (zero below).
        if (m0 + cvg * 4 < expanded) {
          ${
            staged
              ? `var wIndex = cvg;
          let wStep = ${chunkVecs};`
              : `var wIndex = (uniforms.expandWOffset + m0 + cvg * 4) / 4;
          let wStep = expanded4 / 4;`
          }
          for (var c = 0; c < inC; c += 4) {
            var wv : array<vec4<f32>, ${4 * rm}>;
            for (var r = 0; r < ${rm}; r++) {
              let at = wIndex + r * ${vecGroups};
              wv[4 * r] = ${wSrc}[at];
              wv[4 * r + 1] = ${wSrc}[at + wStep];
              wv[4 * r + 2] = ${wSrc}[at + 2 * wStep];
              wv[4 * r + 3] = ${wSrc}[at + 3 * wStep];
            }
            wIndex += 4 * wStep;
            for (var i = 0; i < ${rp}; i++) {
              if (base[i] >= 0) {
                let xv = xAt(base[i], c);
                for (var r = 0; r < ${rm}; r++) {
                  sums[i * ${rm} + r] = ${fma4('xv', (k) => `wv[4 * r + ${k}]`, `sums[i * ${rm} + r]`)};
                }
              }
            }
          }
        }
        for (var i = 0; i < ${rp}; i++) {
          let hp = group * ${rp} + i;
          if (hp < ${haloPositions}) {
            for (var r = 0; r < ${rm}; r++) {
              let cv = cvg + r * ${vecGroups};
              let m = m0 + cv * 4;
              var value = vec4<f32>(0.0);
              if (base[i] >= 0 && m < expanded) {
                value = expandEpilogue(sums[i * ${rm} + r], ih0 + hp / ${haloW}, iw0 + hp % ${haloW}, m);
              }
              expTile[hp * ${chunkVecs} + cv] = value;
            }
          }
        }
      }
      workgroupBarrier();

      // 2. Depthwise of the chunk for the block.
      for (var u = tid; u < ${dwRows * chunkVecs}; u += ${wg}) {
        let cv = u % ${chunkVecs};
        let p = u / ${chunkVecs};
        let th = p / ${tileW};
        let tw = p % ${tileW};
        let m = m0 + cv * 4;
        var value = vec4<f32>(0.0);
        if (th < ${tileH} && oh0 + th < outH && ow0 + tw < outW && m < expanded) {
          var sum = vec4<f32>(0.0);
          for (var kh = 0; kh < ${k}; kh++) {
            for (var kw = 0; kw < ${k}; kw++) {
              let hp = (th * ${sh} + kh) * ${haloW} + tw * ${sw} + kw;
              sum = fma(expTile[hp * ${chunkVecs} + cv], ${
                staged
                  ? `wDw[(kh * ${k} + kw) * ${chunkVecs} + cv]`
                  : `w[(uniforms.dwWOffset + (kh * ${k} + kw) * expanded4 + m) / 4]`
              }, sum);
            }
          }
          value = dwEpilogue(sum, oh0 + th, ow0 + tw, m);
        }
        dwTile[p * ${rowVecs} + cv] = value;
      }
      ${
        staged
          ? `// The chunk's projection weights [chunk][filters] (zero past M and Cout).
      for (var v = tid; v < ${chunk * filterVecsAll}; v += ${wg}) {
        let row = m0 + v / ${filterVecsAll};
        let f = filterBase + (v % ${filterVecsAll}) * 4;
        let index = (uniforms.projectWOffset + min(row, expanded4 - 1) * outC4 + min(f, outC4 - 4)) / 4;
        wProj[v] = select(vec4<f32>(0.0), w[index], row < expanded4 && f < outC4);
      }`
          : ''
      }
      workgroupBarrier();

      // 3. Projection of the chunk into the register tile. Rows past the
      // expanded channels do not exist in the packed buffer: skip them.
      for (var k4 = 0; k4 < ${chunkVecs}; k4++) {
        let row = m0 + k4 * 4;
        if (row < expanded) {
          var a : array<vec4<f32>, ${threadPixels}>;
          for (var i = 0; i < ${threadPixels}; i++) {
            a[i] = dwTile[(pixelThread + i * ${pixelThreads}) * ${rowVecs} + k4];
          }
          for (var s = 0; s < 4; s++) {
            let rowIndex = (uniforms.projectWOffset + (row + s) * outC4) / 4;
            var wv : array<vec4<f32>, ${filterVecs}>;
            for (var j = 0; j < ${filterVecs}; j++) {
              ${
                staged
                  ? `wv[j] = wProj[(k4 * 4 + s) * ${filterVecsAll} + filterVec + j];`
                  : `let f = filterOffset + j * 4;
              wv[j] = select(vec4<f32>(0.0), w[rowIndex + min(f, outC4 - 4) / 4], f < outC4);`
              }
            }
            for (var i = 0; i < ${threadPixels}; i++) {
              for (var j = 0; j < ${filterVecs}; j++) {
                acc[i * ${filterVecs} + j] = fma(vec4<f32>(a[i][s]), wv[j], acc[i * ${filterVecs} + j]);
              }
            }
          }
        }
      }
    }

    ${this.inline ? this.inlineReduceSnippet() : this.storeSnippet()}
  }
`;
  }

  /**
   * Visits the block outputs this invocation holds (pixel and filter inside
   * the output): `body` sees `i`, `j` (its accumulator), `oh`, `ow`, `f`.
   */
  private eachOutput(filterLimit: string, body: string): string {
    const { tileH, tileW, threadPixels, threadFilters } = this.config.tile;
    const pixelThreads = irPixelThreads(this.config.tile);
    return `
    for (var i = 0; i < ${threadPixels}; i++) {
      let p = pixelThread + i * ${pixelThreads};
      let oh = oh0 + p / ${tileW};
      let ow = ow0 + p % ${tileW};
      if (p < ${tileH * tileW} && oh < outH && ow < outW) {
        for (var j = 0; j < ${threadFilters / 4}; j++) {
          let f = filterOffset + j * 4;
          if (f < ${filterLimit}) {
            ${body}
          }
        }
      }
    }`;
  }

  /** Step 4 without the inline reduction: store the block, or this split's raw partial sums. */
  private storeSnippet(): string {
    const filterVecs = this.config.tile.threadFilters / 4;
    return this.splits > 1
      ? `// 4. Raw partial sums of this split.
    ${this.eachOutput(
      'outC4',
      `result[(((split * batches + batch) * outH + oh) * outW + ow) * outC4 / 4 + f / 4] = acc[i * ${filterVecs} + j];`,
    )}`
      : `// 4. Projection epilogue, residual, store.
    ${this.eachOutput('outC', `finish(acc[i * ${filterVecs} + j], batch, oh, ow, f);`)}`;
  }

  /**
   * Step 4 with the inline reduction (scratch layout: irScratchLayout).
   */
  private inlineReduceSnippet(): string {
    const { tile } = this.config;
    const { tileH, threadPixels, threadFilters } = tile;
    const filterVecs = threadFilters / 4;
    const splits = this.splits;
    const groupSize = irReduceGroupSize(splits);
    const groups = Math.ceil(splits / groupSize);
    const wg = this.workgroupSize[0];
    const slotVec4s = irSlotVec4s(tile);
    // Visits this invocation's accumulators; `at` is the accumulator's vec4 in a
    // slot, [accumulator][invocation], so a warp's stores and loads are contiguous.
    const eachAccumulator = (body: string) => `
      for (var i = 0; i < ${threadPixels}; i++) {
        for (var j = 0; j < ${filterVecs}; j++) {
          let at = (i * ${filterVecs} + j) * ${wg} + tid;
          ${body}
        }
      }`;
    // In split order, so the sum does not depend on scheduling.
    const sumSlots = (first: string, end: string) => `
      for (var a = 0; a < ${threadPixels * filterVecs}; a++) {
        acc[a] = vec4<f32>(0.0);
      }
      for (var s = ${first}; s < ${end}; s++) {
        let slot = blockSlots + s * ${slotVec4s};
        ${eachAccumulator(`acc[i * ${filterVecs} + j] += takeSlot(slot + at);`)}
      }`;
    const finishAll = this.eachOutput('outC', `finish(acc[i * ${filterVecs} + j], batch, oh, ow, f);`);
    return `
    // 4. Inline reduction of the splits: store this split's partial, count in;
    // the last of a group adds the group up, the last group finishes the block.
    let tilesH = (outH + ${tileH - 1}) / ${tileH};
    let block = (batch * filterBlocks + z % filterBlocks) * tilesH * tilesW + spatialTile;
    let blockCounters = block * ${groups + 1};
    let blockSlots = block * ${(splits + groups) * slotVec4s};
    let group = split / ${groupSize};
    let groupEnd = min(group * ${groupSize} + ${groupSize}, ${splits});
    ${eachAccumulator(`putSlot(blockSlots + split * ${slotVec4s} + at, acc[i * ${filterVecs} + j]);`)}
    storageBarrier();
    if (tid == 0) {
      let arrived = atomicAdd(&counters[blockCounters + group], 1u) + 1u;
      let last = arrived == u32(groupEnd - group * ${groupSize});
      if (last) {
        atomicStore(&counters[blockCounters + group], 0u);
      }
      lastOfGroup = select(0, 1, last);
    }
    if (workgroupUniformLoad(&lastOfGroup) == 1) {
      ${sumSlots(`group * ${groupSize}`, 'groupEnd')}
      ${
        groups === 1
          ? finishAll
          : `${eachAccumulator(`putSlot(blockSlots + (${splits} + group) * ${slotVec4s} + at, acc[i * ${filterVecs} + j]);`)}
      storageBarrier();
      if (tid == 0) {
        let arrived = atomicAdd(&counters[blockCounters + ${groups}], 1u) + 1u;
        let last = arrived == ${groups}u;
        if (last) {
          atomicStore(&counters[blockCounters + ${groups}], 0u);
        }
        lastOfAll = select(0, 1, last);
      }
      if (workgroupUniformLoad(&lastOfAll) == 1) {
        ${sumSlots(`${splits}`, `${splits + groups}`)}
        ${finishAll}
      }`
      }
    }`;
  }
}
