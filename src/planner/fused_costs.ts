/**
 * Costs of one dispatch of the fused kernels for given tile parameters: the
 * paper's global-memory-access algebra in bytes, with its bugs fixed (DW
 * stride honoured, DW halo counted per channel and exactly, the DW→PW halo
 * counted at all) and the recomputation tiling causes counted as FLOPs.
 */

import {
  dwPwInvocations,
  dwPwPartialsBytes,
  dwPwSplits,
  dwPwWorkgroupCount,
  dwPwWorkgroupSplits,
} from '../kernels/depthwise_pointwise_tile';
import {
  irExpandVecs,
  irInlineReduce,
  irInvocations,
  irSpatialTiles,
  irSplits,
  irWorkgroupCount,
} from '../kernels/inverted_residual_tile';
import { pwDwHalo, pwDwWorkgroupCount } from '../kernels/pointwise_depthwise_tile';
import { DwPwProblem, DwPwTile, IrProblem, IrTile, PwDwProblem, PwDwTile } from '../kernels/types';
import { totalRunFootprint, tiledHaloPositions } from './footprint';
import { KernelCost, blendedEfficiency, laneUtilization, loopEfficiency } from './kernel_cost';
import {
  BYTES_PER_ELEMENT as B,
  dwFlops,
  dwInputElements,
  dwLayerOfDwPw,
  dwLayerOfIr,
  dwLayerOfPwDw,
  pwFlops,
  pwInputElements,
  pwLayerOfDwPw,
  pwLayerOfPwDw,
  pwOutputElements,
  projectLayerOfIr,
  expandLayerOfIr,
} from './layer_shapes';

/** Both fused depthwise stages load an input and a weight vec4 per tap (4 multiply-adds). */
const DEPTHWISE_TAP_EFFICIENCY = loopEfficiency(4, 2);

/**
 * How much slower than the model's depthwise stage a DW→PW kernel's repeated
 * depthwise stages run (one per extra block of filters). Timing the kernel
 * with its pointwise product dropped on an H100 (97²x96→96, 49²x192→192 and
 * 14²x816→136 at batch 8) gave 3.4–4.5× the time of stock tfjs's whole
 * depthwise kernel (stores included): the stage waits on its loads. The
 * first stage is absorbed by the profile's calibration; repeats add it again.
 * Fitted with the profile's DW→PW calibration on the planner benchmark's
 * decisions (bench/planner/calibration_fit.ts --decisions on
 * planner-2026-11-26-h100-v9 and -v10-hs-bf): it turns PoseNet's 193²x48
 * s2→96 site (3 filter blocks, 0.67× of stock) into a predicted loss while
 * HandSkeleton's 2²–16² maps (6 blocks, 1.3–2.3×) stay predicted wins.
 */
const REPEATED_DEPTHWISE_SLOWDOWN = 3.5;

/**
 * How much slower the DW→PW kernel's depthwise stage runs at stride 2 than
 * the model's depthwise stage: each output reads a window twice as wide,
 * and the sites measured slower than predicted by about the same factor at
 * every size (planner-2026-11-26-h100-v15*.json: measured / predicted
 * 0.61–0.86 at stride 2; PoseNet's 193²x48 s2→96 at batch 8 predicted
 * 1.22×, measured 0.84×). Fitted with the profile's DW→PW calibration on
 * the planner benchmark's decisions (bench/planner/calibration_fit.ts
 * --decisions on planner-2026-11-26-h100-v15 and -v15-posenet-b8-b32):
 * no chosen fusion measured slower, regret 0–2.2 % per model and batch
 * (1.5 % with a losing PoseNet fusion at batch 8 before); over the
 * measured sites of v9, v10-hs-bf, v13 and v15 the RMS log error of the
 * predicted speedups fell from 0.30–0.39 to 0.23–0.32.
 */
const STRIDED_DEPTHWISE_SLOWDOWN = 4;

