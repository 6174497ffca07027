import '../setup';
import * as tf from '@tensorflow/tfjs-core';

import {
  explainFusion,
  FUSED_DW_PW_OP,
  FUSED_PW_DW_OP,
  fuseGraphModelArtifacts,
  loadGraphModel,
  precompile,
} from '../../src/graph-rewrite';
import { GraphIndex } from '../../src/graph-rewrite/graph_index';
import { isSoftwareAdapter, plannedShapes } from '../../src/graph-rewrite/load';
import { AdapterIdentity } from '../../src/planner';
import { attrString, GraphJson, NodeJson } from '../../src/graph-rewrite/model_json';
import { ShapeInference } from '../../src/graph-rewrite/shapes';
import { WeightTable } from '../../src/graph-rewrite/weights';
import { expectAllClose } from '../helpers/compare';
import { describeFused, describePure } from '../helpers/describe';
import { ModelBuilder, smoothImage } from './model_builder';
import { positivePatterns } from './patterns';
import { expectSameOutputs, runModel } from './run_models';

/** x → PW → Relu6 → DW → PW (+ residual): the inverted-residual block. */
function block(inputShape = [1, 9, 9, 8]): tf.io.ModelArtifacts {
  const b = new ModelBuilder(42);
  const x = b.input('x', inputShape);
  const p = b.pw('expand', x, 8, 24, { fused: ['BiasAdd', 'Relu6'] });
  const d = b.dw('dw', p, 3, 24, { fused: ['BiasAdd', 'Relu6'] });
  const q = b.pw('project', d, 24, 8, { fused: ['BiasAdd'] });
  b.op('out', 'AddV2', [x, q]);
  return b.artifacts(['x'], ['out']);
}

const topologyOf = (a: tf.io.ModelArtifacts) => a.modelTopology as { node: NodeJson[] };

function withNodes(a: tf.io.ModelArtifacts, edit: (nodes: NodeJson[]) => NodeJson[]): tf.io.ModelArtifacts {
  return { ...a, modelTopology: { ...topologyOf(a), node: edit(topologyOf(a).node.map((n) => ({ ...n }))) } };
}

