/**
 * Second pass of a split inverted-residual block: adds the partial
 * projections of the splits (in split order, so results do not depend on
 * scheduling), applies the projection epilogue and the residual, and stores
 * the block output. One invocation per output vec4.
 */

import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import { finishSnippet, INVERTED_RESIDUAL_UNIFORMS } from './inverted_residual_webgpu';
import { channelLoad4, epilogueKey, packedScalarLoad, StageEpilogue, stageEpilogue, vecWidth } from './wgsl';

const WORKGROUP_SIZE = 64;

export interface InvertedResidualReduceConfig {
  /** [N, Ho, Wo, Cout]. */
  outputShape: number[];
  inChannels: number;
  splits: number;
  project: StageEpilogue;
  residual: boolean;
  maxWorkgroupsPerDimension: number;
}

export class InvertedResidualReduceProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent: number;
  uniforms = INVERTED_RESIDUAL_UNIFORMS;
  workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  private readonly config: InvertedResidualReduceConfig;
  private readonly outAligned: boolean;
  private readonly inAligned: boolean;
  readonly readsWeights: boolean;

  constructor(config: InvertedResidualReduceConfig) {
    this.config = config;
    const [n, ho, wo, outC] = config.outputShape;
    this.outputShape = config.outputShape;
    this.outAligned = outC % 4 === 0;
    this.inAligned = config.inChannels % 4 === 0;
    // Every bound buffer must be read: the packed weights only for a
    // projection bias or PReLU weights, the block input only for the residual.
    this.readsWeights = config.project.hasBias || config.project.hasPreluWeights;
    this.variableNames = ['partials'];
    this.variableComponents = [4];
    if (this.readsWeights) {
      this.variableNames.push('w');
      this.variableComponents.push(4);
    }
    if (config.residual) {
      this.variableNames.push('x');
      this.variableComponents.push(vecWidth(this.inAligned));
    }
    this.outputComponent = vecWidth(this.outAligned);
    const groups = Math.ceil((n * ho * wo * Math.ceil(outC / 4)) / WORKGROUP_SIZE);
    const x = Math.min(groups, config.maxWorkgroupsPerDimension);
    this.dispatch = [x, Math.ceil(groups / x), 1];
    this.dispatchLayout = { x: [0, 1, 2, 3] };
    this.shaderKey =
      `invResReduce_${config.splits}_${this.outAligned}_${this.inAligned}_${config.residual}_` +
      epilogueKey(config.project);
  }

  getUserCode(): string {
    const { splits, project, residual } = this.config;
    return `
  ${residual ? channelLoad4('xAt', 'x', this.inAligned, 'uniforms.xShape.w') : ''}
  ${this.readsWeights ? packedScalarLoad('w') : ''}
  ${stageEpilogue('project', project, 'uniforms.outChannels', true, 'w')}
  ${finishSnippet(residual, this.outAligned)}

  fn main(index : i32) {
    let outH = uniforms.outShape.y;
    let outW = uniforms.outShape.z;
    let vecs = (uniforms.outChannels + 3) / 4;
    let pixels = uniforms.outShape.x * outH * outW;
    if (index < pixels * vecs) {
      let pixel = index / vecs;
      let f = (index % vecs) * 4;
      var sum = vec4<f32>(0.0);
      for (var s = 0; s < ${splits}; s++) {
        sum = sum + partials[(s * pixels + pixel) * vecs + f / 4];
      }
      finish(sum, pixel / (outH * outW), (pixel / outW) % outH, pixel % outW, f);
    }
  }
`;
  }
}
