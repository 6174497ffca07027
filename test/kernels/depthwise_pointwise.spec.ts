import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import { fused, registerWebGPUFusedBackend } from '../../src/index';
import { dwPwTileFits } from '../../src/kernels/depthwise_pointwise_tile';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { isSupported } from '../../src/kernels/FusedDepthwisePointwiseConv2D';
import { DwPwTile, FusedPadding, KernelLimits } from '../../src/kernels/types';
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

interface DwPwCase {
  n: number;
  h: number;
  w: number;
  c: number;
  f: number;
  k: number;
  stride: number;
  pad: FusedPadding;
  dw: StageCase;
  pw: StageCase;
  tile?: Partial<DwPwTile>;
  x: Float32Array;
  dwW: Float32Array;
  pwW: Float32Array;
}

function makeCase(
  rng: Random,
  shape: Pick<DwPwCase, 'n' | 'h' | 'w' | 'c' | 'f' | 'k' | 'stride' | 'pad'>,
  stages: { dw?: StageCase; pw?: StageCase } = {},
  tile?: Partial<DwPwTile>,
): DwPwCase {
  const { n, h, w, c, f, k, stride, pad } = shape;
  const { outHeight: oh, outWidth: ow } = depthwiseOutSize([n, h, w, c], k, stride, pad);
  return {
    ...shape,
    dw: stages.dw ?? randomStage(rng, oh, ow, c),
    pw: stages.pw ?? randomStage(rng, oh, ow, f),
    tile,
    x: rng.array(n * h * w * c),
    dwW: rng.array(k * k * c, -0.5, 0.5),
    pwW: rng.array(c * f, -1 / Math.sqrt(c), 1 / Math.sqrt(c)),
  };
}

function label(t: DwPwCase): string {
  return (
    `[${t.n},${t.h},${t.w},${t.c}] k${t.k} s${t.stride} pad=${describePadding(t.pad)} -> ${t.f}; ` +
    `${stageLabel('dw', t.dw)}, ${stageLabel('pw', t.pw)}` +
    (t.tile ? ` tile ${JSON.stringify(t.tile)}` : '')
  );
}

function fusedOp(t: DwPwCase): tf.Tensor {
  const dw = stageTensors(t.dw);
  const pw = stageTensors(t.pw);
  return fused.depthwisePointwiseConv2d({
    x: tf.tensor4d(t.x, [t.n, t.h, t.w, t.c]),
    dwFilter: tf.tensor4d(t.dwW, [t.k, t.k, t.c, 1]),
    pwFilter: tf.tensor4d(t.pwW, [1, 1, t.c, t.f]),
    strides: t.stride,
    pad: t.pad,
    dwBias: dw.bias,
    dwActivation: dw.activation,
    dwPreluActivationWeights: dw.preluWeights,
    dwLeakyreluAlpha: dw.leakyreluAlpha,
    pwBias: pw.bias,
    pwActivation: pw.activation,
    pwPreluActivationWeights: pw.preluWeights,
    pwLeakyreluAlpha: pw.leakyreluAlpha,
    tile: t.tile,
  });
}

/** The same computation with plain tfjs ops. */
function reference(t: DwPwCase): tf.Tensor {
  const hidden = tf.depthwiseConv2d(
    tf.tensor4d(t.x, [t.n, t.h, t.w, t.c]),
    tf.tensor4d(t.dwW, [t.k, t.k, t.c, 1]),
    t.stride,
    t.pad as 'same',
  );
  const dw = referenceEpilogue(hidden, stageTensors(t.dw));
  const pw = tf.conv2d(dw, tf.tensor4d(t.pwW, [1, 1, t.c, t.f]), 1, 'valid');
  return referenceEpilogue(pw, stageTensors(t.pw));
}

const runFused = (t: DwPwCase, backendName = 'webgpu-fused') =>
  computeFusedChecked(() => fusedOp(t), label(t), backendName);

const expectMatchesStock = (t: DwPwCase) =>
  expectFusedMatchesStock(
    () => fusedOp(t),
    () => reference(t),
    label(t),
  );

