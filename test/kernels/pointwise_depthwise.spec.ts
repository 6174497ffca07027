import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import { fused, registerWebGPUFusedBackend } from '../../src/index';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { isSupported } from '../../src/kernels/FusedPointwiseDepthwiseConv2D';
import { pwDwTileFits } from '../../src/kernels/pointwise_depthwise_tile';
import { FusedPadding, KernelLimits, PwDwTile } from '../../src/kernels/types';
import { computeOn } from '../helpers/backends';
import { expectAllClose } from '../helpers/compare';
import { describeFused, fusedBackend } from '../helpers/describe';
import {
  ALL_ACTIVATIONS,
  computeFusedChecked,
  depthwiseOutSize,
  describePadding,
  expectFusedMatchesStock,
  PADDINGS,
  randomStage,
  referenceEpilogue,
  StageCase,
  stageLabel,
  stageTensors,
} from '../helpers/fused_cases';
import { Random } from '../helpers/random';

interface PwDwCase {
  n: number;
  h: number;
  w: number;
  cin: number;
  m: number;
  k: number;
  stride: number;
  pad: FusedPadding;
  pw: StageCase;
  dw: StageCase;
  tile?: Partial<PwDwTile>;
  x: Float32Array;
  pwW: Float32Array;
  dwW: Float32Array;
}

type Shape = Pick<PwDwCase, 'n' | 'h' | 'w' | 'cin' | 'm' | 'k' | 'stride' | 'pad'>;

function makeCase(
  rng: Random,
  shape: Shape,
  stages: { pw?: StageCase; dw?: StageCase } = {},
  tile?: Partial<PwDwTile>,
): PwDwCase {
  const { n, h, w, cin, m, k, stride, pad } = shape;
  const { outHeight, outWidth } = depthwiseOutSize([n, h, w, m], k, stride, pad);
  return {
    ...shape,
    pw: stages.pw ?? randomStage(rng, h, w, m),
    dw: stages.dw ?? randomStage(rng, outHeight, outWidth, m),
    tile,
    x: rng.array(n * h * w * cin),
    pwW: rng.array(cin * m, -1 / Math.sqrt(cin), 1 / Math.sqrt(cin)),
    dwW: rng.array(k * k * m, -0.5, 0.5),
  };
}

function label(t: PwDwCase): string {
  return (
    `[${t.n},${t.h},${t.w},${t.cin}] -> ${t.m}, k${t.k} s${t.stride} pad=${describePadding(t.pad)}; ` +
    `${stageLabel('pw', t.pw)}, ${stageLabel('dw', t.dw)}` +
    (t.tile ? ` tile ${JSON.stringify(t.tile)}` : '')
  );
}

function fusedOp(t: PwDwCase): tf.Tensor {
  const pw = stageTensors(t.pw);
  const dw = stageTensors(t.dw);
  return fused.pointwiseDepthwiseConv2d({
    x: tf.tensor4d(t.x, [t.n, t.h, t.w, t.cin]),
    pwFilter: tf.tensor4d(t.pwW, [1, 1, t.cin, t.m]),
    dwFilter: tf.tensor4d(t.dwW, [t.k, t.k, t.m, 1]),
    strides: t.stride,
    pad: t.pad,
    pwBias: pw.bias,
    pwActivation: pw.activation,
    pwPreluActivationWeights: pw.preluWeights,
    pwLeakyreluAlpha: pw.leakyreluAlpha,
    dwBias: dw.bias,
    dwActivation: dw.activation,
    dwPreluActivationWeights: dw.preluWeights,
    dwLeakyreluAlpha: dw.leakyreluAlpha,
    tile: t.tile,
  });
}

function reference(t: PwDwCase): tf.Tensor {
  const expanded = tf.conv2d(
    tf.tensor4d(t.x, [t.n, t.h, t.w, t.cin]),
    tf.tensor4d(t.pwW, [1, 1, t.cin, t.m]),
    1,
    'valid',
  );
  const pw = referenceEpilogue(expanded, stageTensors(t.pw));
  const dw = tf.depthwiseConv2d(pw, tf.tensor4d(t.dwW, [t.k, t.k, t.m, 1]), t.stride, t.pad as 'same');
  return referenceEpilogue(dw, stageTensors(t.dw));
}

const runFused = (t: PwDwCase, backendName = 'webgpu-fused') =>
  computeFusedChecked(() => fusedOp(t), label(t), backendName);