/**
 * DW→PW: a workgroup owns `pixels` consecutive output pixels × `filters`
 * output channels and walks the C input channels in chunks. Per workgroup:
 * the distinct x positions its pixels' windows touch × C, all k²·C depthwise
 * weights, the C × filters pointwise block. Splitting F over
 * ⌈F/filters⌉ workgroups repeats the depthwise work and its x reads;
 * splitting C over `workgroupSplits` workgroups repeats nothing but writes
 * partial sums that a second dispatch reads back (through the L2, so as
 * re-reads).
 */
export function dwPwFusedCost(problem: DwPwProblem, tile: DwPwTile): KernelCost {
  const d = dwLayerOfDwPw(problem);
  const p = pwLayerOfDwPw(problem);
  const k2 = d.kernelSize * d.kernelSize;
  const pixels = problem.batch * problem.outHeight * problem.outWidth;
  const pixelTiles = Math.ceil(pixels / tile.pixels);
  const filterBlocks = Math.ceil(problem.outChannels / tile.filters);
  const workgroups = dwPwWorkgroupCount(problem, tile);

  const xReads = filterBlocks * totalRunFootprint(d, tile.pixels) * problem.channels;
  const xCompulsory = Math.min(xReads, dwInputElements(d));
  // Each workgroup reads its splits' share of the depthwise weights.
  const dwWeightReads = (workgroups / dwPwWorkgroupSplits(tile)) * k2 * problem.channels;
  const partials = dwPwWorkgroupSplits(tile) > 1 ? (2 * dwPwPartialsBytes(problem, tile)) / B : 0;
  const pwWeightReads = pixelTiles * problem.channels * problem.outChannels;
  const dwWeights = k2 * problem.channels;
  const pwWeights = problem.channels * problem.outChannels;

  // Every workgroup computes its full tile, padding included.
  const computedPixels = pixelTiles * tile.pixels;
  // One depthwise stage over the tile's pixels; each block of filters runs its own.
  const dwStageFlops = 2 * k2 * problem.channels * computedPixels;
  const dwComputed = dwStageFlops * filterBlocks;
  const pwComputed = 2 * problem.channels * computedPixels * filterBlocks * tile.filters;
  const flops = dwFlops(d) + pwFlops(p);
  const dwStageEfficiency =
    (problem.stride > 1 ? 1 / STRIDED_DEPTHWISE_SLOWDOWN : 1) *
    DEPTHWISE_TAP_EFFICIENCY *
    laneUtilization((tile.pixels * tile.channelChunk * dwPwSplits(tile)) / 4, dwPwInvocations(tile));
  return {
    kernel: 'dw→pw (fused)',
    compulsoryBytes: (xCompulsory + dwWeights + pwWeights + pwOutputElements(p)) * B,
    rereadBytes:
      (xReads - xCompulsory + dwWeightReads - dwWeights + pwWeightReads - pwWeights + partials) * B,
    flops,
    redundantFlops: Math.max(0, dwComputed + pwComputed - flops),
    computeEfficiency: blendedEfficiency([
      // Depthwise stage: pixels × channelChunk/4 vec4 outputs per slice of
      // invocations (channelSplits slices take chunks side by side). Each
      // block of filters repeats it; the repeats are costed slower (below).
      {
        flops: dwStageFlops,
        efficiency: dwStageEfficiency,
      },
      {
        flops: dwStageFlops * (filterBlocks - 1),
        efficiency: dwStageEfficiency / REPEATED_DEPTHWISE_SLOWDOWN,
      },
      // Per channel: threadPixels scalar loads from workgroup memory and
      // threadFilters/4 vec4 weight loads for threadPixels·threadFilters multiply-adds.
      {
        flops: pwComputed,
        efficiency: loopEfficiency(
          tile.threadPixels * tile.threadFilters,
          tile.threadPixels + tile.threadFilters / 4,
        ),
      },
    ]),
    workgroups,
    invocationsPerWorkgroup: dwPwInvocations(tile),
    dispatches: dwPwWorkgroupSplits(tile) > 1 ? 2 : 1,
    fused: 'dwpw',
  };
}

