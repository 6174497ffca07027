/**
 * Synthetic graph models for the rewrite specs: model.json-like GraphDefs
 * built node by node with seeded random weights, as tfjs ModelArtifacts.
 */

import * as tf from '@tensorflow/tfjs-core';

import {
  AttrValueJson,
  NodeJson,
  attrFloat,
  attrInt,
  attrIntList,
  attrString,
  attrStringList,
} from '../../src/graph-rewrite/model_json';
import { Random } from '../helpers/random';

const DT_FLOAT = { type: 'DT_FLOAT' };

export interface ConvOptions {
  stride?: number;
  padding?: 'SAME' | 'VALID' | 'EXPLICIT';
  explicit?: number[];
  /** fused_ops of a Fused* node; absent = the plain op. */
  fused?: string[];
  dilation?: number;
  multiplier?: number;
  format?: 'NHWC' | 'NCHW';
  /** LeakyRelu alpha of a fused conv. */
  alpha?: number;
}

export class ModelBuilder {
  readonly nodes: NodeJson[] = [];
  private readonly specs: tf.io.WeightsManifestEntry[] = [];
  private readonly chunks: Uint8Array[] = [];
  readonly rng: Random;

  constructor(seed = 1) {
    this.rng = new Random(seed);
  }

  input(name: string, shape: number[]): string {
    this.nodes.push({
      name,
      op: 'Placeholder',
      attr: { dtype: DT_FLOAT, shape: { shape: { dim: shape.map((d) => ({ size: String(d) })) } } },
    });
    return name;
  }