function randomTile(rng: Random, limits: KernelLimits): DwPwTile {
  for (;;) {
    const threadFilters = rng.pick([4, 8]);
    const tile: DwPwTile = {
      pixels: rng.pick([4, 8, 16, 32, 64, 128]),
      filters: threadFilters * rng.pick([1, 2, 4, 8]),
      channelChunk: rng.pick([4, 8, 16, 32]),
      threadPixels: rng.pick([1, 2, 4]),
      threadFilters,
      channelSplits: rng.pick([1, 1, 2, 3, 4]),
      workgroupSplits: rng.pick([1, 1, 2, 3]),
      threadOrder: rng.pick(['pixels', 'filters', 'grid'] as const),
    };
    if (dwPwTileFits(tile, limits).supported) return tile;
  }
}

describeFused('FusedDepthwisePointwiseConv2D', () => {
  it('matches stock ops on webgpu and cpu over random shapes, attributes and tiles', async () => {
    const rng = new Random(20261126);
    const limits = kernelLimitsOf(fusedBackend().limits);
    for (let i = 0; i < 16; i++) {
      const k = rng.pick([1, 3, 3, 5, 7]);
      const pad = rng.pick(PADDINGS);
      const minSize = pad === 'valid' ? k : 1;
      const shape = {
        n: rng.pick([1, 1, 3]),
        h: rng.int(minSize, 15),
        w: rng.int(minSize, 15),
        c: rng.pick([1, 3, 4, 5, 8, 12, 17, 24, 32, 48]),
        f: rng.pick([1, 2, 4, 6, 8, 13, 16, 24, 40]),
        k,
        stride: rng.pick([1, 2]),
        pad,
      };
      const info = depthwiseOutSize([shape.n, shape.h, shape.w, shape.c], k, shape.stride, pad);
      if (info.outHeight < 1 || info.outWidth < 1) {
        i--; // padding smaller than the kernel: an empty output, not a fusion case
        continue;
      }
      await expectMatchesStock(makeCase(rng, shape, {}, rng.bool(0.6) ? randomTile(rng, limits) : undefined));
    }
  });

  it('applies every activation on both stages', async () => {
    const rng = new Random(5);
    for (const activation of ALL_ACTIVATIONS) {
      const dw = randomStage(rng, 6, 5, 12, activation);
      const pw = randomStage(rng, 6, 5, 8, ALL_ACTIVATIONS[(ALL_ACTIVATIONS.indexOf(activation) + 3) % 9]);
      await expectMatchesStock(
        makeCase(rng, { n: 1, h: 6, w: 5, c: 12, f: 8, k: 3, stride: 1, pad: 'same' }, { dw, pw }),
      );
    }
  });

  it('handles edge shapes: 1x1 and 2x2 maps, stride 2 on even and odd sizes, batch 3', async () => {
    const rng = new Random(11);
    const shapes = [
      { n: 1, h: 1, w: 1, c: 7, f: 5, k: 3, stride: 1, pad: 'same' as const },
      { n: 3, h: 2, w: 2, c: 16, f: 12, k: 3, stride: 2, pad: 'same' as const },
      { n: 1, h: 8, w: 8, c: 24, f: 16, k: 3, stride: 2, pad: 'same' as const },
      { n: 2, h: 9, w: 7, c: 10, f: 6, k: 5, stride: 2, pad: 'same' as const },
      { n: 1, h: 9, w: 9, c: 8, f: 8, k: 7, stride: 1, pad: 'valid' as const },
    ];
    for (const shape of shapes) {
      await expectMatchesStock(makeCase(rng, shape));
    }
  });

  it('has no channel limit (MobileNetV2 7x7x1344 -> 224, and C = 1345)', async () => {
    const rng = new Random(12);
    const relu6 = (c: number): StageCase => ({
      activation: 'relu6',
      leakyreluAlpha: 0,
      bias: rng.array(c, -0.5, 0.5),
    });
    const linear = (c: number): StageCase => ({
      activation: 'linear',
      leakyreluAlpha: 0,
      bias: rng.array(c, -0.5, 0.5),
    });
    for (const c of [1344, 1345]) {
      const shape = { n: 1, h: 7, w: 7, c, f: 224, k: 3, stride: 1, pad: 'same' as const };
      await expectMatchesStock(makeCase(rng, shape, { dw: relu6(c), pw: linear(224) }));
    }
    // The channel loop split over 4 slices (the default for such small maps), explicitly.
    const split = {
      pixels: 8,
      filters: 32,
      channelChunk: 16,
      threadPixels: 1,
      threadFilters: 4,
      channelSplits: 4,
    };
    const shape = { n: 2, h: 5, w: 7, c: 333, f: 40, k: 3, stride: 2, pad: 'same' as const };
    await expectMatchesStock(makeCase(rng, shape, { dw: relu6(333), pw: linear(40) }, split));
  });

  it('splits the channel loop over workgroups, with every pointwise epilogue in the second pass', async () => {
    const rng = new Random(13);
    const backend = fusedBackend();
    const run = backend.runWebGPUProgram.bind(backend);
    let dispatches = 0;
    const spy = spyOn(backend, 'runWebGPUProgram').and.callFake((program, ...rest) => {
      dispatches++;
      return run(program, ...rest);
    });
    // Odd channel counts, F not a multiple of 4, chunks past C, PReLU weights
    // of each shape on the pointwise stage (bound to the reduce pass only).
    const cases: Array<[Partial<DwPwTile>, { n: number; h: number; w: number; c: number; f: number }]> = [
      [
        { pixels: 8, filters: 16, channelChunk: 8, threadPixels: 1, threadFilters: 4, workgroupSplits: 3 },
        { n: 2, h: 5, w: 6, c: 37, f: 13 },
      ],
      [
        {
          pixels: 16,
          filters: 32,
          channelChunk: 16,
          threadPixels: 2,
          threadFilters: 8,
          workgroupSplits: 4,
          channelSplits: 2,
        },
        { n: 1, h: 7, w: 7, c: 200, f: 40 },
      ],
      [
        { pixels: 32, filters: 8, channelChunk: 4, threadPixels: 4, threadFilters: 4, workgroupSplits: 16 },
        { n: 3, h: 4, w: 3, c: 30, f: 6 },
      ],
    ];
    const activations = ['prelu', 'relu6', 'leakyrelu', 'linear'] as const;
    let i = 0;
    for (const [tile, shape] of cases) {
      for (const stride of [1, 2]) {
        const activation = activations[i++ % activations.length];
        const { outHeight, outWidth } = depthwiseOutSize(
          [shape.n, shape.h, shape.w, shape.c],
          3,
          stride,
          'same',
        );
        const pw = randomStage(rng, outHeight, outWidth, shape.f, activation);
        if (i % 3 === 0) delete pw.bias;
        const t = makeCase(rng, { ...shape, k: 3, stride, pad: 'same' }, { pw }, tile);
        dispatches = 0;
        await expectMatchesStock(t);
        expect(dispatches).withContext(label(t)).toBeGreaterThanOrEqual(2);
      }
    }
    spy.and.callThrough();
  });

  it('gives identical results through different tile configurations (different programs)', async () => {
    const rng = new Random(3);
    const base = makeCase(rng, { n: 2, h: 11, w: 9, c: 20, f: 24, k: 3, stride: 1, pad: 'same' });
    const limits = kernelLimitsOf(fusedBackend().limits);
    const tiles: DwPwTile[] = [
      { pixels: 64, filters: 24, channelChunk: 16, threadPixels: 4, threadFilters: 4, depthwiseRun: 4 },
      { pixels: 16, filters: 8, channelChunk: 4, threadPixels: 1, threadFilters: 4 },
      { pixels: 128, filters: 32, channelChunk: 8, threadPixels: 4, threadFilters: 8 },
      { pixels: 9, filters: 12, channelChunk: 20, threadPixels: 3, threadFilters: 4 },
      { pixels: 64, filters: 32, channelChunk: 8, threadPixels: 8, threadFilters: 16 },
      // Runs of 8 pixels cross the 9-pixel rows: both depthwise paths run.
      { pixels: 64, filters: 24, channelChunk: 16, threadPixels: 4, threadFilters: 4, depthwiseRun: 8 },
      { pixels: 64, filters: 24, channelChunk: 16, threadPixels: 4, threadFilters: 4, depthwiseRun: 1 },
      // Consecutive invocations on consecutive filters instead of pixels.
      {
        pixels: 64,
        filters: 24,
        channelChunk: 16,
        threadPixels: 4,
        threadFilters: 4,
        threadOrder: 'filters',
      },
      {
        pixels: 64,
        filters: 32,
        channelChunk: 8,
        threadPixels: 8,
        threadFilters: 16,
        threadOrder: 'filters',
      },
      // Runs of invocations on a grid of pixels × filter vec4s: 16 × 2 lanes, then 8 × 4.
      { pixels: 64, filters: 24, channelChunk: 16, threadPixels: 4, threadFilters: 4, threadOrder: 'grid' },
      { pixels: 32, filters: 32, channelChunk: 8, threadPixels: 2, threadFilters: 8, threadOrder: 'grid' },
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
      expect(dwPwTileFits(tile, limits).supported).withContext(JSON.stringify(tile)).toBe(true);
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

  it('shares one program between strides where the tile runs single pixels, with each stride right', async () => {
    const rng = new Random(515);
    const tile: DwPwTile = {
      pixels: 16,
      filters: 16,
      channelChunk: 8,
      threadPixels: 2,
      threadFilters: 4,
      depthwiseRun: 1,
    };
    const backend = fusedBackend();
    const keys: string[] = [];
    const run = backend.runWebGPUProgram.bind(backend);
    const spy = spyOn(backend, 'runWebGPUProgram').and.callFake((program, ...rest) => {
      keys.push(program.shaderKey);
      return run(program, ...rest);
    });
    // The same epilogues (part of the program) at both strides.
    const stages = {
      dw: { bias: rng.array(12), activation: 'relu6' as const, leakyreluAlpha: 0.2 },
      pw: { bias: rng.array(16), activation: 'linear' as const, leakyreluAlpha: 0.2 },
    };
    const cases = [1, 2].map((stride) =>
      makeCase(rng, { n: 2, h: 13, w: 10, c: 12, f: 16, k: 3, stride, pad: 'same' }, stages, tile),
    );
    for (const t of cases) await expectMatchesStock(t);
    spy.and.callThrough();
    const fusedKeys = [...new Set(keys.filter((key) => key.startsWith('dwPw_')))];
    expect(fusedKeys.length).withContext(fusedKeys.join(' ')).toBe(1);
  });

  it('rejects tiles that exceed the device limits with a clear error', async () => {
    const rng = new Random(4);
    const t = makeCase(rng, { n: 1, h: 4, w: 4, c: 8, f: 8, k: 3, stride: 1, pad: 'same' });
    const tooManyInvocations = { pixels: 1024, threadPixels: 1, filters: 8, threadFilters: 4 };
    await expectAsync(runFused({ ...t, tile: tooManyInvocations })).toBeRejectedWithError(
      /invocations exceed/,
    );
    const tooMuchStorage = { pixels: 512, threadPixels: 8, channelChunk: 64 };
    await expectAsync(runFused({ ...t, tile: tooMuchStorage })).toBeRejectedWithError(/workgroup storage/);
  });

  it('is correct on a device with the WebGPU default limits (16 KiB, 256 invocations)', async () => {
    registerWebGPUFusedBackend('webgpu-fused-defaults', { limits: 'default' });
    try {
      expect(await tf.setBackend('webgpu-fused-defaults')).toBe(true);
      const limits = kernelLimitsOf(fusedBackend('webgpu-fused-defaults').limits);
      expect(limits.maxComputeWorkgroupStorageSize).toBe(16384);
      const rng = new Random(6);
      const t = makeCase(rng, { n: 1, h: 14, w: 14, c: 96, f: 40, k: 5, stride: 1, pad: 'same' });
      const bigTile = { pixels: 256, threadPixels: 1, channelChunk: 32, filters: 4, threadFilters: 4 };
      expect(
        isSupported(
          { x: [1, 14, 14, 96], dwFilter: [5, 5, 96, 1], pwFilter: [1, 1, 96, 40] },
          { strides: 1, pad: 'same', dwActivation: 'relu6', pwActivation: 'linear', tile: bigTile },
          limits,
        ).supported,
      ).toBe(false);
      const result = await runFused(t, 'webgpu-fused-defaults');
      const expected = await computeOn('cpu', () => reference(t));
      expectAllClose(result.values, expected.values, { atol: 1e-3, rtol: 1e-3 }, 'default limits');
    } finally {
      await tf.setBackend('webgpu-fused');
      tf.removeBackend('webgpu-fused-defaults');
    }
  });

  it('computes the same result with stock ops on backends without the kernel', async () => {
    const rng = new Random(8);
    const t = makeCase(rng, { n: 2, h: 6, w: 7, c: 9, f: 5, k: 3, stride: 2, pad: 'same' });
    const onCpu = await computeOn('cpu', () => fusedOp(t));
    const expected = await computeOn('cpu', () => reference(t));
    expectAllClose(onCpu.values, expected.values, { atol: 1e-5, rtol: 1e-5 }, 'cpu fallback');
    const onStockWebgpu = await computeOn('webgpu', () => fusedOp(t));
    expectAllClose(onStockWebgpu.values, expected.values, { atol: 1e-3, rtol: 1e-3 }, 'webgpu fallback');
  });

  it('rejects bad input with clear errors on every backend', async () => {
    const x = () => tf.zeros([1, 5, 5, 4]) as tf.Tensor4D;
    const dwFilter = () => tf.zeros([3, 3, 4, 1]) as tf.Tensor4D;
    const pwFilter = () => tf.zeros([1, 1, 4, 8]);
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        'no pwFilter',
        () =>
          fused.depthwisePointwiseConv2d({ x: x(), dwFilter: dwFilter() } as unknown as Parameters<
            typeof fused.depthwisePointwiseConv2d
          >[0]),
        /'pwFilter' is required/,
      ],
      [
        'rank-3 x',
        () =>
          fused.depthwisePointwiseConv2d({
            x: tf.zeros([5, 5, 4]) as unknown as tf.Tensor4D,
            dwFilter: dwFilter(),
            pwFilter: pwFilter(),
          }),
        /rank 4/,
      ],
      [
        'dilation 2',
        () =>
          fused.depthwisePointwiseConv2d({
            x: x(),
            dwFilter: dwFilter(),
            pwFilter: pwFilter(),
            dilations: 2,
          }),
        /dilation/,
      ],
      [
        'multiplier 2',
        () =>
          fused.depthwisePointwiseConv2d({
            x: x(),
            dwFilter: tf.zeros([3, 3, 4, 2]) as tf.Tensor4D,
            pwFilter: tf.zeros([1, 1, 8, 8]),
          }),
        /multiplier/,
      ],
      [
        'NCHW',
        () =>
          fused.depthwisePointwiseConv2d({
            x: x(),
            dwFilter: dwFilter(),
            pwFilter: pwFilter(),
            dataFormat: 'NCHW',
          }),
        /NHWC/,
      ],
      [
        'channel mismatch',
        () =>
          fused.depthwisePointwiseConv2d({ x: x(), dwFilter: dwFilter(), pwFilter: tf.zeros([1, 1, 5, 8]) }),
        /input channels/,
      ],
      [
        '3x3 pointwise',
        () =>
          fused.depthwisePointwiseConv2d({ x: x(), dwFilter: dwFilter(), pwFilter: tf.zeros([3, 3, 4, 8]) }),
        /pwFilter/,
      ],
      [
        'prelu without weights',
        () =>
          fused.depthwisePointwiseConv2d({
            x: x(),
            dwFilter: dwFilter(),
            pwFilter: pwFilter(),
            dwActivation: 'prelu',
          }),
        /PReLU weights/,
      ],
      [
        'bad prelu shape',
        () =>
          fused.depthwisePointwiseConv2d({
            x: x(),
            dwFilter: dwFilter(),
            pwFilter: pwFilter(),
            pwActivation: 'prelu',
            pwPreluActivationWeights: tf.zeros([3]),
          }),
        /broadcast/,
      ],
      [
        'unknown activation',
        () =>
          fused.depthwisePointwiseConv2d({
            x: x(),
            dwFilter: dwFilter(),
            pwFilter: pwFilter(),
            dwActivation: 'tanh' as 'relu',
          }),
        /not supported/,
      ],
      [
        'wrong bias size',
        () =>
          fused.depthwisePointwiseConv2d({
            x: x(),
            dwFilter: dwFilter(),
            pwFilter: pwFilter(),
            pwBias: tf.zeros([4]),
          }),
        /bias/,
      ],
      [
        'int32 input',
        () =>
          fused.depthwisePointwiseConv2d({
            x: tf.zeros([1, 5, 5, 4], 'int32') as tf.Tensor4D,
            dwFilter: dwFilter(),
            pwFilter: pwFilter(),
          }),
        /float32/,
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
