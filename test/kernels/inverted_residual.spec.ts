import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import { fused, registerWebGPUFusedBackend } from '../../src/index';
import { kernelLimitsOf } from '../../src/kernels/fused_conv_util';
import { isSupported } from '../../src/kernels/FusedInvertedResidual';
import { irTileFits } from '../../src/kernels/inverted_residual_tile';
import { FusedPadding, IrTile, KernelLimits } from '../../src/kernels/types';
import { computeOn } from '../helpers/backends';
import { expectAllClose } from '../helpers/compare';
import { describeFused, fusedBackend } from '../helpers/describe';
import { IN_NODE } from '../helpers/node_models';
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

interface BlockCase {
  n: number;
  h: number;
  w: number;
  cin: number;
  m: number;
  cout: number;
  k: number;
  stride: number;
  pad: FusedPadding;
  residual: boolean;
  expand: StageCase;
  dw: StageCase;
  project: StageCase;
  tile?: Partial<IrTile>;
  x: Float32Array;
  expandW: Float32Array;
  dwW: Float32Array;
  projectW: Float32Array;
}

type BlockShape = Pick<
  BlockCase,
  'n' | 'h' | 'w' | 'cin' | 'm' | 'cout' | 'k' | 'stride' | 'pad' | 'residual'
>;

function makeCase(
  rng: Random,
  shape: BlockShape,
  stages: { expand?: StageCase; dw?: StageCase; project?: StageCase } = {},
  tile?: Partial<IrTile>,
): BlockCase {
  const { n, h, w, cin, m, cout, k, stride, pad } = shape;
  const { outHeight: oh, outWidth: ow } = depthwiseOutSize([n, h, w, m], k, stride, pad);
  return {
    ...shape,
    expand: stages.expand ?? randomStage(rng, h, w, m),
    dw: stages.dw ?? randomStage(rng, oh, ow, m),
    project: stages.project ?? randomStage(rng, oh, ow, cout),
    tile,
    x: rng.array(n * h * w * cin),
    expandW: rng.array(cin * m, -1 / Math.sqrt(cin), 1 / Math.sqrt(cin)),
    dwW: rng.array(k * k * m, -0.5, 0.5),
    projectW: rng.array(m * cout, -1 / Math.sqrt(m), 1 / Math.sqrt(m)),
  };
}

function label(t: BlockCase): string {
  return (
    `[${t.n},${t.h},${t.w},${t.cin}] -> ${t.m} k${t.k} s${t.stride} pad=${describePadding(t.pad)} -> ${t.cout}` +
    `${t.residual ? ' + x' : ''}; ${stageLabel('expand', t.expand)}, ${stageLabel('dw', t.dw)}, ` +
    `${stageLabel('project', t.project)}` +
    (t.tile ? ` tile ${JSON.stringify(t.tile)}` : '')
  );
}

function weightsOf(t: BlockCase) {
  const expand = stageTensors(t.expand);
  const dw = stageTensors(t.dw);
  const project = stageTensors(t.project);
  return {
    expandFilter: tf.tensor4d(t.expandW, [1, 1, t.cin, t.m]),
    expandBias: expand.bias,
    expandPreluActivationWeights: expand.preluWeights,
    dwFilter: tf.tensor4d(t.dwW, [t.k, t.k, t.m, 1]),
    dwBias: dw.bias,
    dwPreluActivationWeights: dw.preluWeights,
    projectFilter: tf.tensor2d(t.projectW, [t.m, t.cout]),
    projectBias: project.bias,
    projectPreluActivationWeights: project.preluWeights,
  };
}

function attrsOf(t: BlockCase) {
  return {
    strides: t.stride,
    pad: t.pad,
    residual: t.residual,
    expandActivation: t.expand.activation,
    expandLeakyreluAlpha: t.expand.leakyreluAlpha,
    dwActivation: t.dw.activation,
    dwLeakyreluAlpha: t.dw.leakyreluAlpha,
    projectActivation: t.project.activation,
    projectLeakyreluAlpha: t.project.leakyreluAlpha,
    tile: t.tile,
  };
}

