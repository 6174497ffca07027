import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import { registerWebGPUFusedBackend } from '../../src/index';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { POINTWISE_FLAG, runPointwiseConv2D } from '../../src/kernels/pointwise_conv2d';
import {
  defaultPointwiseTile,
  PointwiseTile,
  pwTileFits,
  pwWorkgroupCount,
} from '../../src/kernels/pointwise_tile';
import { DEFAULT_LIMITS, FusedActivation } from '../../src/kernels/types';
import { computeOn } from '../helpers/backends';
import { expectAllClose } from '../helpers/compare';
import { describeFused, describePure, fusedBackend } from '../helpers/describe';
import {
  expectFusedMatchesStock,
  randomStage,
  referenceEpilogue,
  StageCase,
  stageLabel,
  stageTensors,
} from '../helpers/fused_cases';
import { Random } from '../helpers/random';

/** The activations tfjs's fused conv2d takes. */
const TF_ACTIVATIONS: FusedActivation[] = ['linear', 'relu', 'relu6', 'prelu', 'leakyrelu', 'elu', 'sigmoid'];

interface PwCase {
  n: number;
  h: number;
  w: number;
  c: number;
  f: number;
  stage: StageCase;
  x: Float32Array;
  filter: Float32Array;
}

function makeCase(
  rng: Random,
  n: number,
  h: number,
  w: number,
  c: number,
  f: number,
  stage?: StageCase,
): PwCase {
  return {
    n,
    h,
    w,
    c,
    f,
    stage: stage ?? randomStage(rng, h, w, f, rng.pick(TF_ACTIVATIONS)),
    x: rng.array(n * h * w * c),
    filter: rng.array(c * f, -1 / Math.sqrt(c), 1 / Math.sqrt(c)),
  };
}

const label = (t: PwCase) => `[${t.n},${t.h},${t.w},${t.c}] -> ${t.f}; ${stageLabel('pw', t.stage)}`;

/** tfjs's fused conv2d: on webgpu-fused the pointwise kernel, elsewhere stock. */
function fusedConv(t: PwCase): tf.Tensor {
  const s = stageTensors(t.stage);
  return tf.fused.conv2d({
    x: tf.tensor4d(t.x, [t.n, t.h, t.w, t.c]),
    filter: tf.tensor4d(t.filter, [1, 1, t.c, t.f]),
    strides: 1,
    pad: 'same',
    bias: s.bias,
    activation: s.activation as tf.fused.Activation,
    preluActivationWeights: s.preluWeights,
    leakyreluAlpha: s.leakyreluAlpha,
  });
}

/** The same with unfused stock ops. */
function reference(t: PwCase): tf.Tensor {
  const y = tf.conv2d(
    tf.tensor4d(t.x, [t.n, t.h, t.w, t.c]),
    tf.tensor4d(t.filter, [1, 1, t.c, t.f]),
    1,
    'valid',
  );
  return referenceEpilogue(y, stageTensors(t.stage));
}

/** The pointwise program at its default tile, whatever the shape (tf.fused.conv2d hands some shapes to tfjs). */
function ours(t: PwCase): tf.Tensor {
  const limits = kernelLimitsOf(fusedBackend().limits);
  return withTile(
    t,
    defaultPointwiseTile({ pixels: t.n * t.h * t.w, inChannels: t.c, outChannels: t.f }, limits),
  );
}

/** The pointwise program with an explicit tile. */
function withTile(t: PwCase, tile: PointwiseTile): tf.Tensor {
  const backend = fusedBackend();
  const x = tf.tensor4d(t.x, [t.n, t.h, t.w, t.c]);
  const filter = tf.tensor4d(t.filter, [1, 1, t.c, t.f]);
  const s = stageTensors(t.stage);
  const out = runPointwiseConv2D(
    backend,
    x,
    filter,
    { strides: 1, pad: 'valid' },
    {
      bias: s.bias,
      activation: s.activation,
      preluWeights: s.preluWeights,
      leakyreluAlpha: s.leakyreluAlpha,
    },
    tile,
  );
  if (out == null) throw new Error('the pointwise program declined the case');
  return tf.engine().makeTensorFromTensorInfo(out);
}

