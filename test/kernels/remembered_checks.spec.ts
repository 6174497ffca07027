import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import { fused } from '../../src/index';
import { CheckMemo } from '../../src/kernels/check_cache';
import { FusedInvertedResidual } from '../../src/kernels/FusedInvertedResidual';
import { checkLayout, InvertedResidualLayout } from '../../src/kernels/inverted_residual_layout';
import { computeOn } from '../helpers/backends';
import { expectAllClose } from '../helpers/compare';
import { describeFused, describePure } from '../helpers/describe';
import { expectNoLeaks } from '../helpers/leaks';
import { Random } from '../helpers/random';

describePure('CheckMemo (remembered check results)', () => {
  it('computes once per distinct input and tells apart values a check reads differently', () => {
    const memo = new CheckMemo<number>();
    const anchor = {};
    let computed = 0;
    const get = (inputs: unknown) => memo.get(anchor, inputs, () => ++computed);
    const alpha = (value: unknown) => [[1, 5, 5, 4], { activation: 'leakyrelu', alpha: value }];
    expect(get(alpha(0.2))).toBe(1);
    expect(get(alpha(0.2))).toBe(1);
    // NaN, undefined, -0/0, '1'/1 and [1]/1 are different inputs.
    for (const value of [undefined, NaN, 0, -0, 1, '1', [1]]) get(alpha(value));
    expect(computed).toBe(8);
    for (const value of [undefined, NaN, 0, -0, 1, '1', [1]]) get(alpha(value));
    expect(computed).toBe(8);
    // A missing key is not a key holding undefined (object spreads copy the latter).
    const before = computed;
    get([[1, 5, 5, 4], { activation: 'leakyrelu' }]);
    expect(computed).toBe(before + 1);
  });

  it('copies what it remembers: an input changed in place is checked afresh', () => {
    const memo = new CheckMemo<number>();
    const anchor = {};
    let computed = 0;
    const shape = [1, 5, 5, 4];
    const inputs = { x: shape };
    memo.get(anchor, inputs, () => ++computed);
    shape[1] = 7;
    expect(memo.get(anchor, inputs, () => ++computed)).toBe(2);
    expect(memo.get(anchor, { x: [1, 5, 5, 4] }, () => ++computed)).toBe(1);
  });

  it('keeps a bounded number of inputs per anchor and does not remember non-plain values', () => {
    const memo = new CheckMemo<number>(2);
    const anchor = {};
    let computed = 0;
    for (const h of [1, 2, 3]) memo.get(anchor, [h], () => ++computed);
    expect(memo.get(anchor, [1], () => ++computed)).toBe(4);
    const notPlain = [new Float32Array([1])];
    memo.get(anchor, notPlain, () => ++computed);
    expect(memo.get(anchor, notPlain, () => ++computed)).toBe(6);
  });
});