describePure('graph errors: bad input is named, never silently rewritten', () => {
  it('a node without a name', () => {
    const a = withNodes(block(), (nodes) => [...nodes, { op: 'Relu' } as NodeJson]);
    expect(() => fuseGraphModelArtifacts(a)).toThrowError(/node #\d+ has no name/);
  });

  it('a node without an op', () => {
    const a = withNodes(block(), (nodes) => [...nodes, { name: 'broken' } as NodeJson]);
    expect(() => fuseGraphModelArtifacts(a)).toThrowError(/node 'broken' has no op/);
  });

  it('an input that names no node', () => {
    const a = withNodes(block(), (nodes) =>
      nodes.map((n) => (n.name === 'dw' ? { ...n, input: ['nope', ...n.input!.slice(1)] } : n)),
    );
    expect(() => fuseGraphModelArtifacts(a)).toThrowError(/node 'dw' reads 'nope', which is not a node/);
  });

  it('duplicate node names', () => {
    const a = withNodes(block(), (nodes) => [...nodes, { ...nodes[nodes.length - 1] }]);
    expect(() => fuseGraphModelArtifacts(a)).toThrowError(/duplicate node name 'out'/);
  });

  it('no modelTopology.node (a LayersModel or garbage)', () => {
    expect(() => fuseGraphModelArtifacts({ modelTopology: { class_name: 'Model' } })).toThrowError(
      /not a graph model/,
    );
    expect(() => fuseGraphModelArtifacts({ ...block(), modelTopology: undefined })).toThrowError(
      /no modelTopology/,
    );
  });

  it('weight data shorter than the manifest', () => {
    const a = block();
    const short = { ...a, weightData: (a.weightData as ArrayBuffer).slice(0, 100) };
    expect(() => fuseGraphModelArtifacts(short)).toThrowError(/missing weights: '[^']+' needs bytes/);
  });

  it('no weight data at all', () => {
    expect(() => fuseGraphModelArtifacts({ ...block(), weightData: undefined })).toThrowError(
      /missing weights: the manifest lists \d+ weights/,
    );
  });

  it('a constant the fold needs has no weights', () => {
    const b = new ModelBuilder(3);
    const x = b.input('x', [1, 9, 9, 8]);
    const d = b.dw('dw', x, 3, 8);
    b.nodes.push({
      name: 'gamma',
      op: 'Const',
      attr: {
        dtype: { type: 'DT_FLOAT' },
        value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '8' }] } } },
      },
    });
    const m = b.op('mul', 'Mul', [d, 'gamma']);
    b.op('out', 'Identity', [b.pw('pw', m, 8, 4)]);
    expect(() => fuseGraphModelArtifacts(b.artifacts(['x'], ['out']))).toThrowError(
      /constant 'gamma' has no entry in the weights manifest/,
    );
  });

  it('a dynamic height/width needs inputShape (or plan none)', () => {
    const a = block([-1, -1, -1, 8]);
    expect(() => fuseGraphModelArtifacts(a)).toThrowError(
      /input x \[-1,-1,-1,8\] has a dynamic size.*inputShape/,
    );
    expect(fuseGraphModelArtifacts(a, { plan: 'none' }).report.counts.pwdw.found).toBe(1);
    const { report } = fuseGraphModelArtifacts(a, { inputShape: [2, 17, 11, 8], plan: 'all' });
    expect(report.inputShapes).toEqual({ x: [2, 17, 11, 8] });
    // One fusion over the chain: the block or one of its pairs, as the plan prices them at this shape.
    expect(report.counts.pwdw.fused + report.counts.dwpw.fused + report.counts.pwdwpw.fused).toBe(1);
  });

  it('an inputShape that contradicts the model', () => {
    expect(() => fuseGraphModelArtifacts(block(), { inputShape: [1, 10, 9, 8] })).toThrowError(
      /inputShape \[1,10,9,8\] does not match input 'x'/,
    );
    expect(() => fuseGraphModelArtifacts(block(), { inputShape: { nope: [1] } })).toThrowError(
      /not a model input/,
    );
  });

  it('a saved plan naming a site the model does not have', () => {
    const { report } = fuseGraphModelArtifacts(block(), { plan: 'all', blocks: 'none' });
    const plan = {
      ...report.plan!,
      sites: report.plan!.sites.map((s) => ({ ...s, id: `${s.id}x`, decision: 'fused' as const })),
    };
    expect(() => fuseGraphModelArtifacts(block(), { plan })).toThrowError(
      /saved plan fuses site '.*x', which is not/,
    );
    expect(() => fuseGraphModelArtifacts(block(), { plan: { version: 99 } as never })).toThrowError(
      /not a version 1/,
    );
    expect(() => fuseGraphModelArtifacts(block(), { plan: 'most' as never })).toThrowError(
      /option plan must be/,
    );
  });

  it('keep names an unknown node', () => {
    expect(() => fuseGraphModelArtifacts(block(), { keep: ['nope:0'] })).toThrowError(/keep names 'nope:0'/);
  });
});

