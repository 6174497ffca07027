/**
 * The layers a fused LayersModel is made of: `FusedDepthwisePointwise` (a
 * depthwise k×k → pointwise 1x1 pair) and `FusedPointwiseDepthwise` (1x1 →
 * depthwise), each with folded weights (BatchNorm in the kernels and
 * biases, zero padding in the depthwise padding), an activation per stage
 * and an optional Keras activation after the pair. They run the same code
 * as the graph rewrite's fused ops: the fused kernel on `webgpu-fused`
 * (re-checked with the real shapes and device limits), stock ops elsewhere.
 *
 * Inference only: the weights are not trainable and calling a fused layer in
 * training mode throws. Registered with `tf.serialization.registerClass`, so
 * a fused model saves and loads like any LayersModel.
 */

import * as tf from '@tensorflow/tfjs-core';
import { LayerVariable, initializers, layers } from '@tensorflow/tfjs-layers';

import { DwPwPlanned, PwDwPlanned, runDwPw, runPwDw } from '../graph-rewrite/executors';
import { FUSED_ACTIVATIONS, FusedActivation, FusedPadding } from '../kernels/types';
import { FUSED_DW_PW_LAYER, FUSED_PW_DW_LAYER } from './layer_names';

type Shape = Array<number | null>;
type LayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]>;
type Pairs = [[number, number], [number, number], [number, number], [number, number]];
type Padding = 'same' | 'valid' | Pairs;
type Activation = ReturnType<typeof layers.activation>;

export type FusedConvPairArgs = LayerArgs & {
  /** Depthwise kernel [k, k]. */
  kernelSize: [number, number];
  /** Output channels of the pointwise conv. */
  filters: number;
  strides: [number, number];
  padding: FusedPadding;
  dwActivation?: FusedActivation;
  pwActivation?: FusedActivation;
  dwLeakyreluAlpha?: number;
  pwLeakyreluAlpha?: number;
  dwUseBias?: boolean;
  pwUseBias?: boolean;
  /** A Keras activation applied after the pair ('linear': none). */
  activation?: string;
  /** The planned tile of the fused kernel (checked again at run time). */
  tile?: Record<string, number>;
};

function fail(layer: string, message: string): never {
  throw new Error(`${layer}: ${message}`);
}

function checkActivation(layer: string, value: unknown): FusedActivation {
  const a = value ?? 'linear';
  if (!(FUSED_ACTIVATIONS as readonly unknown[]).includes(a))
    fail(layer, `unknown activation '${String(a)}'`);
  return a as FusedActivation;
}

function checkPadding(layer: string, p: unknown): Padding {
  if (p === 'same' || p === 'valid') return p;
  if (Number.isInteger(p) && (p as number) >= 0) {
    const v = p as number;
    return [
      [0, 0],
      [v, v],
      [v, v],
      [0, 0],
    ];
  }
  const ok =
    Array.isArray(p) &&
    p.length === 4 &&
    p.every((q) => Array.isArray(q) && q.length === 2 && q.every((v) => Number.isInteger(v) && v >= 0));
  if (!ok)
    fail(layer, `padding must be 'same', 'valid' or four [before, after] pairs, got ${JSON.stringify(p)}`);
  return p as Pairs;
}