/**
 * PW→DW: a workgroup owns tileH×tileW depthwise outputs × `channels`
 * expanded channels. It computes the pointwise result on the tile's halo,
 * clipped to the image, reading x there over all Cin plus the Cin × channels
 * weights; overlapping halos are recomputed (redundant FLOPs) and re-read.
 */
export function pwDwFusedCost(problem: PwDwProblem, tile: PwDwTile): KernelCost {
  const d = dwLayerOfPwDw(problem);
  const p = pwLayerOfPwDw(problem);
  const k2 = d.kernelSize * d.kernelSize;
  const spatialTiles =
    problem.batch * Math.ceil(problem.outHeight / tile.tileH) * Math.ceil(problem.outWidth / tile.tileW);
  const channelBlocks = Math.ceil(problem.channels / tile.channels);
  const workgroups = pwDwWorkgroupCount(problem, tile);
  const haloPositions = tiledHaloPositions(d, tile.tileH, tile.tileW);

  const xReads = channelBlocks * haloPositions * problem.inChannels;
  const xCompulsory = Math.min(xReads, pwInputElements(p));
  const pwWeights = problem.inChannels * problem.channels;
  const dwWeights = k2 * problem.channels;
  const outputs = problem.batch * problem.outHeight * problem.outWidth * problem.channels;

  const pwComputed = 2 * problem.inChannels * haloPositions * channelBlocks * tile.channels;
  const dwComputed = 2 * k2 * spatialTiles * tile.tileH * tile.tileW * channelBlocks * tile.channels;
  const flops = pwFlops(p) + dwFlops(d);

  // Pointwise stage: each invocation takes `threadPositions` halo positions × 4 channels.
  const halo = pwDwHalo(tile, problem.kernelSize, problem.stride);
  const pwItems = Math.ceil((halo.height * halo.width) / tile.threadPositions) * (tile.channels / 4);
  return {
    kernel: 'pw→dw (fused)',
    compulsoryBytes: (xCompulsory + pwWeights + dwWeights + outputs) * B,
    rereadBytes: (xReads - xCompulsory + (spatialTiles - 1) * pwWeights + (spatialTiles - 1) * dwWeights) * B,
    flops,
    redundantFlops: Math.max(0, pwComputed + dwComputed - flops),
    computeEfficiency: blendedEfficiency([
      // Per 4 input channels: 4 weight and threadPositions input vec4 loads
      // for threadPositions·16 multiply-adds.
      {
        flops: pwComputed,
        efficiency:
          loopEfficiency(16 * tile.threadPositions, 4 + tile.threadPositions) *
          laneUtilization(pwItems, tile.workgroupSize),
      },
      // Depthwise stage: tileH × tileW × channels/4 vec4 outputs over the invocations.
      {
        flops: dwComputed,
        efficiency:
          DEPTHWISE_TAP_EFFICIENCY *
          laneUtilization((tile.tileH * tile.tileW * tile.channels) / 4, tile.workgroupSize),
      },
    ]),
    workgroups,
    invocationsPerWorkgroup: tile.workgroupSize,
    dispatches: 1,
    fused: 'pwdw',
  };
}

/**
 * PW→DW→PW (a whole inverted-residual block, optionally + its residual): a
 * workgroup owns tileH×tileW outputs of one image × `filters` output
 * channels and, of the expanded channels, the share of one split. Per
 * workgroup: x over the block's halo (clipped to the image) × Cin, its
 * share of the expansion and depthwise weights, its share × filters of the
 * projection weights. Halo positions are expanded once per filter block and
 * split (redundant FLOPs where halos overlap). With splits > 1 each
 * workgroup writes a partial projection that is read back once (through
 * the L2, so as re-reads), and the 'pass' reduction adds a dispatch.
 */