describePure('graph options and report', () => {
  it("plan 'none' rewrites nothing and says so", () => {
    const a = block();
    const { artifacts, report } = fuseGraphModelArtifacts(a, { plan: 'none' });
    expect(artifacts).toBe(a);
    expect(report.sites.filter((s) => s.kind !== 'pwdwpw').every((s) => s.reason === "policy 'none'")).toBe(
      true,
    );
  });

  it('a saved plan reproduces its decisions and tiles', () => {
    const first = fuseGraphModelArtifacts(block(), { plan: 'all' });
    const saved = JSON.parse(JSON.stringify(first.report.plan));
    const again = fuseGraphModelArtifacts(block(), { plan: saved });
    expect(again.report.policy).toBe('saved plan');
    const fused = (r: typeof first.report) =>
      r.sites.filter((s) => s.decision === 'fused').map((s) => [s.id, s.tile]);
    expect(fused(again.report)).toEqual(fused(first.report));
    expect(topologyOf(again.artifacts).node).toEqual(topologyOf(first.artifacts).node);
  });

  it('on-device measurements (autotune) decide instead of the cost model', () => {
    const first = fuseGraphModelArtifacts(block(), { plan: 'all', blocks: 'none' }).report.plan!;
    const site = (kind: string) => first.sites.find((s) => s.kind === kind)!;
    const measured = {
      [site('dwpw').id]: { unfusedMs: 2, fusedMs: 1, tile: site('dwpw').fused!.tile },
      [site('pwdw').id]: { unfusedMs: 1, fusedMs: 3, tile: site('pwdw').fused!.tile },
    };
    const { report } = fuseGraphModelArtifacts(block(), { plan: 'auto', measured, blocks: 'none' });
    expect(report.counts.dwpw.fused).toBe(1);
    expect(report.counts.pwdw.fused).toBe(0);
    expect(report.sites.find((s) => s.kind === 'dwpw')!.reason).toMatch(/measured/);
  });

  it('keep protects an intermediate the caller reads', () => {
    const { report } = fuseGraphModelArtifacts(block(), { plan: 'all', keep: ['dw:0'] });
    // dw may end a fused site (its name survives) but not sit inside one.
    const dwpw = report.sites.find((s) => s.kind === 'dwpw')!;
    expect(dwpw.legal).toBe(false);
    expect(dwpw.reason).toMatch(/'dw' is a model output/);
    expect(Object.keys(report.replaced)).not.toContain('dw');
    expect(report.counts.pwdw.fused).toBe(1);
  });

  it('the report lists every candidate with its reason; explain renders it', () => {
    const { report } = fuseGraphModelArtifacts(block(), { plan: 'all', blocks: 'none' });
    expect(report.counts).toEqual({
      dwpw: { found: 1, legal: 1, fused: jasmine.any(Number) },
      pwdw: { found: 1, legal: 1, fused: jasmine.any(Number) },
      pwdwpw: { found: 1, legal: 1, fused: 0 },
    });
    expect(report.counts.dwpw.fused + report.counts.pwdw.fused).toBe(1);
    const text = explainFusion(report);
    expect(text).toContain('pwdwpw:expand>dw>project');
    expect(text).toContain("blocks 'none'");
    expect(text).toContain('Fusion plan v1');
    for (const site of report.sites) expect(site.reason.length).toBeGreaterThan(0);
  });

  it('folded weights replace the originals in the manifest', () => {
    const t = positivePatterns().find((p) => p.name.startsWith('FusedBatchNormV3'))!;
    const { artifacts, report } = fuseGraphModelArtifacts(t.artifacts, { plan: 'all' });
    expect(report.addedWeights.sort()).toEqual([
      'out/fused_dw_bias',
      'out/fused_dw_filter',
      'out/fused_pw_bias',
      'out/fused_pw_filter',
    ]);
    expect(report.removedWeights).toContain('bn1/gamma');
    expect(report.removedWeights).toContain('dw/w');
    const names = new Set(artifacts.weightSpecs!.map((w) => w.name));
    for (const name of report.removedWeights) expect(names.has(name)).toBe(false);
    const bytes = artifacts.weightSpecs!.reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    expect((artifacts.weightData as ArrayBuffer).byteLength).toBe(bytes);
    const fusedNode = topologyOf(artifacts).node.find((n) => n.op === FUSED_DW_PW_OP)!;
    expect(fusedNode.name).toBe('out');
    expect(fusedNode.input).toEqual([
      'x',
      'out/fused_dw_filter',
      'out/fused_pw_filter',
      'out/fused_dw_bias',
      'out/fused_pw_bias',
    ]);
  });

  it('uses the custom op names FusedDwPwConv2D / FusedPwDwConv2D', () => {
    expect(FUSED_DW_PW_OP).toBe('FusedDwPwConv2D');
    expect(FUSED_PW_DW_OP).toBe('FusedPwDwConv2D');
  });
});

/** A fetch that serves model.json and one weight file from memory. */
function memoryFetch(artifacts: tf.io.ModelArtifacts): (url: string) => Promise<Response> {
  const modelJson = {
    format: artifacts.format,
    modelTopology: artifacts.modelTopology,
    signature: artifacts.signature,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
  };
  return async (url: string) =>
    url.endsWith('model.json')
      ? new Response(JSON.stringify(modelJson), { headers: { 'content-type': 'application/json' } })
      : new Response(new Uint8Array(artifacts.weightData as ArrayBuffer));
}