const pairOf = (layer: string, what: string, v: unknown): [number, number] => {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => Number.isInteger(x) && x > 0)) {
    fail(layer, `${what} must be two positive integers, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
};

/** Output size of the depthwise along one axis (tfjs's conv arithmetic). */
function outSize(size: number | null, k: number, s: number, padding: Padding, axis: 1 | 2): number | null {
  if (size == null) return null;
  if (padding === 'same') return Math.ceil(size / s);
  if (padding === 'valid') return Math.ceil((size - k + 1) / s);
  const [before, after] = padding[axis];
  return Math.floor((size + before + after - k) / s) + 1;
}

abstract class FusedConvPair extends layers.Layer {
  readonly kernelSize: [number, number];
  readonly filters: number;
  readonly strides: [number, number];
  readonly padding: Padding;
  readonly dwActivation: FusedActivation;
  readonly pwActivation: FusedActivation;
  readonly dwLeakyreluAlpha: number;
  readonly pwLeakyreluAlpha: number;
  readonly dwUseBias: boolean;
  readonly pwUseBias: boolean;
  readonly activationName: string;
  readonly tile?: Record<string, number>;
  private readonly after?: Activation;
  private weightVars: Record<string, LayerVariable> = {};

  constructor(args: FusedConvPairArgs) {
    super({ ...args, trainable: false });
    const name = `${this.getClassName()} '${this.name}'`;
    if (args == null) fail(name, 'no arguments');
    this.kernelSize = pairOf(name, 'kernelSize', args.kernelSize);
    if (!Number.isInteger(args.filters) || args.filters <= 0)
      fail(name, `filters must be a positive integer`);
    this.filters = args.filters;
    this.strides = pairOf(name, 'strides', args.strides ?? [1, 1]);
    this.padding = checkPadding(name, args.padding ?? 'same');
    this.dwActivation = checkActivation(name, args.dwActivation);
    this.pwActivation = checkActivation(name, args.pwActivation);
    this.dwLeakyreluAlpha = args.dwLeakyreluAlpha ?? 0.2;
    this.pwLeakyreluAlpha = args.pwLeakyreluAlpha ?? 0.2;
    this.dwUseBias = args.dwUseBias ?? false;
    this.pwUseBias = args.pwUseBias ?? false;
    this.activationName = args.activation ?? 'linear';
    if (this.activationName !== 'linear')
      this.after = layers.activation({ activation: this.activationName as never });
    if (args.tile != null) this.tile = { ...args.tile };
  }

  /** Channels of the depthwise stage for an input with `inChannels` channels. */
  protected abstract dwChannels(inChannels: number): number;
  protected abstract outChannels(inChannels: number): number;
  protected abstract run(x: tf.Tensor4D): tf.Tensor4D;

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const channels = shape[shape.length - 1];
    if (shape.length !== 4 || channels == null) {
      fail(this.name, `needs an NHWC input with known channels, got [${shape.map(String)}]`);
    }
    const [k0, k1] = this.kernelSize;
    const dw = this.dwChannels(channels);
    const zeros = initializers.zeros();
    const add = (name: string, s: number[]) =>
      (this.weightVars[name] = this.addWeight(name, s, 'float32', zeros, undefined, false));
    add('dw_kernel', [k0, k1, dw, 1]);
    add('pw_kernel', this.pwKernelShape(channels));
    if (this.dwUseBias) add('dw_bias', [dw]);
    if (this.pwUseBias) add('pw_bias', [this.pwKernelShape(channels)[3]]);
    this.built = true;
  }

  /** The current values of the weights by role (x added by the caller). */
  protected roles(): Record<string, tf.Tensor | undefined> {
    const read = (name: string) => this.weightVars[name]?.read();
    return {
      dw_filter: read('dw_kernel'),
      pw_filter: read('pw_kernel'),
      dw_bias: read('dw_bias'),
      pw_bias: read('pw_bias'),
    };
  }

  protected abstract pwKernelShape(inChannels: number): [number, number, number, number];

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const [k0, k1] = this.kernelSize;
    const [s0, s1] = this.strides;
    return [
      shape[0],
      outSize(shape[1], k0, s0, this.padding, 1),
      outSize(shape[2], k1, s1, this.padding, 2),
      shape[3] == null ? this.filters : this.outChannels(shape[3]),
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    if (kwargs?.training === true) {
      fail(
        this.name,
        `${this.getClassName()} is inference-only (folded BatchNorm, frozen weights); ` +
          'train the original, unfused model (model.original) instead',
      );
    }
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (x.rank !== 4) fail(this.name, `needs a rank-4 NHWC input, got shape [${x.shape}]`);
      const y = this.run(x);
      return this.after != null ? (this.after.apply(y) as tf.Tensor) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      kernelSize: [...this.kernelSize],
      filters: this.filters,
      strides: [...this.strides],
      padding: typeof this.padding === 'string' ? this.padding : this.padding.map((p) => [...p]),
      dwActivation: this.dwActivation,
      pwActivation: this.pwActivation,
      dwLeakyreluAlpha: this.dwLeakyreluAlpha,
      pwLeakyreluAlpha: this.pwLeakyreluAlpha,
      dwUseBias: this.dwUseBias,
      pwUseBias: this.pwUseBias,
      activation: this.activationName,
      ...super.getConfig(),
    };
    if (this.tile != null) config.tile = { ...this.tile };
    return config;
  }
}

/** Depthwise k×k (+bias, activation) → pointwise 1x1 (+bias, activation) as one fused op. */
export class FusedDepthwisePointwise extends FusedConvPair {
  static className = FUSED_DW_PW_LAYER;

  protected dwChannels(inChannels: number): number {
    return inChannels;
  }

  protected outChannels(): number {
    return this.filters;
  }

  protected pwKernelShape(inChannels: number): [number, number, number, number] {
    return [1, 1, inChannels, this.filters];
  }

  protected run(x: tf.Tensor4D): tf.Tensor4D {
    const planned: DwPwPlanned = {
      strides: this.strides,
      pad: this.padding,
      dwActivation: this.dwActivation,
      dwLeakyreluAlpha: this.dwLeakyreluAlpha,
      pwActivation: this.pwActivation,
      pwLeakyreluAlpha: this.pwLeakyreluAlpha,
      tile: this.tile,
    };
    return runDwPw({ x, ...this.roles() }, planned, `${FUSED_DW_PW_LAYER} '${this.name}'`);
  }
}

/** Pointwise 1x1 (+bias, activation) → depthwise k×k (+bias, activation) as one fused op. */
export class FusedPointwiseDepthwise extends FusedConvPair {
  static className = FUSED_PW_DW_LAYER;

  protected dwChannels(): number {
    return this.filters;
  }

  protected outChannels(): number {
    return this.filters;
  }

  protected pwKernelShape(inChannels: number): [number, number, number, number] {
    return [1, 1, inChannels, this.filters];
  }

  protected run(x: tf.Tensor4D): tf.Tensor4D {
    const planned: PwDwPlanned = {
      strides: this.strides,
      pad: this.padding,
      pwActivation: this.pwActivation,
      pwLeakyreluAlpha: this.pwLeakyreluAlpha,
      dwActivation: this.dwActivation,
      dwLeakyreluAlpha: this.dwLeakyreluAlpha,
      tile: this.tile,
    };
    return runPwDw({ x, ...this.roles() }, planned, `${FUSED_PW_DW_LAYER} '${this.name}'`);
  }
}

/** Registers both fused layer classes for (de)serialization; idempotent. */
export function registerFusedLayers(): void {
  tf.serialization.registerClass(FusedDepthwisePointwise);
  tf.serialization.registerClass(FusedPointwiseDepthwise);
}