/** Programs the fused backend ran in the current spec: class name and shader key. */
const ran: Array<{ name: string; key: string }> = [];

/** Program classes the fused backend runs during `fn`. */
async function programsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const from = ran.length;
  await fn();
  return ran.slice(from).map((p) => p.name);
}

describeFused('PointwiseConv2D (1x1 convolutions)', () => {
  beforeEach(() => {
    ran.length = 0;
    const backend = fusedBackend();
    const run = backend.runWebGPUProgram.bind(backend);
    spyOn(backend, 'runWebGPUProgram').and.callFake((program, ...rest) => {
      ran.push({ name: program.constructor.name, key: program.shaderKey });
      return run(program, ...rest);
    });
  });

  it('matches stock ops on webgpu and cpu over random shapes and epilogues', async () => {
    const rng = new Random(2024);
    const shapes: Array<[number, number, number, number, number]> = [
      [1, 7, 7, 1344, 224],
      [1, 1, 1, 4, 4],
      [3, 5, 3, 12, 20],
      [2, 9, 11, 24, 144],
      [3, 2, 2, 100, 8],
      [1, 17, 13, 8, 36],
      // Output channels not a multiple of 4 (detection heads): scalar filter, bias and output.
      [2, 5, 5, 388, 17],
      [1, 6, 4, 12, 34],
    ];
    for (const [n, h, w, c, f] of shapes) {
      const t = makeCase(rng, n, h, w, c, f);
      const programs = await programsDuring(() =>
        expectFusedMatchesStock(
          () => ours(t),
          () => reference(t),
          label(t),
        ),
      );
      expect(programs).withContext(label(t)).toContain('PointwiseConv2DProgram');
    }
  });

  it('applies every activation tfjs fuses, with PReLU weights of every broadcast shape', async () => {
    const rng = new Random(7);
    for (const activation of TF_ACTIVATIONS) {
      const t = makeCase(rng, 2, 6, 5, 16, 12, randomStage(rng, 6, 5, 12, activation));
      await expectFusedMatchesStock(
        () => ours(t),
        () => reference(t),
        label(t),
      );
    }
    for (const alphaShape of [
      [1, 1, 12],
      [6, 5, 12],
      [6, 1, 1],
    ]) {
      const stage: StageCase = {
        activation: 'prelu',
        leakyreluAlpha: 0.2,
        alphaShape,
        alpha: rng.array(
          alphaShape.reduce((a, b) => a * b, 1),
          0,
          0.5,
        ),
      };
      const t = makeCase(rng, 1, 6, 5, 16, 12, stage);
      await expectFusedMatchesStock(
        () => ours(t),
        () => reference(t),
        label(t),
      );
    }
  });

  it('gives identical results through different tiles, split or not (different programs)', async () => {
    const rng = new Random(11);
    const t = makeCase(rng, 2, 9, 7, 136, 40, {
      activation: 'relu6',
      leakyreluAlpha: 0.2,
      bias: rng.array(40),
    });
    const tiles: PointwiseTile[] = [
      { pixels: 64, filters: 64, threadPixels: 8, threadFilters: 8, chunk: 16 },
      { pixels: 32, filters: 32, threadPixels: 4, threadFilters: 4, chunk: 8 },
      { pixels: 16, filters: 8, threadPixels: 2, threadFilters: 8, chunk: 12 },
      { pixels: 128, filters: 16, threadPixels: 8, threadFilters: 16, chunk: 32 },
      { pixels: 32, filters: 32, threadPixels: 4, threadFilters: 4, chunk: 16, splits: 3 },
      { pixels: 64, filters: 16, threadPixels: 4, threadFilters: 8, chunk: 8, splits: 17 },
    ];
    const limits = kernelLimitsOf(fusedBackend().limits);
    const results: Float32Array[] = [];
    for (const tile of tiles) {
      expect(pwTileFits(tile, limits).supported).withContext(JSON.stringify(tile)).toBe(true);
      results.push((await computeOn('webgpu-fused', () => withTile(t, tile))).values);
    }
    const keys = new Set(ran.map((p) => p.key));
    expect([...keys].filter((k) => k.startsWith('pointwise_')).length).toBe(tiles.length);
    const expected = await computeOn('cpu', () => reference(t));
    for (let i = 0; i < results.length; i++) {
      expectAllClose(results[i], expected.values, { atol: 1e-4, rtol: 1e-4 }, JSON.stringify(tiles[i]));
    }
    // Unsplit tiles sum in the same channel order: bitwise equal.
    for (const i of [1, 2, 3]) {
      expect(Array.from(results[i])).withContext(JSON.stringify(tiles[i])).toEqual(Array.from(results[0]));
    }
  });

  it('runs tf.fused.conv2d where it beats tfjs (channels to split, large maps) and leaves the rest to tfjs', async () => {
    const rng = new Random(23);
    const stage = (f: number): StageCase => ({
      activation: 'relu6',
      leakyreluAlpha: 0.2,
      bias: rng.array(f),
    });
    const cases: Array<[PwCase, boolean]> = [
      // tfjs would run 14 workgroups: the input channels are split.
      [makeCase(rng, 1, 7, 7, 1344, 224, stage(224)), true],
      // A 17-channel head (scalar stores) on a small map: split too.
      [makeCase(rng, 1, 9, 9, 512, 17, stage(17)), true],
      // A large map with few input channels.
      [makeCase(rng, 1, 128, 128, 8, 24, stage(24)), true],
      // A small map without channels to split, and a projection to few channels.
      [makeCase(rng, 2, 9, 11, 24, 144, stage(144)), false],
      [makeCase(rng, 1, 64, 64, 144, 32, stage(32)), false],
    ];
    for (const [t, wins] of cases) {
      const programs = await programsDuring(() =>
        expectFusedMatchesStock(
          () => fusedConv(t),
          () => reference(t),
          label(t),
        ),
      );
      if (wins) expect(programs).withContext(label(t)).toContain('PointwiseConv2DProgram');
      else expect(programs).withContext(label(t)).not.toContain('PointwiseConv2DProgram');
    }
  });

  it("takes shapes tfjs's vec4 matmul cannot run: PReLU weights of fewer than 4 elements", async () => {
    const rng = new Random(29);
    for (const alphaShape of [[1], [1, 1, 1]]) {
      const t = makeCase(rng, 1, 4, 4, 16, 8, {
        activation: 'prelu',
        leakyreluAlpha: 0.2,
        alphaShape,
        alpha: rng.array(1, 0, 0.5),
      });
      const programs = await programsDuring(() =>
        expectFusedMatchesStock(
          () => fusedConv(t),
          () => reference(t),
          label(t),
        ),
      );
      expect(programs).withContext(label(t)).toContain('PointwiseConv2DProgram');
    }
  });

  it("hands other convolutions to tfjs's kernels, with the same results", async () => {
    const rng = new Random(13);
    const x = rng.array(2 * 8 * 8 * 12);
    const w3 = rng.array(9 * 12 * 8);
    const w1 = rng.array(12 * 8);
    const w6 = rng.array(12 * 6);
    const w16 = rng.array(6 * 8);
    const cases: Array<[string, () => tf.Tensor, number[]]> = [
      ['3x3', () => tf.conv2d(tf.tensor4d(x, [2, 8, 8, 12]), tf.tensor4d(w3, [3, 3, 12, 8]), 1, 'same'), []],
      [
        'stride 2',
        () => tf.conv2d(tf.tensor4d(x, [2, 8, 8, 12]), tf.tensor4d(w1, [1, 1, 12, 8]), 2, 'same'),
        [],
      ],
      [
        '6 filters',
        () => tf.conv2d(tf.tensor4d(x, [2, 8, 8, 12]), tf.tensor4d(w6, [1, 1, 12, 6]), 1, 'same'),
        [],
      ],
      [
        '6 channels',
        () =>
          tf.conv2d(
            tf.tensor4d(x.slice(0, 2 * 8 * 8 * 6), [2, 8, 8, 6]),
            tf.tensor4d(w16, [1, 1, 6, 8]),
            1,
            'same',
          ),
        [],
      ],
      [
        'explicit padding',
        () =>
          tf.conv2d(tf.tensor4d(x, [2, 8, 8, 12]), tf.tensor4d(w1, [1, 1, 12, 8]), 1, [
            [0, 0],
            [1, 0],
            [0, 1],
            [0, 0],
          ]),
        [],
      ],
    ];
    for (const [name, build] of cases) {
      let fusedValues: Float32Array | undefined;
      const programs = await programsDuring(async () => {
        fusedValues = (await computeOn('webgpu-fused', build)).values;
      });
      expect(programs).withContext(name).not.toContain('PointwiseConv2DProgram');
      const expected = await computeOn('cpu', build);
      expectAllClose(fusedValues!, expected.values, { atol: 1e-3, rtol: 1e-3 }, name);
    }
  });

  it('runs plain Conv2D and can be switched off with its flag', async () => {
    const rng = new Random(17);
    const t = makeCase(rng, 1, 2, 2, 512, 16, { activation: 'linear', leakyreluAlpha: 0.2 });
    const build = () =>
      tf.conv2d(tf.tensor4d(t.x, [1, 2, 2, 512]), tf.tensor4d(t.filter, [1, 1, 512, 16]), 1, 'valid');
    const expected = await computeOn('cpu', build);
    let values: Float32Array | undefined;
    const on = await programsDuring(async () => {
      values = (await computeOn('webgpu-fused', build)).values;
    });
    expect(on).toContain('PointwiseConv2DProgram');
    expectAllClose(values!, expected.values, { atol: 1e-4, rtol: 1e-4 }, 'conv2d');
    tf.env().set(POINTWISE_FLAG, false);
    try {
      const off = await programsDuring(() => computeOn('webgpu-fused', build));
      expect(off).not.toContain('PointwiseConv2DProgram');
    } finally {
      tf.env().set(POINTWISE_FLAG, true);
    }
  });

  it('is correct on a device with the WebGPU default limits (16 KiB, 256 invocations)', async () => {
    registerWebGPUFusedBackend('webgpu-fused-pwdefaults', { limits: 'default' });
    try {
      const rng = new Random(19);
      const t = makeCase(rng, 1, 7, 7, 512, 96);
      const result = await computeOn('webgpu-fused-pwdefaults', () => fusedConv(t));
      const expected = await computeOn('cpu', () => reference(t));
      expectAllClose(result.values, expected.values, { atol: 1e-3, rtol: 1e-3 }, 'default limits');
    } finally {
      await tf.setBackend('webgpu-fused');
      tf.removeBackend('webgpu-fused-pwdefaults');
    }
  });
});

describePure('pointwise tiles', () => {
  it('fit the WebGPU default limits and fill the GPU with splits on small maps', () => {
    for (const [pixels, inChannels, outChannels] of [
      [49, 1344, 224],
      [8 * 49, 1344, 224],
      [12544, 24, 144],
      [32 * 625, 384, 384],
      [1, 4, 4],
    ]) {
      const problem = { pixels, inChannels, outChannels };
      const tile = defaultPointwiseTile(problem, DEFAULT_LIMITS);
      expect(pwTileFits(tile, DEFAULT_LIMITS).supported).withContext(JSON.stringify(problem)).toBe(true);
      if (inChannels >= 1344) {
        expect(pwWorkgroupCount(problem, tile)).withContext(JSON.stringify(problem)).toBeGreaterThan(100);
      }
    }
    expect(
      pwTileFits({ pixels: 64, filters: 64, threadPixels: 2, threadFilters: 4, chunk: 16 }, DEFAULT_LIMITS)
        .reason,
    ).toMatch(/invocations exceed/);
  });
});