describeFused('graph load: loadGraphModel from a URL, memory use', () => {
  const input = { shape: [1, 9, 9, 8], values: smoothImage([1, 9, 9, 8]) };

  for (const streamWeights of [false, true]) {
    it(`loads a URL through tfjs's routing (streamWeights ${streamWeights})`, async () => {
      const artifacts = block();
      const model = await loadGraphModel('http://example.test/block/model.json', {
        fetchFunc: memoryFetch(artifacts) as typeof fetch,
        streamWeights,
        plan: 'all',
        blocks: 'none',
      });
      try {
        expect(model.fusion.counts.dwpw.fused + model.fusion.counts.pwdw.fused).toBe(1);
        const y = model.execute(tf.tensor(input.values, input.shape)) as tf.Tensor;
        const got = await y.data();
        y.dispose();
        const reference = await runModel(artifacts, 'webgpu-fused', input, ['out']);
        expectSameOutputs(
          { outputs: [{ name: 'out', shape: [1, 9, 9, 8], values: got as Float32Array }] },
          reference,
          { atol: 1e-3, rtol: 1e-3 },
          'URL-loaded',
        );
      } finally {
        model.dispose();
      }
    });
  }

  for (const backend of ['webgpu-fused', 'cpu']) {
    it(`tf.memory() stays flat over execute() and executeAsync(); dispose() frees the weights (${backend})`, async () => {
      await tf.setBackend(backend);
      const tensorsBefore = tf.memory().numTensors;
      const dataBefore = tf.engine().backend.numDataIds();
      const model = await loadGraphModel(tf.io.fromMemory(positivePatterns()[0].artifacts), { plan: 'all' });
      const x = tf.tensor(smoothImage([1, 9, 9, 8]), [1, 9, 9, 8]);
      const loaded = tf.memory().numTensors;
      expect(loaded).toBeGreaterThan(tensorsBefore + 1);
      const counts: number[] = [];
      for (let i = 0; i < 4; i++) {
        const y = model.execute(x) as tf.Tensor;
        await y.data();
        y.dispose();
        const z = (await model.executeAsync(x)) as tf.Tensor;
        await z.data();
        z.dispose();
        counts.push(tf.memory().numTensors);
      }
      expect(counts).toEqual([loaded, loaded, loaded, loaded]);
      x.dispose();
      model.dispose();
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
    });
  }
});

