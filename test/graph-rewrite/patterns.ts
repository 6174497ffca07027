/**
 * The synthetic graphs of the rewrite specs: one per supported pattern and
 * one per negative case, each with what the rewrite must report.
 */

import * as tf from '@tensorflow/tfjs-core';

import { attrString } from '../../src/graph-rewrite/model_json';
import { leakyAttr, ModelBuilder } from './model_builder';

export interface PatternCase {
  name: string;
  artifacts: tf.io.ModelArtifacts;
  inputShape: number[];
  /** Outputs compared between the original and rewritten model. */
  outputs: string[];
  /** Sites the rewrite must fuse (plan 'all'), by kind. */
  fused: { dwpw: number; pwdw: number };
  /** Sites found, by kind (default: = fused). */
  found?: { dwpw: number; pwdw: number };
  /** A fold note or reason that must appear in the report. */
  expectText?: RegExp;
  /** Nodes the (single) fused site must have replaced. */
  replaces?: string[];
}

const C = 8;
const F = 12;
const SHAPE = [1, 9, 9, C];

/** x → dw → [between] → pw → Identity; `between` gets the dw output and returns the pw input. */
function dwThenPw(
  name: string,
  between: (b: ModelBuilder, t: string) => string,
  opts: {
    dwFused?: string[];
    pwFused?: string[];
    stride?: number;
    padding?: 'SAME' | 'VALID';
    k?: number;
  } = {},
  extra: Partial<PatternCase> = {},
): PatternCase {
  const b = new ModelBuilder(name.length);
  const x = b.input('x', SHAPE);
  const d = b.dw('dw', x, opts.k ?? 3, C, {
    fused: opts.dwFused,
    stride: opts.stride,
    padding: opts.padding,
  });
  const p = b.pw('pw', between(b, d), C, F, { fused: opts.pwFused });
  b.op('out', 'Identity', [p]);
  return {
    name,
    artifacts: b.artifacts(['x'], ['out']),
    inputShape: SHAPE,
    outputs: ['out', 'pw'],
    fused: { dwpw: 1, pwdw: 0 },
    ...extra,
  };
}

/** An activation subgraph on t. */
type Act = (b: ModelBuilder, t: string) => string;

const ACTIVATIONS: Array<[string, Act]> = [
  ['Relu', (b, t) => b.op('act', 'Relu', [t])],
  ['Relu6', (b, t) => b.op('act', 'Relu6', [t])],
  ['Elu', (b, t) => b.op('act', 'Elu', [t])],
  ['Sigmoid', (b, t) => b.op('act', 'Sigmoid', [t])],
  ['LeakyRelu(0.15)', (b, t) => b.op('act', 'LeakyRelu', [t], leakyAttr(0.15))],
  ['Prelu [1,1,C]', (b, t) => b.op('act', 'Prelu', [t, b.channelConst('alpha', C, 0, 0.5, [1, 1, C])])],
  ['Prelu [C]', (b, t) => b.op('act', 'Prelu', [t, b.channelConst('alpha', C, 0, 0.5)])],
  ['ClipByValue(0,6)', (b, t) => b.op('act', 'ClipByValue', [t, b.scalar('lo', 0), b.scalar('hi', 6)])],
  [
    'Minimum(Maximum(x,0),6)',
    (b, t) => b.op('act', 'Minimum', [b.op('max', 'Maximum', [t, b.scalar('zero', 0)]), b.scalar('six', 6)]),
  ],
  [
    'Maximum(Minimum(6,x),0)',
    (b, t) => b.op('act', 'Maximum', [b.op('min', 'Minimum', [b.scalar('six', 6), t]), b.scalar('zero', 0)]),
  ],
  ['Maximum(x,0) as relu', (b, t) => b.op('act', 'Maximum', [t, b.scalar('zero', 0)])],
  ['swish x*Sigmoid(x)', (b, t) => b.op('act', 'Mul', [t, b.op('sig', 'Sigmoid', [t])])],
  ['swish Sigmoid(x)*x', (b, t) => b.op('act', 'Mul', [b.op('sig', 'Sigmoid', [t]), t])],
  [
    'hard-swish x*Relu6(x+3)*(1/6)',
    (b, t) => {
      const r = b.op('r6', 'Relu6', [b.op('plus3', 'AddV2', [t, b.scalar('three', 3)])]);
      return b.op('act', 'Mul', [b.op('xr', 'Mul', [t, r]), b.scalar('sixth', 1 / 6)]);
    },
  ],
  [
    'hard-swish x*Relu6(x+3)/6',
    (b, t) => {
      const r = b.op('r6', 'Relu6', [b.op('plus3', 'Add', [b.scalar('three', 3), t])]);
      return b.op('act', 'RealDiv', [b.op('xr', 'Mul', [r, t]), b.scalar('six', 6)]);
    },
  ],
  [
    'hard-swish x*(ClipByValue(x+3,0,6)*(1/6))',
    (b, t) => {
      const plus = b.op('plus3', 'AddV2', [t, b.scalar('three', 3)]);
      const clip = b.op('clip', 'ClipByValue', [plus, b.scalar('lo', 0), b.scalar('hi', 6)]);
      return b.op('act', 'Mul', [t, b.op('hsig', 'Mul', [clip, b.scalar('sixth', 1 / 6)])]);
    },
  ],
];

