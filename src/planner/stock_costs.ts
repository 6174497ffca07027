/**
 * Costs of the stock tfjs-backend-webgpu 4.22 kernels a fusion replaces,
 * modelled on the programs they dispatch (one dispatch each):
 * - depthwise: DepthwiseConv2DVec4Program (64 invocations × 4 columns ×
 *   4 channels) when C % 4 = 0, Ho, Wo > 4 and s ≤ 2, else
 *   DepthwiseConv2DProgram (256 invocations, one output each);
 * - pointwise: conv2dByMatMul → MatMulPackedProgram, 32×32 output tiles
 *   over [N, H·W] × Cout, 64 invocations of 4×4 outputs. The small-output
 *   and split-K variants it picks for tiny problems are not modelled: those
 *   sit at the dispatch-overhead floor either way.
 */

import { BYTES_PER_ELEMENT as B, DwLayerShape, PwLayerShape } from './layer_shapes';
import {
  dwFlops,
  dwInputElements,
  dwOutputElements,
  dwWeightElements,
  pwFlops,
  pwInputElements,
  pwOutputElements,
  pwWeightElements,
} from './layer_shapes';
import {
  defaultPointwiseTile,
  pointwiseBeatsStock,
  pwInvocations,
  pwSplits,
  TFJS_MATMUL_TILE,
} from '../kernels/pointwise_tile';
import { DeviceProfile } from './device_profile';
import { totalRunFootprint } from './footprint';
import { KernelCost, loopEfficiency } from './kernel_cost';

/** How the stock depthwise program splits the output over workgroups. */
export function stockDepthwiseLayout(d: DwLayerShape): {
  pixelsPerWorkgroup: number;
  workgroups: number;
  invocations: number;
} {
  const vec4 = d.channels % 4 === 0 && d.outHeight > 4 && d.outWidth > 4 && d.stride <= 2;
  if (vec4) {
    // Flat over [N, Ho, ⌈Wo/4⌉, C/4], channel groups fastest.
    const channelGroups = d.channels / 4;
    const columnGroupsPerWorkgroup = Math.max(1, Math.floor(64 / channelGroups));
    const items = d.batch * d.outHeight * Math.ceil(d.outWidth / 4) * channelGroups;
    return {
      pixelsPerWorkgroup: 4 * columnGroupsPerWorkgroup,
      workgroups: Math.ceil(items / 64),
      invocations: 64,
    };
  }
  return {
    pixelsPerWorkgroup: Math.max(1, Math.floor(256 / d.channels)),
    workgroups: Math.ceil(dwOutputElements(d) / 256),
    invocations: 256,
  };
}

/**
 * The vec4 program slides a window of 4 outputs × 4 channels along a row:
 * per filter row (3s + k) input and k weight vec4 loads for 4·k·4
 * multiply-adds. The generic one loads an input and a weight per multiply-add.
 */
function stockDepthwiseEfficiency(d: DwLayerShape, vec4: boolean): number {
  const k = d.kernelSize;
  return vec4 ? loopEfficiency(16 * k, 3 * d.stride + k + k) : loopEfficiency(1, 2);
}

export function stockDepthwiseCost(d: DwLayerShape): KernelCost {
  const { pixelsPerWorkgroup, workgroups, invocations } = stockDepthwiseLayout(d);
  const xReads = totalRunFootprint(d, pixelsPerWorkgroup) * d.channels;
  const xCompulsory = Math.min(xReads, dwInputElements(d));
  // Each workgroup loads the k² weights of the (at most 256) channels it covers.
  const weightReads = workgroups * d.kernelSize * d.kernelSize * Math.min(d.channels, 256);
  const weightCompulsory = Math.min(weightReads, dwWeightElements(d));
  return {
    kernel: 'dw (stock)',
    compulsoryBytes: (xCompulsory + weightCompulsory + dwOutputElements(d)) * B,
    rereadBytes: (xReads - xCompulsory + weightReads - weightCompulsory) * B,
    flops: dwFlops(d),
    redundantFlops: 0,
    computeEfficiency: stockDepthwiseEfficiency(d, invocations === 64),
    workgroups,
    invocationsPerWorkgroup: invocations,
    dispatches: 1,
  };
}