const expectMatchesStock = (t: PwDwCase) =>
  expectFusedMatchesStock(
    () => fusedOp(t),
    () => reference(t),
    label(t),
  );

function randomTile(rng: Random, k: number, stride: number, limits: KernelLimits): PwDwTile {
  for (;;) {
    const tile: PwDwTile = {
      tileH: rng.pick([1, 2, 3, 4, 7, 8]),
      tileW: rng.pick([1, 2, 4, 5, 8, 16]),
      channels: rng.pick([4, 8, 16, 32]),
      threadPositions: rng.pick([1, 2, 3, 4]),
      workgroupSize: rng.pick([32, 64, 100, 128, 256]),
    };
    if (pwDwTileFits(tile, k, stride, limits).supported) return tile;
  }
}

describeFused('FusedPointwiseDepthwiseConv2D', () => {
  it('matches stock ops on webgpu and cpu over random shapes, attributes and tiles', async () => {
    const rng = new Random(777);
    const limits = kernelLimitsOf(fusedBackend().limits);
    for (let i = 0; i < 16; i++) {
      const k = rng.pick([1, 3, 3, 5, 7]);
      const pad = rng.pick(PADDINGS);
      const stride = rng.pick([1, 2]);
      const shape: Shape = {
        n: rng.pick([1, 1, 3]),
        h: rng.int(1, 15),
        w: rng.int(1, 15),
        cin: rng.pick([1, 3, 4, 6, 8, 16, 17, 24]),
        m: rng.pick([1, 3, 4, 8, 13, 16, 24, 48]),
        k,
        stride,
        pad,
      };
      const out = depthwiseOutSize([shape.n, shape.h, shape.w, shape.m], k, stride, pad);
      if (out.outHeight < 1 || out.outWidth < 1) {
        i--; // padding smaller than the kernel: an empty output, not a fusion case
        continue;
      }
      await expectMatchesStock(
        makeCase(rng, shape, {}, rng.bool(0.6) ? randomTile(rng, k, stride, limits) : undefined),
      );
    }
  });

  it('applies every activation on both stages', async () => {
    const rng = new Random(15);
    for (const activation of ALL_ACTIVATIONS) {
      const pw = randomStage(rng, 6, 7, 12, activation);
      const dw = randomStage(rng, 6, 7, 12, ALL_ACTIVATIONS[(ALL_ACTIVATIONS.indexOf(activation) + 4) % 9]);
      await expectMatchesStock(
        makeCase(rng, { n: 1, h: 6, w: 7, cin: 8, m: 12, k: 3, stride: 1, pad: 'same' }, { pw, dw }),
      );
    }
  });

  it('keeps the zero padding in halo positions outside the image (act(bias) != 0)', async () => {
    // sigmoid(bias) is far from 0 everywhere: a halo filled with act(bias)
    // instead of zeros would change every border output.
    const rng = new Random(16);
    const pw: StageCase = { activation: 'sigmoid', leakyreluAlpha: 0, bias: new Float32Array(8).fill(3) };
    const dw: StageCase = { activation: 'linear', leakyreluAlpha: 0 };
    for (const shape of [
      { n: 2, h: 5, w: 6, cin: 4, m: 8, k: 3, stride: 1, pad: 'same' as const },
      { n: 1, h: 9, w: 9, cin: 5, m: 8, k: 5, stride: 2, pad: 'same' as const },
      { n: 1, h: 6, w: 6, cin: 4, m: 8, k: 3, stride: 1, pad: 2 },
    ]) {
      await expectMatchesStock(makeCase(rng, shape, { pw, dw }, { tileH: 2, tileW: 3, channels: 4 }));
    }
  });

  it('handles edge shapes: 1x1 and 2x2 maps, stride 2 on even and odd sizes, batch 3, 7x7', async () => {
    const rng = new Random(17);
    const shapes: Shape[] = [
      { n: 1, h: 1, w: 1, cin: 5, m: 7, k: 3, stride: 1, pad: 'same' },
      { n: 3, h: 2, w: 2, cin: 16, m: 12, k: 3, stride: 2, pad: 'same' },
      { n: 1, h: 8, w: 8, cin: 16, m: 24, k: 3, stride: 2, pad: 'same' },
      { n: 2, h: 9, w: 7, cin: 6, m: 10, k: 5, stride: 2, pad: 'same' },
      { n: 1, h: 9, w: 9, cin: 8, m: 8, k: 7, stride: 1, pad: 'valid' },
      { n: 1, h: 11, w: 10, cin: 4, m: 8, k: 7, stride: 2, pad: 'same' },
    ];
    for (const shape of shapes) {
      await expectMatchesStock(makeCase(rng, shape));
    }
  });

  it('has no channel limit (MobileNetV2 14x14x136 -> 816, and 7x7x224 -> 1344)', async () => {
    const rng = new Random(18);
    const relu6 = (c: number): StageCase => ({
      activation: 'relu6',
      leakyreluAlpha: 0,
      bias: rng.array(c, -0.5, 0.5),
    });
    await expectMatchesStock(
      makeCase(
        rng,
        { n: 1, h: 14, w: 14, cin: 136, m: 816, k: 3, stride: 1, pad: 'same' },
        { pw: relu6(816), dw: relu6(816) },
      ),
    );
    await expectMatchesStock(
      makeCase(
        rng,
        { n: 1, h: 7, w: 7, cin: 224, m: 1345, k: 3, stride: 1, pad: 'same' },
        { pw: relu6(1345), dw: relu6(1345) },
      ),
    );
  });

  it('gives identical results through different tile configurations (different programs)', async () => {
    const rng = new Random(19);
    const base = makeCase(rng, { n: 2, h: 11, w: 9, cin: 12, m: 20, k: 3, stride: 1, pad: 'same' });
    const limits = kernelLimitsOf(fusedBackend().limits);
    const tiles: PwDwTile[] = [
      { tileH: 8, tileW: 8, channels: 20, threadPositions: 2, workgroupSize: 128 },
      { tileH: 1, tileW: 1, channels: 4, threadPositions: 1, workgroupSize: 32 },
      { tileH: 4, tileW: 5, channels: 8, threadPositions: 3, workgroupSize: 64 },
      { tileH: 11, tileW: 9, channels: 12, threadPositions: 4, workgroupSize: 256 },
      { tileH: 3, tileW: 4, channels: 16, threadPositions: 2, workgroupSize: 64, threadChannels: 16 },
      { tileH: 5, tileW: 5, channels: 8, threadPositions: 1, workgroupSize: 96, threadChannels: 8 },
    ];
    const backend = fusedBackend();
    const keys = new Set<string>();
    const run = backend.runWebGPUProgram.bind(backend);
    const spy = spyOn(backend, 'runWebGPUProgram').and.callFake((program, ...rest) => {
      keys.add(program.shaderKey);
      return run(program, ...rest);
    });
    const results: Float32Array[] = [];
    for (const tile of tiles) {
      expect(pwDwTileFits(tile, 3, 1, limits).supported)
        .withContext(JSON.stringify(tile))
        .toBe(true);
      results.push((await runFused({ ...base, tile })).values);
    }
    spy.and.callThrough();
    expect(keys.size).toBe(tiles.length);
    for (let i = 1; i < results.length; i++) {
      expect(Array.from(results[i])).withContext(JSON.stringify(tiles[i])).toEqual(Array.from(results[0]));
    }
    const expected = await computeOn('cpu', () => reference(base));
    expectAllClose(results[0], expected.values, { atol: 1e-3, rtol: 1e-3 }, 'tiled vs cpu');
  });

  it('rejects tiles that exceed the device limits with a clear error', async () => {
    const rng = new Random(20);
    const t = makeCase(rng, { n: 1, h: 40, w: 40, cin: 8, m: 8, k: 3, stride: 1, pad: 'same' });
    await expectAsync(runFused({ ...t, tile: { workgroupSize: 2048 } })).toBeRejectedWithError(
      /invocations exceed/,
    );
    await expectAsync(runFused({ ...t, tile: { tileH: 32, tileW: 32, channels: 64 } })).toBeRejectedWithError(
      /workgroup storage/,
    );
  });

  it('is correct on a device with the WebGPU default limits (16 KiB, 256 invocations)', async () => {
    registerWebGPUFusedBackend('webgpu-fused-defaults', { limits: 'default' });
    try {
      expect(await tf.setBackend('webgpu-fused-defaults')).toBe(true);
      const limits = kernelLimitsOf(fusedBackend('webgpu-fused-defaults').limits);
      expect(limits.maxComputeWorkgroupStorageSize).toBe(16384);
      const bigTile = { tileH: 8, tileW: 8, channels: 64 };
      const attrs = {
        strides: 1,
        pad: 'same' as const,
        pwActivation: 'relu6' as const,
        dwActivation: 'relu6' as const,
      };
      const shapes = { x: [1, 14, 14, 24], pwFilter: [1, 1, 24, 144], dwFilter: [7, 7, 144, 1] };
      expect(isSupported(shapes, { ...attrs, tile: bigTile }, limits).supported).toBe(false);
      expect(isSupported(shapes, attrs, limits).supported).toBe(true);
      const rng = new Random(21);
      const t = makeCase(rng, { n: 1, h: 14, w: 14, cin: 24, m: 144, k: 7, stride: 1, pad: 'same' });
      const result = await runFused(t, 'webgpu-fused-defaults');
      const expected = await computeOn('cpu', () => reference(t));
      expectAllClose(result.values, expected.values, { atol: 1e-3, rtol: 1e-3 }, 'default limits');
    } finally {
      await tf.setBackend('webgpu-fused');
      tf.removeBackend('webgpu-fused-defaults');
    }
  });

  it('computes the same result with stock ops on backends without the kernel', async () => {
    const rng = new Random(22);
    const t = makeCase(rng, { n: 2, h: 6, w: 7, cin: 9, m: 5, k: 3, stride: 2, pad: 'same' });
    const expected = await computeOn('cpu', () => reference(t));
    expectAllClose(
      (await computeOn('cpu', () => fusedOp(t))).values,
      expected.values,
      { atol: 1e-5, rtol: 1e-5 },
      'cpu',
    );
    const onStockWebgpu = await computeOn('webgpu', () => fusedOp(t));
    expectAllClose(onStockWebgpu.values, expected.values, { atol: 1e-3, rtol: 1e-3 }, 'webgpu fallback');
  });

  it('rejects bad input with clear errors on every backend', async () => {
    const x = () => tf.zeros([1, 5, 5, 4]) as tf.Tensor4D;
    const pwFilter = () => tf.zeros([1, 1, 4, 8]);
    const dwFilter = () => tf.zeros([3, 3, 8, 1]) as tf.Tensor4D;
    const op = fused.pointwiseDepthwiseConv2d;
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        'no dwFilter',
        () => op({ x: x(), pwFilter: pwFilter() } as unknown as Parameters<typeof op>[0]),
        /'dwFilter' is required/,
      ],
      [
        'rank-2 x',
        () =>
          op({ x: tf.zeros([5, 4]) as unknown as tf.Tensor4D, pwFilter: pwFilter(), dwFilter: dwFilter() }),
        /rank 4/,
      ],
      [
        'dilation 2',
        () => op({ x: x(), pwFilter: pwFilter(), dwFilter: dwFilter(), dilations: [2, 1] }),
        /dilation/,
      ],
      [
        'multiplier 2',
        () => op({ x: x(), pwFilter: pwFilter(), dwFilter: tf.zeros([3, 3, 8, 2]) as tf.Tensor4D }),
        /multiplier/,
      ],
      ['NCHW', () => op({ x: x(), pwFilter: pwFilter(), dwFilter: dwFilter(), dataFormat: 'NCHW' }), /NHWC/],
      [
        'depthwise channels',
        () => op({ x: x(), pwFilter: pwFilter(), dwFilter: tf.zeros([3, 3, 4, 1]) as tf.Tensor4D }),
        /channels/,
      ],
      [
        'non-square kernel',
        () => op({ x: x(), pwFilter: pwFilter(), dwFilter: tf.zeros([3, 1, 8, 1]) as tf.Tensor4D }),
        /square/,
      ],
      [
        '9x9 kernel',
        () => op({ x: x(), pwFilter: pwFilter(), dwFilter: tf.zeros([9, 9, 8, 1]) as tf.Tensor4D }),
        /7x7/,
      ],
      [
        'leakyrelu alpha NaN',
        () =>
          op({
            x: x(),
            pwFilter: pwFilter(),
            dwFilter: dwFilter(),
            dwActivation: 'leakyrelu',
            dwLeakyreluAlpha: NaN,
          }),
        /finite/,
      ],
      [
        'prelu weights for relu',
        () =>
          op({ x: x(), pwFilter: pwFilter(), dwFilter: dwFilter(), pwPreluActivationWeights: tf.zeros([8]) }),
        /PReLU weights given/,
      ],
    ];
    for (const backend of ['webgpu-fused', 'cpu']) {
      await tf.setBackend(backend);
      for (const [name, call, message] of cases) {
        const before = tf.memory().numTensors;
        tf.tidy(() => expect(call).withContext(`${backend}: ${name}`).toThrowError(message));
        expect(tf.memory().numTensors).withContext(`${backend}: ${name} leaked`).toBe(before);
      }
    }
    await tf.setBackend('webgpu-fused');
  });
});