describeFused('FusedInvertedResidual and pair kernels: remembered checks', () => {
  const rng = new Random(77);
  const [cin, m, cout] = [4, 8, 4];
  const expandFilter = rng.array(cin * m, -0.5, 0.5);
  const dwFilter = rng.array(9 * m, -0.5, 0.5);
  const projectFilter = rng.array(m * cout, -0.5, 0.5);
  const expandBias = rng.array(m, -0.5, 0.5);
  const weights = () => ({
    expandFilter: tf.tensor2d(expandFilter, [cin, m]),
    expandBias: tf.tensor1d(expandBias),
    dwFilter: tf.tensor4d(dwFilter, [3, 3, m, 1]),
    projectFilter: tf.tensor2d(projectFilter, [m, cout]),
  });
  const attrs = {
    strides: 1,
    pad: 'same' as const,
    expandActivation: 'leakyrelu' as const,
    expandLeakyreluAlpha: 0.1,
    dwActivation: 'relu6' as const,
    residual: true,
  };
  const packOnce = () => {
    const w = weights();
    const packed = fused.packInvertedResidual(w);
    tf.dispose(Object.values(w));
    return packed;
  };
  const reference = (x: Float32Array, shape: number[]) =>
    computeOn('cpu', () =>
      fused.invertedResidual({ ...weights(), ...attrs, x: tf.tensor4d(x, shape as never) }),
    );

  it('gives the same results on repeated calls, for new input shapes and again for old ones', async () => {
    const packed = packOnce();
    try {
      expect(Object.isFrozen(packed.layout)).toBe(true);
      expect(Object.isFrozen(packed.layout.expand)).toBe(true);
      // Batch and H/W change between calls on the same packed weights; the first shape comes back.
      const shapes = [
        [1, 6, 6, cin],
        [1, 6, 6, cin],
        [2, 5, 7, cin],
        [1, 6, 6, cin],
        [1, 3, 4, cin],
      ];
      for (const shape of shapes) {
        const x = rng.array(shape.reduce((a, b) => a * b, 1));
        const expected = await reference(x, shape);
        const actual = await expectNoLeaks(async () => {
          const y = tf.tidy(() =>
            fused.invertedResidualPacked({
              ...attrs,
              x: tf.tensor4d(x, shape as never),
              packed: packed.weights,
              layout: packed.layout,
            }),
          );
          const values = (await y.data()) as Float32Array;
          const out = { shape: y.shape.slice(), values };
          y.dispose();
          return out;
        }, `shape ${shape}`);
        expect(actual.shape).toEqual(expected.shape);
        expectAllClose(actual.values, expected.values, { rtol: 1e-4, atol: 1e-5 }, `shape ${shape}`);
      }
    } finally {
      packed.dispose();
    }
  });

  it('still rejects bad input after good calls with the same packed weights, every time', async () => {
    const packed = packOnce();
    const run = (x: tf.Tensor4D, extra: object = {}) =>
      tf.tidy(() =>
        fused.invertedResidualPacked({
          ...attrs,
          ...extra,
          x,
          packed: packed.weights,
          layout: packed.layout,
        }),
      );
    const good = tf.zeros([1, 6, 6, cin]) as tf.Tensor4D;
    const badChannels = tf.zeros([1, 6, 6, cin + 1]) as tf.Tensor4D;
    const badRank = tf.zeros([1, 6, 6, cin, 1]) as unknown as tf.Tensor4D;
    try {
      await expectNoLeaks(async () => {
        for (let round = 0; round < 2; round++) {
          run(good).dispose();
          expect(() => run(badChannels)).toThrowError(/x has 5 channels/);
          expect(() => run(badRank)).toThrowError(/x must be rank 4/);
          expect(() => run(good, { expandLeakyreluAlpha: NaN })).toThrowError(/must be a finite number/);
          expect(() => run(good, { strides: 0 })).toThrowError(/invalid strides/);
          expect(() => run(good, { strides: '1' as unknown as number })).toThrowError(/invalid strides "1"/);
          expect(() => run(good, { residual: true, strides: 2 })).toThrowError(/residual needs/);
        }
        // The kernel guards direct calls the same way.
        const direct = (x: tf.Tensor, extra: object = {}) =>
          tf.engine().runKernel(FusedInvertedResidual, { x, weights: packed.weights }, {
            ...attrs,
            layout: packed.layout,
            ...extra,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
        direct(good).dispose();
        expect(() => direct(badChannels)).toThrowError(/FusedInvertedResidual: x has 5 channels/);
        direct(good).dispose();
        expect(() => direct(good, { dwActivation: 'gelu' })).toThrowError(/not supported/);
      });
      // A layout that was changed after packing (an unfrozen copy) is checked on every call.
      const copy = JSON.parse(JSON.stringify(packed.layout)) as InvertedResidualLayout;
      expect(checkLayout(copy)).toBeNull();
      copy.project = { ...copy.project, weights: copy.project.weights + 4 };
      expect(() =>
        fused.invertedResidualPacked({ ...attrs, x: good, packed: packed.weights, layout: copy }),
      ).toThrowError(/does not match its dimensions/);
    } finally {
      tf.dispose([good, badChannels, badRank]);
      packed.dispose();
    }
  });

  it('runs the pair ops repeatedly and for a new shape with the same filters, like stock ops', async () => {
    const c = 8;
    const f = 6;
    const dw = rng.array(9 * c, -0.5, 0.5);
    const pw = rng.array(c * f, -0.5, 0.5);
    const expand = rng.array(c * c, -0.5, 0.5);
    type Filters = { dw: tf.Tensor4D; pw: tf.Tensor2D; expand: tf.Tensor2D };
    const makeFilters = (): Filters => ({
      dw: tf.tensor4d(dw, [3, 3, c, 1]),
      pw: tf.tensor2d(pw, [c, f]),
      expand: tf.tensor2d(expand, [c, c]),
    });
    const pairs = (x: tf.Tensor4D, w: Filters) => [
      fused.depthwisePointwiseConv2d({
        x,
        dwFilter: w.dw,
        pwFilter: w.pw,
        strides: 2,
        dwActivation: 'relu6',
      }),
      fused.pointwiseDepthwiseConv2d({ x, pwFilter: w.expand, dwFilter: w.dw, pwActivation: 'relu' }),
    ];
    // The fused side keeps its filters across calls, as a model's weights.
    const filters = makeFilters();
    try {
      for (const shape of [
        [1, 6, 6, c],
        [1, 6, 6, c],
        [2, 5, 3, c],
        [1, 6, 6, c],
      ]) {
        const x = rng.array(shape.reduce((a, b) => a * b, 1));
        for (const which of [0, 1]) {
          const expected = await computeOn(
            'cpu',
            () => pairs(tf.tensor4d(x, shape as never), makeFilters())[which],
          );
          const actual = await expectNoLeaks(async () => {
            const ys = tf.tidy(() => pairs(tf.tensor4d(x, shape as never), filters));
            const values = (await ys[which].data()) as Float32Array;
            const out = { shape: ys[which].shape.slice(), values };
            tf.dispose(ys);
            return out;
          });
          expect(actual.shape).toEqual(expected.shape);
          expectAllClose(actual.values, expected.values, { rtol: 1e-4, atol: 1e-5 }, `${which} ${shape}`);
        }
      }
    } finally {
      tf.dispose([filters.dw, filters.pw, filters.expand]);
    }
    const bad = () =>
      tf.tidy(() =>
        fused.pointwiseDepthwiseConv2d({
          x: tf.zeros([1, 6, 6, c + 1]) as tf.Tensor4D,
          pwFilter: tf.tensor2d(expand, [c, c]),
          dwFilter: tf.tensor4d(dw, [3, 3, c, 1]),
        }),
      );
    expect(bad).toThrowError(/pwFilter has 8 input channels, x has 9/);
    expect(bad).toThrowError(/pwFilter has 8 input channels, x has 9/);
  });
});