export function irFusedCost(problem: IrProblem, tile: IrTile, residual = false): KernelCost {
  const d = dwLayerOfIr(problem);
  const expand = expandLayerOfIr(problem);
  const project = projectLayerOfIr(problem);
  const k2 = d.kernelSize * d.kernelSize;
  const splits = irSplits(tile);
  const filterBlocks = Math.ceil(problem.outChannels / tile.filters);
  const spatialTiles = problem.batch * irSpatialTiles(problem, tile);
  const outputPixels = spatialTiles * tile.tileH * tile.tileW;
  const workgroups = irWorkgroupCount(problem, tile);
  const haloPositions = tiledHaloPositions(d, tile.tileH, tile.tileW);

  const xReads = filterBlocks * splits * haloPositions * problem.inChannels;
  const xCompulsory = Math.min(xReads, pwInputElements(expand));
  const expandWeights = problem.inChannels * problem.expandedChannels;
  const dwWeights = k2 * problem.expandedChannels;
  const projectWeights = problem.expandedChannels * problem.outChannels;
  const weightReads = spatialTiles * (filterBlocks * (expandWeights + dwWeights) + projectWeights);
  const weights = expandWeights + dwWeights + projectWeights;
  const outputs = pwOutputElements(project);
  // Partial projections go out and back once; the inline reduction moves
  // them as single-word atomics (four transactions per vec4), the pass as vec4s.
  const partials =
    splits > 1 ? 2 * splits * outputPixels * filterBlocks * tile.filters * (irInlineReduce(tile) ? 4 : 1) : 0;

  const m = problem.expandedChannels;
  const expandComputed = 2 * problem.inChannels * m * haloPositions * filterBlocks;
  const dwComputed = 2 * k2 * m * outputPixels * filterBlocks;
  const projectComputed = 2 * m * outputPixels * filterBlocks * tile.filters;
  const flops = pwFlops(expand) + dwFlops(d) + pwFlops(project);
  const invocations = irInvocations(tile);
  const positions = tile.expandPositions;
  const vecs = irExpandVecs(tile);
  return {
    kernel: 'pw→dw→pw (fused)',
    compulsoryBytes: (xCompulsory + weights + outputs + (residual ? outputs : 0)) * B,
    rereadBytes: (xReads - xCompulsory + weightReads - weights + partials) * B,
    flops,
    redundantFlops: Math.max(0, expandComputed + dwComputed + projectComputed - flops),
    computeEfficiency: blendedEfficiency([
      // Per 4 input channels: `positions` input and 4·`vecs` weight vec4 loads
      // for positions·vecs·16 multiply-adds, over the halo's items.
      {
        flops: expandComputed,
        efficiency:
          loopEfficiency(16 * positions * vecs, positions + 4 * vecs) *
          laneUtilization(
            Math.ceil(haloPositions / (problem.batch * irSpatialTiles(problem, tile)) / positions) *
              Math.ceil(tile.chunk / (4 * vecs)),
            invocations,
          ),
      },
      {
        flops: dwComputed,
        efficiency:
          DEPTHWISE_TAP_EFFICIENCY * laneUtilization((tile.tileH * tile.tileW * tile.chunk) / 4, invocations),
      },
      // Per 4 expanded channels: threadPixels depthwise and threadFilters
      // weight vec4 loads for threadPixels·threadFilters·4 multiply-adds.
      {
        flops: projectComputed,
        efficiency: loopEfficiency(
          4 * tile.threadPixels * tile.threadFilters,
          tile.threadPixels + tile.threadFilters,
        ),
      },
    ]),
    workgroups,
    invocationsPerWorkgroup: invocations,
    dispatches: splits > 1 && !irInlineReduce(tile) ? 2 : 1,
    fused: 'pwdwpw',
  };
}