function fusedOp(t: BlockCase, packFirst = false): tf.Tensor {
  const weights = weightsOf(t);
  const packed = packFirst ? fused.packInvertedResidual(weights) : undefined;
  const y = fused.invertedResidual({
    x: tf.tensor4d(t.x, [t.n, t.h, t.w, t.cin]),
    ...weights,
    ...attrsOf(t),
    packed,
  });
  packed?.dispose();
  return y;
}

/** The block with plain tfjs ops (no fused op, no package code). */
function reference(t: BlockCase): tf.Tensor {
  const x = tf.tensor4d(t.x, [t.n, t.h, t.w, t.cin]);
  const expanded = referenceEpilogue(
    tf.conv2d(x, tf.tensor4d(t.expandW, [1, 1, t.cin, t.m]), 1, 'valid'),
    stageTensors(t.expand),
  );
  const dw = referenceEpilogue(
    tf.depthwiseConv2d(expanded, tf.tensor4d(t.dwW, [t.k, t.k, t.m, 1]), t.stride, t.pad as 'same'),
    stageTensors(t.dw),
  );
  const out = referenceEpilogue(
    tf.conv2d(dw, tf.tensor4d(t.projectW, [1, 1, t.m, t.cout]), 1, 'valid'),
    stageTensors(t.project),
  );
  return t.residual ? tf.add(out, x) : out;
}

const runFused = (t: BlockCase, backendName = 'webgpu-fused') =>
  computeFusedChecked(() => fusedOp(t), label(t), backendName);

const expectMatchesStock = (t: BlockCase, packFirst = false) =>
  expectFusedMatchesStock(
    () => fusedOp(t, packFirst),
    () => reference(t),
    label(t),
  );

function randomTile(rng: Random, k: number, stride: number, cin: number, limits: KernelLimits): IrTile {
  for (;;) {
    const threadFilters = rng.pick([4, 8, 16]);
    const tile: IrTile = {
      tileH: rng.int(1, 8),
      tileW: rng.int(1, 8),
      filters: threadFilters * rng.pick([1, 2, 3, 4]),
      chunk: rng.pick([4, 8, 12, 16, 32]),
      threadPixels: rng.pick([1, 2, 3, 4]),
      threadFilters,
      expandPositions: rng.pick([1, 2, 3, 4, 6]),
      splits: rng.pick([1, 1, 2, 3, 5]),
      stageWeights: rng.bool(0.5),
      expandVecs: rng.pick([1, 1, 2, 4]),
      reduce: rng.pick(['inline', 'inline', 'pass'] as const),
    };
    if (irTileFits(tile, { kernelSize: k, strides: [stride, stride], inChannels: cin }, limits).supported)
      return tile;
  }
}

/** The 11 distinct expand → depthwise → project blocks of nsfwjs mobilenet_v2_mid (16 blocks in all). */
const MOBILENET_V2_MID_BLOCKS: Array<[number, number, number, number, number, boolean]> = [
  // [h, cin, m, stride, cout, residual]
  [112, 24, 144, 2, 32, false],
  [56, 32, 192, 1, 32, true],
  [56, 32, 192, 2, 48, false],
  [28, 48, 288, 1, 48, true],
  [28, 48, 288, 2, 88, false],
  [14, 88, 528, 1, 88, true],
  [14, 88, 528, 1, 136, false],
  [14, 136, 816, 1, 136, true],
  [14, 136, 816, 2, 224, false],
  [7, 224, 1344, 1, 224, true],
  [7, 224, 1344, 1, 448, false],
];