describeFused('graph load: precompile', () => {
  it('compiles the pipelines at load, so the first inference compiles nothing; results and memory unchanged', async () => {
    const input = { shape: [1, 9, 9, 8], values: smoothImage([1, 9, 9, 8]) };
    const artifacts = block();
    const backend = tf.backend() as unknown as { pipelineCache: Record<string, unknown> };
    const tensorsBefore = tf.memory().numTensors;
    const warm = await loadGraphModel(tf.io.fromMemory(artifacts), {
      plan: 'all',
      blocks: 'all',
      precompile: true,
    });
    const plain = await loadGraphModel(tf.io.fromMemory(artifacts), {
      plan: 'all',
      blocks: 'all',
      precompile: false,
    });
    try {
      expect(warm.fusion.counts.pwdwpw.fused).toBe(1);
      expect(tf.env().getBool('WEBGPU_ENGINE_COMPILE_ONLY')).toBe(false);
      const keysAfterLoad = Object.keys(backend.pipelineCache).length;
      const outputs: Float32Array[] = [];
      for (const model of [warm, plain]) {
        const x = tf.tensor(input.values, input.shape);
        const y = model.execute(x) as tf.Tensor;
        outputs.push((await y.data()) as Float32Array);
        if (model === warm) expect(Object.keys(backend.pipelineCache).length).toBe(keysAfterLoad);
        tf.dispose([x, y]);
      }
      expectAllClose(outputs[0], outputs[1], { atol: 0, rtol: 0 }, 'precompiled vs plain');
      // Shapes for the dynamic dimensions must match each input's rank.
      await expectAsync(precompile(warm, [[1, 9, 9]])).toBeRejectedWithError(/rank/);
    } finally {
      plain.dispose();
      warm.dispose();
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});

describeFused('graph load: precompile by default', () => {
  it('precompiles when the input shape is known, not when told not to or when a height/width is unknown', async () => {
    const backend = tf.backend() as unknown as { checkCompileCompletionAsync(): Promise<void> };
    const spy = spyOn(backend, 'checkCompileCompletionAsync').and.callThrough();
    const tensorsBefore = tf.memory().numTensors;
    const load = async (artifacts: tf.io.ModelArtifacts, options: Parameters<typeof loadGraphModel>[1]) => {
      spy.calls.reset();
      const model = await loadGraphModel(tf.io.fromMemory(artifacts), options);
      const compiled = spy.calls.count() > 0;
      model.dispose();
      return compiled;
    };
    // By default on a GPU; never by default on a software adapter (the CI's SwiftShader).
    const byDefault = !isSoftwareAdapter(
      (tf.backend() as unknown as { adapterDescription: AdapterIdentity }).adapterDescription,
    );
    expect(await load(block(), {})).toBe(byDefault);
    expect(await load(block([-1, 9, 9, 8]), {})).toBe(byDefault); // a dynamic batch compiles at 1
    expect(await load(block([-1, -1, -1, 8]), { inputShape: [1, 9, 9, 8] })).toBe(byDefault);
    expect(await load(block(), { precompile: false })).toBe(false);
    expect(await load(block([-1, -1, -1, 8]), { plan: 'none' })).toBe(false);
    expect(await load(block(), { precompile: true })).toBe(true);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});

describePure('graph load: software adapters', () => {
  it('are told by the adapter description', () => {
    expect(
      isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', device: '', description: '' }),
    ).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'mesa', device: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true);
    expect(
      isSoftwareAdapter({ vendor: 'nvidia', device: 'nvidia-h100-80gb-hbm3', description: 'NVIDIA: 580' }),
    ).toBe(false);
    expect(isSoftwareAdapter(undefined)).toBe(false);
  });
});

describePure('graph load: the shapes the default precompile uses', () => {
  it('declared shapes, dynamic batch 1, inputShape filling the dynamic dimensions, null when unknown', () => {
    const inputs = (...shapes: number[][]) => ({
      inputs: shapes.map((shape, i) => ({ name: `in${i}`, shape, dtype: 'float32' as const })),
    });
    expect(plannedShapes(inputs([1, 9, 9, 8]))).toEqual([[1, 9, 9, 8]]);
    expect(plannedShapes(inputs([-1, 9, 9, 8]))).toEqual([[1, 9, 9, 8]]);
    expect(plannedShapes(inputs([-1, 9, 9, 8]), [4, 9, 9, 8])).toEqual([[4, 9, 9, 8]]);
    expect(plannedShapes(inputs([-1, -1, -1, 3]))).toBeNull();
    expect(plannedShapes(inputs([-1, -1, -1, 3], [1, 5]), { in0: [2, 7, 7, 3], in1: [1, 5] })).toEqual([
      [2, 7, 7, 3],
      [1, 5],
    ]);
    expect(plannedShapes(inputs([-1, -1, -1, 3], [1, 5]), { in1: [1, 5] })).toBeNull();
  });
});

describePure('graph shapes: static propagation', () => {
  it('convolutions, pooling, pad, concat, reshape, reductions, resize, matmul', () => {
    const b = new ModelBuilder(9);
    const x = b.input('x', [-1, 15, 15, 3]);
    const c = b.op('conv', 'Conv2D', [x, b.random('w', [3, 3, 3, 8])], {
      strides: { list: { i: ['1', '2', '2', '1'] } },
      padding: attrString('SAME'),
    });
    const p = b.pad('pad', c, [0, 0, 1, 0, 0, 1, 0, 0]);
    const pool = b.op('pool', 'MaxPool', [p], {
      ksize: { list: { i: ['1', '2', '2', '1'] } },
      strides: { list: { i: ['1', '2', '2', '1'] } },
      padding: attrString('VALID'),
    });
    const cat = b.op('cat', 'ConcatV2', [pool, pool, b.constant('axis', [-1], [], 'int32')]);
    const resized = b.op('resize', 'ResizeBilinear', [cat, b.constant('size', [7, 5], [2], 'int32')]);
    const mean = b.op('mean', 'Mean', [resized, b.constant('axes', [1, 2], [2], 'int32')], {
      keep_dims: { b: false },
    });
    const flat = b.op('flat', 'Reshape', [resized, b.constant('shape', [1, -1], [2], 'int32')]);
    const mm = b.op('mm', 'MatMul', [mean, b.random('dense', [16, 5])]);
    const a = b.artifacts(['x'], ['mm', 'flat']);
    const graph = new GraphIndex(a.modelTopology as GraphJson);
    const weights = new WeightTable(a.weightSpecs as never, a.weightData as ArrayBuffer);
    const shapes = new ShapeInference(graph, weights, new Map([['x', [1, 15, 15, 3]]]));
    expect(shapes.shapeOf(c)).toEqual([1, 8, 8, 8]);
    expect(shapes.shapeOf(p)).toEqual([1, 9, 9, 8]);
    expect(shapes.shapeOf(pool)).toEqual([1, 4, 4, 8]);
    expect(shapes.shapeOf(cat)).toEqual([1, 4, 4, 16]);
    expect(shapes.shapeOf(resized)).toEqual([1, 7, 5, 16]);
    expect(shapes.shapeOf(mean)).toEqual([1, 16]);
    expect(shapes.shapeOf(flat)).toEqual([1, 560]);
    expect(shapes.shapeOf(mm)).toEqual([1, 5]);
    // An op it does not know makes the shape unknown, never a guess.
    b.op('odd', 'Unique', [mm]);
    const graph2 = new GraphIndex(b.artifacts(['x'], ['odd']).modelTopology as GraphJson);
    expect(new ShapeInference(graph2, weights, new Map()).shapeOf('odd')).toBeUndefined();
  });
});
