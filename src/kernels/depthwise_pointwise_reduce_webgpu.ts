/**
 * Second pass of a DW→PW tile split over workgroups: adds the raw partial
 * sums of the splits (in split order, so results do not depend on
 * scheduling), applies the pointwise bias and activation, and stores the
 * output. One invocation per output vec4. The split count is a uniform
 * (`splits`, first), so one program serves every split count.
 */

import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import {
  epilogueKey,
  epilogueUniforms,
  StageEpilogue,
  stageEpilogue,
  storeChannels4,
  vecWidth,
} from './wgsl';

const WORKGROUP_SIZE = 64;

export interface DepthwisePointwiseReduceConfig {
  /** [N, Ho, Wo, F]. */
  outputShape: number[];
  pw: StageEpilogue;
  maxWorkgroupsPerDimension: number;
}

export class DepthwisePointwiseReduceProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent: number;
  uniforms = `splits : i32, ${epilogueUniforms('pw')}`;
  workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  private readonly config: DepthwisePointwiseReduceConfig;
  private readonly aligned: boolean;

  constructor(config: DepthwisePointwiseReduceConfig) {
    this.config = config;
    const [n, ho, wo, f] = config.outputShape;
    this.outputShape = config.outputShape;
    this.aligned = f % 4 === 0;
    // The stage's bias and PReLU weights only: the filter was used by the first pass.
    this.variableNames = ['partials'];
    this.variableComponents = [4];
    if (config.pw.hasBias) {
      this.variableNames.push('pwBias');
      this.variableComponents.push(vecWidth(this.aligned));
    }
    if (config.pw.hasPreluWeights) {
      this.variableNames.push('pwAlpha');
      this.variableComponents.push(1);
    }
    this.outputComponent = vecWidth(this.aligned);
    const groups = Math.ceil((n * ho * wo * Math.ceil(f / 4)) / WORKGROUP_SIZE);
    const x = Math.min(groups, config.maxWorkgroupsPerDimension);
    this.dispatch = [x, Math.ceil(groups / x), 1];
    this.dispatchLayout = { x: [0, 1, 2, 3] };
    this.shaderKey = `dwPwReduce_${this.aligned}_${epilogueKey(config.pw)}`;
  }

  getUserCode(): string {
    return `
  ${stageEpilogue('pw', this.config.pw, 'uniforms.outShape.w', this.aligned)}

  fn main(index : i32) {
    let outH = uniforms.outShape.y;
    let outW = uniforms.outShape.z;
    let outC = uniforms.outShape.w;
    let vecs = (outC + 3) / 4;
    let pixels = uniforms.outShape.x * outH * outW;
    if (index < pixels * vecs) {
      let pixel = index / vecs;
      let f = (index % vecs) * 4;
      var sum = vec4<f32>(0.0);
      for (var s = 0; s < uniforms.splits; s++) {
        sum = sum + partials[(s * pixels + pixel) * vecs + f / 4];
      }
      let value = pwEpilogue(sum, (pixel / outW) % outH, pixel % outW, f);
      ${storeChannels4(this.aligned, 'pixel * outC + f', 'f', 'outC')}
    }
  }
`;
  }
}

/**
 * Runs the reduce pass over `partials` (the first pass's output, disposed
 * here) and returns the finished output: the split count goes first in the
 * uniforms, then the pointwise epilogue's (`epilogueUniformData`).
 */
export function reduceSplits(
  backend: WebGPUBackend,
  partials: TensorInfo,
  splits: number,
  config: DepthwisePointwiseReduceConfig,
  epilogueInputs: TensorInfo[],
  epilogueUniformValues: Array<{ type: 'int32' | 'float32'; data: number[] }>,
): TensorInfo {
  const result = backend.runWebGPUProgram(
    new DepthwisePointwiseReduceProgram(config),
    [partials, ...epilogueInputs],
    'float32',
    [{ type: 'int32', data: [splits] }, ...epilogueUniformValues],
  );
  backend.disposeData(partials.dataId);
  return result;
}