  constant(
    name: string,
    values: ArrayLike<number>,
    shape: number[],
    dtype: 'float32' | 'int32' = 'float32',
  ): string {
    const data = dtype === 'float32' ? Float32Array.from(values) : Int32Array.from(values);
    this.nodes.push({
      name,
      op: 'Const',
      attr: {
        dtype: { type: dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32' },
        value: {
          tensor: {
            dtype: dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32',
            tensorShape: { dim: shape.map((d) => ({ size: String(d) })) },
          },
        },
      },
    });
    this.specs.push({ name, shape, dtype });
    this.chunks.push(new Uint8Array(data.buffer.slice(0)));
    return name;
  }

  random(name: string, shape: number[], lo = -1, hi = 1): string {
    return this.constant(
      name,
      this.rng.array(
        shape.reduce((a, b) => a * b, 1),
        lo,
        hi,
      ),
      shape,
    );
  }

  op(name: string, op: string, inputs: string[], attr: Record<string, AttrValueJson> = {}): string {
    this.nodes.push({ name, op, input: inputs, attr: { T: DT_FLOAT, ...attr } });
    return name;
  }

  private convAttrs(o: ConvOptions): Record<string, AttrValueJson> {
    const s = o.stride ?? 1;
    const d = o.dilation ?? 1;
    const nchw = o.format === 'NCHW';
    const attr: Record<string, AttrValueJson> = {
      strides: attrIntList(nchw ? [1, 1, s, s] : [1, s, s, 1]),
      dilations: attrIntList(nchw ? [1, 1, d, d] : [1, d, d, 1]),
      padding: attrString(o.padding ?? 'SAME'),
      data_format: attrString(o.format ?? 'NHWC'),
      explicit_paddings: o.explicit ? attrIntList(o.explicit) : { list: {} },
    };
    return attr;
  }

  /** A depthwise conv with a random k×k×C×mult filter; fused ops get their args (bias [C·m], prelu [C·m]). */
  dw(name: string, x: string, k: number, channels: number, o: ConvOptions = {}): string {
    const m = o.multiplier ?? 1;
    const filter = this.random(`${name}/w`, [k, k, channels, m], -0.5, 0.5);
    return this.conv(
      name,
      o.fused ? 'FusedDepthwiseConv2dNative' : 'DepthwiseConv2dNative',
      x,
      filter,
      channels * m,
      o,
    );
  }

  /** A 1x1 conv Cin→Cout. */
  pw(name: string, x: string, cin: number, cout: number, o: ConvOptions = {}): string {
    const s = 1 / Math.sqrt(cin);
    const filter = this.random(`${name}/w`, [1, 1, cin, cout], -s, s);
    return this.conv(name, o.fused ? '_FusedConv2D' : 'Conv2D', x, filter, cout, o);
  }

  private conv(name: string, op: string, x: string, filter: string, out: number, o: ConvOptions): string {
    const inputs = [x, filter];
    const attr = this.convAttrs(o);
    if (o.fused) {
      const lower = o.fused.map((f) => f.toLowerCase());
      if (lower[0] === 'biasadd') inputs.push(this.random(`${name}/b`, [out], -0.3, 0.3));
      if (lower[1] === 'prelu') inputs.push(this.random(`${name}/alpha`, [out], 0, 0.5));
      attr.fused_ops = attrStringList(o.fused);
      attr.num_args = attrInt(inputs.length - 2);
      attr.epsilon = attrFloat(0);
      if (o.alpha != null) attr.leakyrelu_alpha = attrFloat(o.alpha);
    }
    return this.op(name, op, inputs, attr);
  }

  /** A per-channel (shape [C] or given) random constant. */
  channelConst(name: string, channels: number, lo = -1, hi = 1, shape: number[] = [channels]): string {
    return this.random(name, shape, lo, hi);
  }

  /** An inference FusedBatchNormV3 on `x` with random per-channel gamma, beta, mean and variance. */
  batchNorm(name: string, x: string, channels: number): string {
    return this.op(
      name,
      'FusedBatchNormV3',
      [
        x,
        this.channelConst(`${name}/gamma`, channels, 0.5, 1.5),
        this.channelConst(`${name}/beta`, channels, -0.5, 0.5),
        this.channelConst(`${name}/mean`, channels, -0.2, 0.2),
        this.channelConst(`${name}/var`, channels, 0.5, 2),
      ],
      { epsilon: attrFloat(1e-3), data_format: attrString('NHWC'), is_training: { b: false } },
    );
  }

  scalar(name: string, value: number): string {
    return this.constant(name, [value], []);
  }

  pad(name: string, x: string, pads: number[], op: 'Pad' | 'PadV2' = 'Pad', value = 0): string {
    const paddings = this.constant(`${name}/paddings`, pads, [4, 2], 'int32');
    const inputs = [x, paddings];
    if (op === 'PadV2') inputs.push(this.scalar(`${name}/value`, value));
    return this.op(name, op, inputs, { Tpaddings: { type: 'DT_INT32' } });
  }

  /** ModelArtifacts with a signature naming `inputs` and `outputs`. */
  artifacts(inputs: string[], outputs: string[]): tf.io.ModelArtifacts {
    const total = this.chunks.reduce((n, c) => n + c.byteLength, 0);
    const data = new Uint8Array(total);
    let offset = 0;
    for (const c of this.chunks) {
      data.set(c, offset);
      offset += c.byteLength;
    }
    const entry = (name: string) => [`${name}:0`, { name: `${name}:0`, dtype: 'DT_FLOAT' }];
    return {
      format: 'graph-model',
      modelTopology: { node: this.nodes.map((n) => ({ ...n })), versions: { producer: 1 } },
      weightSpecs: this.specs.map((s) => ({ ...s })),
      weightData: data.buffer,
      signature: {
        inputs: Object.fromEntries(inputs.map(entry)),
        outputs: Object.fromEntries(outputs.map(entry)),
      },
    };
  }
}

/** A deterministic smooth image in [0, 1] (as scripts/check-models.mjs uses). */
export function smoothImage(shape: number[]): Float32Array {
  const [n, h, w, c] = shape;
  const data = new Float32Array(n * h * w * c);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++)
          data[i++] = 0.5 + 0.25 * Math.sin((y / h) * 6.1 + k) + 0.2 * Math.cos((x / w) * 4.3 - 0.7 * k + b);
  return data;
}

export const leakyAttr = (alpha: number): Record<string, AttrValueJson> => ({ alpha: attrFloat(alpha) });