export function positivePatterns(): PatternCase[] {
  const cases: PatternCase[] = [];
  cases.push(
    dwThenPw('MobileNetV2: FusedDepthwiseConv2dNative[BiasAdd,Relu6] -> _FusedConv2D[BiasAdd]', (_, t) => t, {
      dwFused: ['BiasAdd', 'Relu6'],
      pwFused: ['BiasAdd'],
    }),
    dwThenPw('stride 2, 5x5, VALID', (_, t) => t, {
      dwFused: ['BiasAdd', 'Relu'],
      pwFused: ['BiasAdd', 'Relu6'],
      stride: 2,
      k: 5,
      padding: 'VALID',
    }),
    dwThenPw('_FusedConv2D[BiasAdd,Prelu]', (_, t) => t, {
      dwFused: ['BiasAdd', 'Elu'],
      pwFused: ['BiasAdd', 'Prelu'],
    }),
    dwThenPw('Identity between', (b, t) => b.op('id', 'Identity', [t]), { dwFused: ['BiasAdd', 'Relu6'] }),
  );
  {
    // _FusedConv2D[BiasAdd, LeakyRelu] reads leakyrelu_alpha.
    const b = new ModelBuilder(3);
    const x = b.input('x', SHAPE);
    const d = b.dw('dw', x, 3, C);
    const p = b.pw('pw', d, C, F, { fused: ['BiasAdd', 'LeakyRelu'], alpha: 0.15 });
    b.op('out', 'Identity', [p]);
    cases.push({
      name: '_FusedConv2D[BiasAdd,LeakyRelu] alpha 0.15',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out'],
      fused: { dwpw: 1, pwdw: 0 },
    });
  }
  {
    // BlazeFace block: unfused DW -> _FusedConv2D[BiasAdd] -> residual AddV2 -> Relu.
    const b = new ModelBuilder(4);
    const x = b.input('x', [1, 8, 8, C]);
    const d = b.dw('dw', x, 3, C);
    const p = b.pw('pw', d, C, C, { fused: ['BiasAdd'] });
    const a = b.op('add', 'AddV2', [x, p]);
    b.op('out', 'Relu', [a]);
    cases.push({
      name: 'BlazeFace: DepthwiseConv2dNative -> _FusedConv2D[BiasAdd] -> residual AddV2 -> Relu',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: [1, 8, 8, C],
      outputs: ['out', 'pw'],
      fused: { dwpw: 1, pwdw: 0 },
      replaces: ['dw', 'pw'],
    });
  }
  cases.push(
    dwThenPw(
      'unfolded BatchNorm Mul/AddV2 before Relu6, Conv2D + BiasAdd + Relu after',
      (b, t) => {
        const m = b.op('bn/mul', 'Mul', [t, b.channelConst('bn/gamma', C, 0.5, 1.5)]);
        const a = b.op('bn/add', 'AddV2', [m, b.channelConst('bn/beta', C, -0.5, 0.5, [1, 1, 1, C])]);
        return b.op('relu6', 'Relu6', [a]);
      },
      {},
      { expectText: /Mul 'bn\/mul' folded into dw 'dw'/ },
    ),
  );
  {
    // Plain Conv2D, then BiasAdd and Relu absorbed after the pointwise; FusedBatchNormV3 on both sides.
    const b = new ModelBuilder(5);
    const x = b.input('x', SHAPE);
    const d = b.dw('dw', x, 3, C);
    const r = b.op('relu', 'Relu', [b.batchNorm('bn1', d, C)]);
    const p = b.pw('pw', r, C, F);
    const bias = b.op('bias', 'BiasAdd', [b.batchNorm('bn2', p, F), b.channelConst('pw/b', F)], {
      data_format: attrString('NHWC'),
    });
    b.op('out', 'Relu6', [bias]);
    cases.push({
      name: 'FusedBatchNormV3 before Relu and after a plain Conv2D, BiasAdd + Relu6 absorbed',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out'],
      fused: { dwpw: 1, pwdw: 0 },
      replaces: ['dw', 'bn1', 'relu', 'pw', 'bn2', 'bias', 'out'],
      expectText: /FusedBatchNormV3 'bn2' folded into pw 'pw'/,
    });
  }
  cases.push(
    dwThenPw(
      '(x - mean[C]) / std scalar, then c - x after the pointwise',
      (b, t) => {
        const s = b.op('sub', 'Sub', [t, b.channelConst('mean', C, -0.3, 0.3)]);
        const v = b.op('div', 'RealDiv', [s, b.scalar('std', 1.7)]);
        return b.op('relu6', 'Relu6', [v]);
      },
      { dwFused: ['BiasAdd'] },
    ),
  );
  {
    const b = new ModelBuilder(6);
    const x = b.input('x', SHAPE);
    const d = b.dw('dw', x, 3, C, { fused: ['BiasAdd'] });
    const p = b.pw('pw', b.op('r', 'Relu', [d]), C, F);
    const neg = b.op('neg', 'Sub', [b.channelConst('c', F), p]);
    b.op('out', 'Sigmoid', [neg]);
    cases.push({
      name: 'Sub(const, x) after the pointwise, then Sigmoid',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out'],
      fused: { dwpw: 1, pwdw: 0 },
      replaces: ['dw', 'r', 'pw', 'neg', 'out'],
    });
  }
  for (const [label, act] of ACTIVATIONS) {
    cases.push(
      dwThenPw(`activation ${label} between DW and PW`, act, { dwFused: ['BiasAdd'], pwFused: ['BiasAdd'] }),
    );
  }
  {
    // A swish after the pointwise: absorbed as the pw activation.
    const b = new ModelBuilder(7);
    const x = b.input('x', SHAPE);
    const d = b.dw('dw', x, 3, C, { fused: ['BiasAdd', 'Relu6'] });
    const p = b.pw('pw', d, C, F, { fused: ['BiasAdd'] });
    b.op('out', 'Mul', [p, b.op('sig', 'Sigmoid', [p])]);
    cases.push({
      name: 'swish after the pointwise (trailing)',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out'],
      fused: { dwpw: 1, pwdw: 0 },
      replaces: ['dw', 'pw', 'sig', 'out'],
    });
  }
  for (const [label, pads, op] of [
    ['Pad [1,1]x[1,1] before a VALID stride-2 DW', [0, 0, 1, 1, 1, 1, 0, 0], 'Pad'],
    ['Pad [0,1]x[0,1] (TF stride-2 style) before a VALID stride-2 DW', [0, 0, 0, 1, 0, 1, 0, 0], 'Pad'],
    ['PadV2 with constant 0 before a VALID stride-2 DW', [0, 0, 1, 1, 1, 1, 0, 0], 'PadV2'],
  ] as const) {
    const b = new ModelBuilder(8);
    const x = b.input('x', SHAPE);
    const padded = b.pad('pad', x, [...pads], op, 0);
    const d = b.dw('dw', padded, 3, C, { fused: ['BiasAdd', 'Relu6'], stride: 2, padding: 'VALID' });
    const p = b.pw('pw', d, C, F, { fused: ['BiasAdd'] });
    b.op('out', 'Identity', [p]);
    cases.push({
      name: label,
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out'],
      fused: { dwpw: 1, pwdw: 0 },
      replaces: ['pad', 'dw', 'pw'],
      expectText: /zero Pad folded/,
    });
  }
  {
    // PW -> Relu6 -> zero Pad -> VALID stride-2 DW: a PW->DW site with the Pad folded.
    const b = new ModelBuilder(9);
    const x = b.input('x', SHAPE);
    const p = b.pw('expand', x, C, 16, { fused: ['BiasAdd'] });
    const r = b.op('relu6', 'Relu6', [p]);
    const padded = b.pad('pad', r, [0, 0, 1, 1, 1, 1, 0, 0]);
    const d = b.dw('dw', padded, 3, 16, { fused: ['BiasAdd', 'Relu6'], stride: 2, padding: 'VALID' });
    b.op('out', 'Identity', [d]);
    cases.push({
      name: 'PW -> Relu6 -> zero Pad -> VALID stride-2 DW (PW->DW)',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out'],
      fused: { dwpw: 0, pwdw: 1 },
      replaces: ['expand', 'relu6', 'pad', 'dw'],
    });
  }
  {
    // MobileNetV2 expansion + depthwise: PW[BiasAdd,Relu6] -> DW[BiasAdd,Relu6] stride 2.
    const b = new ModelBuilder(10);
    const x = b.input('x', SHAPE);
    const p = b.pw('expand', x, C, 24, { fused: ['BiasAdd', 'Relu6'] });
    const d = b.dw('dw', p, 3, 24, { fused: ['BiasAdd', 'Relu6'], stride: 2 });
    b.op('out', 'Identity', [d]);
    cases.push({
      name: 'PW->DW: _FusedConv2D[BiasAdd,Relu6] -> FusedDepthwiseConv2dNative[BiasAdd,Relu6] stride 2',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out'],
      fused: { dwpw: 0, pwdw: 1 },
    });
  }
  cases.push(
    dwThenPw(
      'BatchNorm Mul/Add after the activation folds into the next pointwise',
      (b, t) => {
        const m = b.op('post/mul', 'Mul', [t, b.channelConst('post/s', C, 0.5, 1.5)]);
        return b.op('post/add', 'AddV2', [m, b.channelConst('post/t', C, -0.5, 0.5)]);
      },
      { dwFused: ['BiasAdd', 'Relu6'], pwFused: ['BiasAdd'] },
      { expectText: /folded into the input of pw 'pw'/ },
    ),
  );
  {
    // PW -> Relu -> Mul/Add (BN after the activation) -> VALID DW: exact (no padding read).
    const b = new ModelBuilder(11);
    const x = b.input('x', SHAPE);
    const p = b.pw('expand', x, C, 16, { fused: ['BiasAdd', 'Relu'] });
    const m = b.op('post/mul', 'Mul', [p, b.channelConst('post/s', 16, 0.5, 1.5)]);
    const a = b.op('post/add', 'AddV2', [m, b.channelConst('post/t', 16, -0.5, 0.5)]);
    const d = b.dw('dw', a, 3, 16, { fused: ['BiasAdd'], padding: 'VALID' });
    b.op('out', 'Identity', [d]);
    cases.push({
      name: 'BatchNorm after the activation into a VALID depthwise (PW->DW)',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out'],
      fused: { dwpw: 0, pwdw: 1 },
      expectText: /folded into the input of dw 'dw'/,
    });
  }
  {
    // Explicit padding on the depthwise.
    const b = new ModelBuilder(12);
    const x = b.input('x', SHAPE);
    const d = b.dw('dw', x, 3, C, {
      fused: ['BiasAdd', 'Relu6'],
      padding: 'EXPLICIT',
      explicit: [0, 0, 2, 0, 1, 1, 0, 0],
      stride: 2,
    });
    const p = b.pw('pw', d, C, F, { fused: ['BiasAdd'] });
    b.op('out', 'Identity', [p]);
    cases.push({
      name: 'EXPLICIT depthwise padding',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out'],
      fused: { dwpw: 1, pwdw: 0 },
    });
  }
  {
    // A whole inverted-residual block: PW->DW->PW with a residual add; plan 'all' fuses one pair.
    const b = new ModelBuilder(13);
    const x = b.input('x', SHAPE);
    const p = b.pw('expand', x, C, 24, { fused: ['BiasAdd', 'Relu6'] });
    const d = b.dw('dw', p, 3, 24, { fused: ['BiasAdd', 'Relu6'] });
    const q = b.pw('project', d, 24, C, { fused: ['BiasAdd'] });
    b.op('out', 'AddV2', [x, q]);
    cases.push({
      name: 'PW->DW->PW inverted residual block (one pair fused, chain reported)',
      artifacts: b.artifacts(['x'], ['out']),
      inputShape: SHAPE,
      outputs: ['out', 'project'],
      fused: { dwpw: 0, pwdw: 1 },
      found: { dwpw: 1, pwdw: 1 },
    });
  }
  return cases;
}

