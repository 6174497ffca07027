/**
 * Tile arithmetic of the PW→DW kernel: halo size, resource use, feasibility
 * on a device, and the default choice.
 */

import { BYTES_PER_FLOAT } from './depthwise_pointwise_tile';
import { KernelLimits, PwDwProblem, PwDwTile, Support } from './types';
import { workgroupFits } from './workgroup_limits';

/** Pointwise positions a tile needs: its outputs' receptive field. */
export function pwDwHalo(
  tile: PwDwTile,
  kernelSize: number,
  stride: number | [number, number],
): { height: number; width: number } {
  const [sh, sw] = typeof stride === 'number' ? [stride, stride] : stride;
  return {
    height: (tile.tileH - 1) * sh + kernelSize,
    width: (tile.tileW - 1) * sw + kernelSize,
  };
}

/** The pointwise tile + halo kept in workgroup memory: positions × channels floats. */
export function pwDwWorkgroupStorageBytes(
  tile: PwDwTile,
  kernelSize: number,
  stride: number | [number, number],
): number {
  const halo = pwDwHalo(tile, kernelSize, stride);
  return halo.height * halo.width * tile.channels * BYTES_PER_FLOAT;
}

export function pwDwWorkgroupCount(problem: PwDwProblem, tile: PwDwTile): number {
  return (
    problem.batch *
    Math.ceil(problem.outHeight / tile.tileH) *
    Math.ceil(problem.outWidth / tile.tileW) *
    Math.ceil(problem.channels / tile.channels)
  );
}

const isPositiveInt = (v: number) => Number.isInteger(v) && v > 0;

/** vec4 channel groups one invocation computes in the pointwise stage (default 1). */
export function pwDwThreadVecs(tile: PwDwTile): number {
  return (tile.threadChannels ?? 4) / 4;
}

export function pwDwTileFits(
  tile: PwDwTile,
  kernelSize: number,
  stride: number | [number, number],
  limits: KernelLimits,
): Support {
  const { tileH, tileW, channels, threadPositions, workgroupSize } = tile;
  if (![tileH, tileW, channels, threadPositions, workgroupSize].every(isPositiveInt)) {
    return { supported: false, reason: `tile parameters must be positive integers: ${JSON.stringify(tile)}` };
  }
  if (channels % 4 !== 0) {
    return { supported: false, reason: 'channels must be a multiple of 4' };
  }
  const threadChannels = tile.threadChannels ?? 4;
  if (!isPositiveInt(threadChannels) || threadChannels % 4 !== 0 || channels % threadChannels !== 0) {
    return { supported: false, reason: 'threadChannels must be a multiple of 4 that divides channels' };
  }
  return workgroupFits(workgroupSize, pwDwWorkgroupStorageBytes(tile, kernelSize, stride), limits);
}

/**
 * The tile to use without on-device tuning, from measurements on an H200
 * (bench/results/layers-*.json): 16-channel blocks, 4 positions per
 * invocation, 256 invocations, 7x7 outputs; 14x14 for batches of 8 or more
 * (fewer halo recomputes), 4x8 with 128 invocations for small maps at batch 1
 * (more workgroups). Shrunk until it fits the device.
 */
export function defaultPwDwTile(problem: PwDwProblem, limits: KernelLimits): PwDwTile {
  const smallSingle = problem.batch === 1 && problem.outHeight <= 14;
  const side = problem.batch >= 8 && problem.outHeight >= 14 && problem.stride === 1 ? 14 : 7;
  const tile: PwDwTile = smallSingle
    ? { tileH: 4, tileW: 8, channels: 16, threadPositions: 2, workgroupSize: 128 }
    : { tileH: side, tileW: side, channels: 16, threadPositions: 4, workgroupSize: 256 };
  tile.channels = Math.min(tile.channels, Math.ceil(problem.channels / 4) * 4);
  tile.workgroupSize = Math.min(tile.workgroupSize, limits.maxComputeInvocationsPerWorkgroup);
  const fits = () => pwDwTileFits(tile, problem.kernelSize, problem.stride, limits).supported;
  while (!fits() && (tile.tileH > 1 || tile.tileW > 1)) {
    if (tile.tileH >= tile.tileW) tile.tileH = Math.max(1, tile.tileH >> 1);
    else tile.tileW = Math.max(1, tile.tileW >> 1);
  }
  while (!fits() && tile.channels > 4) {
    tile.channels -= 4;
  }
  return tile;
}