/**
 * A 1x1 layer run as a matrix product tiled `pixelTile` output pixels ×
 * `filterTile` filters (`pixelTiles` pixel tiles in all): each tile reads its
 * pixels of x and its columns of W over all of Cin. With `splits` > 1 the
 * input channels are divided among that many workgroups per tile, whose raw
 * partial sums a reduce pass (a second dispatch) reads back.
 */
function tiledPointwiseCost(
  p: PwLayerShape,
  t: {
    kernel: string;
    pixelTiles: number;
    pixelTile: number;
    filterTile: number;
    splits: number;
    invocations: number;
    computeEfficiency: number;
  },
): KernelCost {
  const filterTiles = Math.ceil(p.outChannels / t.filterTile);
  const xReads = filterTiles * pwInputElements(p);
  const weightReads = t.pixelTiles * pwWeightElements(p);
  const partials = t.splits > 1 ? 2 * t.splits * pwOutputElements(p) : 0;
  const paddedOutputs = t.pixelTiles * t.pixelTile * filterTiles * t.filterTile;
  return {
    kernel: t.kernel,
    compulsoryBytes: (pwInputElements(p) + pwWeightElements(p) + pwOutputElements(p)) * B,
    rereadBytes: (xReads - pwInputElements(p) + weightReads - pwWeightElements(p) + partials) * B,
    flops: pwFlops(p),
    redundantFlops: 2 * p.inChannels * (paddedOutputs - pwOutputElements(p)),
    computeEfficiency: t.computeEfficiency,
    workgroups: t.pixelTiles * filterTiles * t.splits,
    invocationsPerWorkgroup: t.invocations,
    dispatches: t.splits > 1 ? 2 : 1,
  };
}

/** tfjs's matmul: 32×32 output tiles per image, 64 invocations. */
export function stockPointwiseCost(p: PwLayerShape): KernelCost {
  return tiledPointwiseCost(p, {
    kernel: 'pw (stock matmul)',
    pixelTiles: p.batch * Math.ceil((p.height * p.width) / TFJS_MATMUL_TILE),
    pixelTile: TFJS_MATMUL_TILE,
    filterTile: TFJS_MATMUL_TILE,
    splits: 1,
    invocations: 64,
    computeEfficiency: 1,
  });
}

/**
 * The stock elementwise Add of a residual connection (BinaryOpProgram,
 * vec4, 128 invocations per workgroup): reads both operands, writes the sum.
 */
export function stockAddCost(elements: number): KernelCost {
  const vec4s = Math.ceil(elements / 4);
  return {
    kernel: 'add (stock)',
    compulsoryBytes: 3 * elements * B,
    rereadBytes: 0,
    flops: elements,
    redundantFlops: 0,
    computeEfficiency: loopEfficiency(4, 2),
    workgroups: Math.ceil(vec4s / 128),
    invocationsPerWorkgroup: 128,
    dispatches: 1,
  };
}

/**
 * A pointwise layer as `webgpu-fused` runs it outside a fusion: with its own
 * pointwise program where that beats tfjs's matmul (kernels/pointwise_tile.ts
 * decides, from the shape), else with tfjs's matmul.
 */
export function unfusedPointwiseCost(p: PwLayerShape, profile: DeviceProfile): KernelCost {
  const problem = {
    pixels: p.batch * p.height * p.width,
    inChannels: p.inChannels,
    outChannels: p.outChannels,
  };
  if (!pointwiseBeatsStock(problem)) return stockPointwiseCost(p);
  const tile = defaultPointwiseTile(problem, profile.limits);
  return tiledPointwiseCost(p, {
    kernel: 'pw (pointwise program)',
    pixelTiles: Math.ceil(problem.pixels / tile.pixels),
    pixelTile: tile.pixels,
    filterTile: tile.filters,
    splits: pwSplits(tile),
    invocations: pwInvocations(tile),
    computeEfficiency: profile.pointwiseEfficiency ?? 1,
  });
}