/** Sites the rewrite must leave alone, with the reason it must give. */
export interface NegativeCase {
  name: string;
  artifacts: tf.io.ModelArtifacts;
  inputShape: number[];
  outputs: string[];
  reason: RegExp;
  /** Whether the original runs on tfjs's cpu/webgpu backends (NCHW depthwise does not). */
  runs?: boolean;
}

export function negativePatterns(): NegativeCase[] {
  const cases: NegativeCase[] = [];
  const simple = (
    name: string,
    build: (b: ModelBuilder, x: string) => string,
    reason: RegExp,
    outputs = ['out'],
    extraOutputs: string[] = [],
    runs = true,
  ) => {
    const b = new ModelBuilder(name.length + 100);
    const x = b.input('x', SHAPE);
    b.op('out', 'Identity', [build(b, x)]);
    cases.push({
      name,
      artifacts: b.artifacts(['x'], [...outputs, ...extraOutputs]),
      inputShape: SHAPE,
      outputs: [...outputs, ...extraOutputs],
      reason,
      runs,
    });
  };
  simple(
    'multi-consumer intermediate',
    (b, x) => {
      const d = b.dw('dw', x, 3, C, { fused: ['BiasAdd', 'Relu6'] });
      const p = b.pw('pw', d, C, C);
      return b.op('sum', 'AddV2', [p, d]);
    },
    /'dw' has 2 consumers/,
  );
  simple(
    'model output in the middle',
    (b, x) => b.pw('pw', b.dw('dw', x, 3, C, { fused: ['BiasAdd', 'Relu6'] }), C, F),
    /'dw' is a model output/,
    ['out'],
    ['dw'],
  );
  simple('dilation 2', (b, x) => b.pw('pw', b.dw('dw', x, 3, C, { dilation: 2 }), C, F), /dilation \[2,2\]/);
  simple(
    'channel multiplier 2',
    (b, x) => b.pw('pw', b.dw('dw', x, 3, C, { multiplier: 2 }), 2 * C, F),
    /channel multiplier 2/,
  );
  simple(
    'non-zero PadV2 between PW and DW',
    (b, x) => {
      const p = b.pw('expand', x, C, 16, { fused: ['BiasAdd', 'Relu6'] });
      const padded = b.pad('pad', p, [0, 0, 1, 1, 1, 1, 0, 0], 'PadV2', 1);
      return b.dw('dw', padded, 3, 16, { padding: 'VALID' });
    },
    /pads with 1, not zero/,
  );
  simple(
    'NCHW depthwise',
    (b, x) => b.pw('pw', b.dw('dw', x, 3, 9, { format: 'NCHW' }), 9, F),
    /data_format NCHW/,
    ['out'],
    [],
    false,
  );
  simple(
    'BatchNorm after the activation in front of a SAME (zero-padded) depthwise',
    (b, x) => {
      const p = b.pw('expand', x, C, 16, { fused: ['BiasAdd', 'Relu6'] });
      const m = b.op('post/mul', 'Mul', [p, b.channelConst('post/s', 16, 0.5, 1.5)]);
      const a = b.op('post/add', 'AddV2', [m, b.channelConst('post/t', 16, -0.5, 0.5)]);
      return b.dw('dw', a, 3, 16, { fused: ['BiasAdd'] });
    },
    /would land in front of the zero-padded depthwise 'dw'/,
  );
  simple(
    'control edge out of the intermediate',
    (b, x) => {
      const d = b.dw('dw', x, 3, C);
      b.nodes.push({ name: 'noop', op: 'NoOp', input: ['^dw'] });
      const p = b.pw('pw', d, C, F);
      return b.op('after', 'Identity', [p, '^noop']);
    },
    /'dw' is a control input of 'noop'/,
  );
  simple(
    'Tanh between (no fused tanh)',
    (b, x) => b.pw('pw', b.op('tanh', 'Tanh', [b.dw('dw', x, 3, C)]), C, F),
    /Tanh 'tanh' is not an activation the fused kernels have/,
  );
  simple(
    'two activations between',
    (b, x) => b.pw('pw', b.op('relu', 'Relu', [b.dw('dw', x, 3, C, { fused: ['BiasAdd', 'Relu6'] })]), C, F),
    /Relu 'relu' follows activation relu6/,
  );
  simple(
    '1x1 conv with stride 2',
    (b, x) => b.pw('pw', b.dw('dw', x, 3, C), C, F, { stride: 2 }),
    /pointwise stride \[2,2\]/,
  );
  simple(
    'FusedDepthwiseConv2dNative with LeakyRelu (tfjs reads no alpha)',
    (b, x) => b.pw('pw', b.dw('dw', x, 3, C, { fused: ['BiasAdd', 'LeakyRelu'] }), C, F),
    /tfjs does not read its alpha/,
    ['out'],
    [],
    false,
  );
  simple(
    'per-pixel (not per-channel) constant between',
    (b, x) => {
      const d = b.dw('dw', x, 3, C);
      return b.pw('pw', b.op('mul', 'Mul', [d, b.random('k', [1, 9, 9, C])]), C, F);
    },
    /is not per-channel/,
  );
  simple(
    'division by a constant with a zero',
    (b, x) => {
      const d = b.dw('dw', x, 3, C);
      return b.pw('pw', b.op('div', 'RealDiv', [d, b.constant('k', [1, 2, 0, 1, 2, 1, 2, 1], [C])]), C, F);
    },
    /folding it would give non-finite weights/,
    ['out'],
    [],
    false,
  );
  return cases;
}