describeFused('FusedInvertedResidual', () => {
  it('matches stock ops on webgpu and cpu over random shapes, attributes and tiles', async () => {
    const rng = new Random(20261127);
    const limits = kernelLimitsOf(fusedBackend().limits);
    for (let i = 0; i < 10; i++) {
      const k = rng.pick([1, 3, 3, 5, 7]);
      const stride = rng.pick([1, 1, 2]);
      const pad = rng.pick(PADDINGS);
      const minSize = pad === 'valid' ? k : 1;
      const cin = rng.pick([1, 3, 4, 5, 8, 12, 16, 24]);
      const h = rng.int(minSize, 11);
      const w = rng.int(minSize, 11);
      const info = depthwiseOutSize([1, h, w, 4], k, stride, pad);
      if (info.outHeight < 1 || info.outWidth < 1) {
        i--; // padding smaller than the kernel: an empty output, not a block
        continue;
      }
      const residualFits = info.outHeight === h && info.outWidth === w;
      const residual = residualFits && rng.bool(0.6);
      const shape: BlockShape = {
        n: rng.pick([1, 1, 2, 3]),
        h,
        w,
        cin,
        m: rng.pick([4, 6, 13, 24, 36, 48, 72]),
        cout: residual ? cin : rng.pick([1, 4, 7, 8, 16, 20]),
        k,
        stride,
        pad,
        residual,
      };
      const tile = rng.bool(0.6) ? randomTile(rng, k, stride, cin, limits) : undefined;
      await expectMatchesStock(makeCase(rng, shape, {}, tile));
    }
  });

  it('applies every activation on all three stages, with and without the residual', async () => {
    const rng = new Random(31);
    const n = ALL_ACTIVATIONS.length;
    for (let i = 0; i < n; i++) {
      const shape: BlockShape = {
        n: 1,
        h: 6,
        w: 5,
        cin: 8,
        m: 20,
        cout: 8,
        k: 3,
        stride: 1,
        pad: 'same',
        residual: i % 2 === 0,
      };
      const stages = {
        expand: randomStage(rng, 6, 5, 20, ALL_ACTIVATIONS[i]),
        dw: randomStage(rng, 6, 5, 20, ALL_ACTIVATIONS[(i + 3) % n]),
        project: randomStage(rng, 6, 5, 8, ALL_ACTIVATIONS[(i + 5) % n]),
      };
      await expectMatchesStock(makeCase(rng, shape, stages));
    }
  });

  it('runs every block shape of MobileNetV2 (width 1.4), weights packed once', async () => {
    if (!IN_NODE) {
      // Full 224² blocks take minutes on SwiftShader: run once, in the Node runner.
      pending('runs in the Node runner only');
      return;
    }
    const rng = new Random(40);
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
    for (const [h, cin, m, stride, cout, residual] of MOBILENET_V2_MID_BLOCKS) {
      const shape: BlockShape = { n: 1, h, w: h, cin, m, cout, k: 3, stride, pad: 'same', residual };
      const stages = { expand: relu6(m), dw: relu6(m), project: linear(cout) };
      // 8×8 blocks unsplit: the least halo recompute, which SwiftShader pays on the CPU (the
      // default tiles, small and split at batch 1, are covered by the specs above and on GPUs).
      const side = Math.min(8, Math.ceil(h / stride));
      const tile = {
        tileH: side,
        tileW: side,
        chunk: 16,
        threadPixels: 8,
        expandPositions: 4,
        stageWeights: false,
      };
      await expectMatchesStock(makeCase(rng, shape, stages, tile), true);
    }
  });

  it('gives identical results through different tiles, split or not (different programs)', async () => {
    const rng = new Random(3);
    const base = makeCase(rng, {
      n: 2,
      h: 9,
      w: 11,
      cin: 12,
      m: 40,
      cout: 12,
      k: 3,
      stride: 1,
      pad: 'same',
      residual: true,
    });
    const tiles: IrTile[] = [
      { tileH: 4, tileW: 4, filters: 12, chunk: 8, threadPixels: 1, threadFilters: 4, expandPositions: 4 },
      { tileH: 3, tileW: 8, filters: 16, chunk: 16, threadPixels: 2, threadFilters: 8, expandPositions: 2 },
      { tileH: 2, tileW: 5, filters: 4, chunk: 4, threadPixels: 3, threadFilters: 4, expandPositions: 1 },
      {
        tileH: 1,
        tileW: 7,
        filters: 12,
        chunk: 8,
        threadPixels: 1,
        threadFilters: 4,
        expandPositions: 3,
        splits: 2,
      },
      {
        tileH: 5,
        tileW: 5,
        filters: 16,
        chunk: 4,
        threadPixels: 2,
        threadFilters: 16,
        expandPositions: 6,
        splits: 4,
      },
      {
        tileH: 3,
        tileW: 8,
        filters: 16,
        chunk: 16,
        threadPixels: 2,
        threadFilters: 8,
        expandPositions: 2,
        stageWeights: true,
      },
      {
        tileH: 1,
        tileW: 7,
        filters: 12,
        chunk: 8,
        threadPixels: 1,
        threadFilters: 4,
        expandPositions: 3,
        splits: 2,
        stageWeights: true,
      },
      {
        tileH: 4,
        tileW: 6,
        filters: 12,
        chunk: 16,
        threadPixels: 4,
        threadFilters: 4,
        expandPositions: 3,
        expandVecs: 2,
      },
      {
        tileH: 6,
        tileW: 3,
        filters: 12,
        chunk: 16,
        threadPixels: 2,
        threadFilters: 4,
        expandPositions: 1,
        expandVecs: 4,
        stageWeights: true,
        splits: 3,
      },
    ];
    // The split tiles with 2 and 4 splits again, added up inline instead of by the (default) reduce pass.
    tiles.push({ ...tiles[3], reduce: 'inline' }, { ...tiles[4], reduce: 'inline' });
    const backend = fusedBackend();
    const keys = new Set<string>();
    const run = backend.runWebGPUProgram.bind(backend);
    const spy = spyOn(backend, 'runWebGPUProgram').and.callFake((program, ...rest) => {
      // Packing per call runs stock programs too; count the block's own.
      if (program.shaderKey.startsWith('invRes')) keys.add(program.shaderKey);
      return run(program, ...rest);
    });
    const results: Float32Array[] = [];
    for (const tile of tiles) {
      results.push((await runFused({ ...base, tile })).values);
    }
    spy.and.callThrough();
    // A block program per tile and the reduce programs of the split tiles that use a pass (2, 3 and 4 splits).
    expect(keys.size).toBe(tiles.length + 3);
    const expected = await computeOn('cpu', () => reference(base));
    for (let i = 0; i < results.length; i++) {
      expectAllClose(results[i], expected.values, { atol: 1e-4, rtol: 1e-4 }, JSON.stringify(tiles[i]));
    }
  });

  it('gives bitwise the same result on every run of a many-workgroup split block (pass and inline)', async () => {
    // A MobileNetV2 block shape with hundreds of workgroups per dispatch: on a
    // real GPU a cross-workgroup race in the split reduction shows up here as
    // differing runs (it did, on an H100, before the inline reduction used atomics).
    const rng = new Random(21);
    const shape = {
      n: 1,
      h: 28,
      w: 28,
      cin: 48,
      m: 288,
      cout: 48,
      k: 3,
      stride: 1,
      pad: 'same' as const,
      residual: true,
    };
    const base = makeCase(rng, shape);
    const split = { tileH: 4, tileW: 8, filters: 48, chunk: 16, threadPixels: 2, threadFilters: 4 };
    for (const tile of [
      { ...split, expandPositions: 2, splits: 9 },
      { ...split, expandPositions: 2, splits: 18, reduce: 'inline' as const },
    ]) {
      const first = (await runFused({ ...base, tile })).values;
      for (let run = 1; run < 6; run++) {
        const again = (await runFused({ ...base, tile })).values;
        expect(again)
          .withContext(`${JSON.stringify(tile)} run ${run}`)
          .toEqual(first);
      }
    }
  });

  it('adds split partial sums inline in one dispatch and leaves the scratch clean for the next call', async () => {
    const rng = new Random(12);
    const limits = kernelLimitsOf(fusedBackend().limits);
    const backend = fusedBackend();
    let dispatches = 0;
    const run = backend.runWebGPUProgram.bind(backend);
    const spy = spyOn(backend, 'runWebGPUProgram').and.callFake((program, ...rest) => {
      if (program.shaderKey.startsWith('invRes')) dispatches++;
      return run(program, ...rest);
    });
    // Splits 2 (one reduction group), 7 (groups of 3, the last of one) and 12 (three groups of 4);
    // two geometries interleaved, each called three times on new inputs.
    const cases = [2, 7, 12].flatMap((splits) =>
      [
        { n: 2, h: 7, w: 9, cin: 8, m: 96, cout: 20, k: 3, stride: 1, pad: 'same' as const, residual: false },
        {
          n: 1,
          h: 10,
          w: 6,
          cin: 12,
          m: 100,
          cout: 12,
          k: 5,
          stride: 1,
          pad: 'same' as const,
          residual: true,
        },
      ].map((shape) => ({ shape, splits })),
    );
    for (let round = 0; round < 3; round++) {
      for (const { shape, splits } of cases) {
        const tile: IrTile = {
          tileH: 3,
          tileW: 4,
          filters: Math.ceil(shape.cout / 4) * 4,
          chunk: 8,
          threadPixels: 2,
          threadFilters: 4,
          expandPositions: 2,
          splits,
          reduce: 'inline',
        };
        expect(
          irTileFits(tile, { kernelSize: shape.k, strides: [1, 1], inChannels: shape.cin }, limits),
        ).toEqual({
          supported: true,
        });
        const t = { ...makeCase(rng, shape), tile };
        const before = dispatches;
        const result = await runFused(t);
        // Packing per call runs no block program: one block dispatch, no reduce pass.
        expect(dispatches - before).toBe(1);
        const expected = await computeOn('cpu', () => reference(t));
        expectAllClose(
          result.values,
          expected.values,
          { atol: 1e-4, rtol: 1e-4 },
          `${label(t)} round ${round}`,
        );
      }
    }
    spy.and.callThrough();
  });

  it('is correct on a device with the WebGPU default limits (8 storage buffers, 16 KiB)', async () => {
    registerWebGPUFusedBackend('webgpu-fused-defaults', { limits: 'default' });
    try {
      expect(await tf.setBackend('webgpu-fused-defaults')).toBe(true);
      const limits = kernelLimitsOf(fusedBackend('webgpu-fused-defaults').limits);
      expect(limits.maxStorageBuffersPerShaderStage).toBe(8);
      const rng = new Random(6);
      // Nine weight tensors (every stage with bias and PReLU weights) + x: packed into one buffer.
      const prelu = (h: number, w: number, c: number) => randomStage(rng, h, w, c, 'prelu');
      const t = makeCase(
        rng,
        { n: 1, h: 14, w: 14, cin: 24, m: 96, cout: 24, k: 5, stride: 1, pad: 'same', residual: true },
        {
          expand: { ...prelu(14, 14, 96), bias: rng.array(96) },
          dw: { ...prelu(14, 14, 96), bias: rng.array(96) },
          project: { ...prelu(14, 14, 24), bias: rng.array(24) },
        },
      );
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
    const t = makeCase(rng, {
      n: 2,
      h: 6,
      w: 7,
      cin: 5,
      m: 18,
      cout: 5,
      k: 3,
      stride: 1,
      pad: 'same',
      residual: true,
    });
    const expected = await computeOn('cpu', () => reference(t));
    const onCpu = await computeOn('cpu', () => fusedOp(t));
    expectAllClose(onCpu.values, expected.values, { atol: 1e-5, rtol: 1e-5 }, 'cpu fallback');
    const onStockWebgpu = await computeOn('webgpu', () => fusedOp(t, true));
    expectAllClose(onStockWebgpu.values, expected.values, { atol: 1e-3, rtol: 1e-3 }, 'webgpu fallback');
  });

  it('rejects bad input with clear errors on every backend', async () => {
    const rng = new Random(9);
    const t = makeCase(rng, {
      n: 1,
      h: 5,
      w: 5,
      cin: 4,
      m: 8,
      cout: 6,
      k: 3,
      stride: 2,
      pad: 'same',
      residual: false,
    });
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        'no x',
        () =>
          fused.invertedResidual({ ...weightsOf(t) } as unknown as Parameters<
            typeof fused.invertedResidual
          >[0]),
        /'x' is required/,
      ],
      ['a residual with a different output shape', () => fusedOp({ ...t, residual: true }), /residual needs/],
      [
        'mismatched project filter',
        () =>
          fused.invertedResidual({
            ...weightsOf(t),
            x: tf.zeros([1, 5, 5, 4]) as tf.Tensor4D,
            projectFilter: tf.zeros([9, 6]),
          }),
        /projectFilter takes 9 channels/,
      ],
      [
        'wrong input channels',
        () => fused.invertedResidual({ ...weightsOf(t), x: tf.zeros([1, 5, 5, 3]) as tf.Tensor4D }),
        /x has 3 channels/,
      ],
      [
        'packed weights of another block',
        () => {
          const other = fused.packInvertedResidual({
            ...weightsOf(t),
            projectFilter: tf.zeros([8, 7]),
            projectBias: undefined,
            projectPreluActivationWeights: undefined,
          });
          try {
            return fused.invertedResidual({
              ...weightsOf(t),
              x: tf.zeros([1, 5, 5, 4]) as tf.Tensor4D,
              packed: other,
            });
          } finally {
            other.dispose();
          }
        },
        /packed from weights of other shapes/,
      ],
      [
        'a 9x9 depthwise kernel',
        () =>
          fused.invertedResidual({
            ...weightsOf(t),
            x: tf.zeros([1, 9, 9, 4]) as tf.Tensor4D,
            dwFilter: tf.zeros([9, 9, 8, 1]) as tf.Tensor4D,
          }),
        /up to 7x7/,
      ],
    ];
    for (const backendName of ['webgpu-fused', 'cpu']) {
      await tf.setBackend(backendName);
      for (const [what, f, message] of cases) {
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          expect(f).withContext(`${what} on ${backendName}`).toThrowError(message);
        });
        expect(tf.memory().numTensors).withContext(`${what} leaked`).toBe(before);
      }
    }
    await tf.setBackend('webgpu-fused');
    const tooBig: Partial<IrTile> = { tileH: 32, tileW: 32, threadPixels: 1 };
    await expectAsync(runFused({ ...t, tile: tooBig })).toBeRejectedWithError(/invocations exceed/);
  });

  it('answers isSupported from shapes alone, as the planner asks', () => {
    const limits = kernelLimitsOf(fusedBackend().limits);
    const layout = fused.packInvertedResidual({
      expandFilter: tf.zeros([8, 16]),
      dwFilter: tf.zeros([3, 3, 16, 1]) as tf.Tensor4D,
      projectFilter: tf.zeros([16, 8]),
    });
    try {
      const attrs = {
        layout: layout.layout,
        strides: 1,
        pad: 'same' as const,
        expandActivation: 'relu6' as const,
        dwActivation: 'relu6' as const,
        projectActivation: 'linear' as const,
        residual: true,
      };
      expect(isSupported({ x: [1, 8, 8, 8], weights: [layout.layout.size] }, attrs, limits).supported).toBe(
        true,
      );
      const strided = isSupported(
        { x: [1, 8, 8, 8], weights: [layout.layout.size] },
        { ...attrs, strides: 2 },
        limits,
      );
      expect(strided.supported).toBe(false);
      expect(strided.reason).toMatch(/residual/);
    } finally {
      layout.dispose();
    }
  });
});
