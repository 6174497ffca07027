import './setup';
import * as tf from '@tensorflow/tfjs-core';

import { getKernelsForBackend } from '@tensorflow/tfjs-core';
import packageJson from '../package.json';
import {
  BACKEND_NAME,
  kernelCount,
  RAISED_LIMITS,
  registerWebGPUFusedBackend,
  version,
  WebGPUFusedBackend,
} from '../src/index';
import { BindGroupCache } from '../src/backend/bind_group_cache';
import { UniformField, UniformStore } from '../src/backend/uniform_cache';
import { requestFusedDevice, WebGPUUnavailableError } from '../src/backend/device';
import { fusedKernelConfigs } from '../src/kernels/register_all_kernels';
import { describeFused, describePure, fusedBackend } from './helpers/describe';

describeFused('backend registration', () => {
  it('is registered but never the default backend', () => {
    expect(BACKEND_NAME).toBe('webgpu-fused');
    const factories = (tf.engine() as unknown as { registryFactory: Record<string, { priority: number }> })
      .registryFactory;
    expect(factories['webgpu-fused']).toBeDefined();
    for (const other of ['cpu', 'webgpu']) {
      expect(factories['webgpu-fused'].priority).toBeLessThan(factories[other].priority);
    }
  });

  it('carries every stock webgpu kernel plus the fused ones', () => {
    const stock = getKernelsForBackend('webgpu').map((k) => k.kernelName);
    const fused = new Set(getKernelsForBackend('webgpu-fused').map((k) => k.kernelName));
    expect(stock.length).toBeGreaterThan(150);
    for (const name of stock) {
      expect(fused.has(name)).withContext(name).toBe(true);
    }
    for (const config of fusedKernelConfigs) {
      expect(fused.has(config.kernelName)).withContext(config.kernelName).toBe(true);
    }
    expect(kernelCount()).toBe(stock.length + fusedKernelConfigs.length);
  });

  it('owns a device created with the adapter limits', async () => {
    const backend = fusedBackend();
    expect(tf.backend()).toBe(backend);
    expect(backend).toEqual(jasmine.any(WebGPUFusedBackend));
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    expect(adapter).not.toBeNull();
    for (const name of RAISED_LIMITS) {
      const adapterLimit = (adapter!.limits as unknown as Record<string, number>)[name];
      expect((backend.limits as unknown as Record<string, number>)[name])
        .withContext(name)
        .toBe(adapterLimit);
    }
    const adapterInfo = (adapter as unknown as { info?: GPUAdapterInfo }).info;
    expect(backend.adapterDescription.vendor).toBe(adapterInfo?.vendor ?? '');
    // Not the stock backend's device.
    await tf.setBackend('webgpu');
    expect((tf.backend() as unknown as { device: GPUDevice }).device).not.toBe(backend.device);
  });

  it('can be registered with the WebGPU default limits', async () => {
    registerWebGPUFusedBackend('webgpu-fused-defaults', { limits: 'default' });
    try {
      expect(await tf.setBackend('webgpu-fused-defaults')).toBe(true);
      const limits = fusedBackend('webgpu-fused-defaults').limits;
      expect(limits.maxComputeWorkgroupStorageSize).toBe(16384);
      expect(limits.maxComputeInvocationsPerWorkgroup).toBe(256);
      expect(limits.maxStorageBuffersPerShaderStage).toBe(8);
      const y = tf.add(tf.tensor1d([1, 2, 3]), 1);
      expect(Array.from(await y.data())).toEqual([2, 3, 4]);
      y.dispose();
    } finally {
      await tf.setBackend('webgpu-fused');
      tf.removeBackend('webgpu-fused-defaults');
    }
  });

  it('rejects backend names tfjs cannot key kernels by', () => {
    expect(() => registerWebGPUFusedBackend('webgpu_fused')).toThrowError(/must not contain/);
  });
});

/** Shadows `navigator.gpu` (a prototype getter in browsers, a plain field under Node). */
async function withNavigatorGpu(gpu: unknown, fn: () => Promise<void>): Promise<void> {
  const own = Object.getOwnPropertyDescriptor(navigator, 'gpu');
  Object.defineProperty(navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  try {
    await fn();
  } finally {
    if (own) Object.defineProperty(navigator, 'gpu', own);
    else delete (navigator as { gpu?: unknown }).gpu;
  }
}

describePure('backend without WebGPU', () => {
  it('fails with a clear error when navigator.gpu is missing', async () => {
    await withNavigatorGpu(undefined, async () => {
      await expectAsync(requestFusedDevice()).toBeRejectedWithError(WebGPUUnavailableError, /navigator\.gpu/);
    });
  });

  it('fails with a clear error when no adapter is found', async () => {
    await withNavigatorGpu({ requestAdapter: async () => null }, async () => {
      await expectAsync(requestFusedDevice()).toBeRejectedWithError(WebGPUUnavailableError, /returned null/);
    });
  });

  it('reports the failure through tf.setBackend instead of crashing', async () => {
    registerWebGPUFusedBackend('webgpu-fused-nogpu');
    try {
      await withNavigatorGpu(undefined, async () => {
        expect(await tf.setBackend('webgpu-fused-nogpu')).toBe(false);
      });
    } finally {
      tf.removeBackend('webgpu-fused-nogpu');
    }
  });

  it('exports the package version', () => {
    expect(version).toBe(packageJson.version);
  });
});

describePure('bind group cache', () => {
  const buffer = () => ({}) as GPUBuffer;
  const entry = (binding: number, b: GPUBuffer, offset?: number, size?: number): GPUBindGroupEntry => ({
    binding,
    resource: { buffer: b, ...(offset != null ? { offset } : {}), ...(size != null ? { size } : {}) },
  });

  it('keys by pipeline and every buffer, offset and size; texture views are not cached', () => {
    const cache = new BindGroupCache();
    const [p1, p2] = [{}, {}];
    const [a, b] = [buffer(), buffer()];
    const key = cache.keyOf(p1, [entry(0, a), entry(1, b, 0, 64)]);
    expect(cache.keyOf(p1, [entry(0, a), entry(1, b, 0, 64)])).toBe(key);
    expect(cache.keyOf(p2, [entry(0, a), entry(1, b, 0, 64)])).not.toBe(key);
    expect(cache.keyOf(p1, [entry(0, b), entry(1, a, 0, 64)])).not.toBe(key);
    expect(cache.keyOf(p1, [entry(0, a), entry(1, b, 256, 64)])).not.toBe(key);
    expect(cache.keyOf(p1, [entry(0, a), entry(1, b, 0, 128)])).not.toBe(key);
    expect(cache.keyOf(p1, [entry(0, a), entry(1, b)])).not.toBe(key);
    expect(cache.keyOf(p1, [entry(0, a), entry(1, buffer(), 0, 64)])).not.toBe(key);
    expect(cache.keyOf(p1, [entry(0, a), { binding: 1, resource: {} as GPUTextureView }])).toBeNull();
  });

  it('creates a bind group once per key, and every time without a key', () => {
    const cache = new BindGroupCache();
    let made = 0;
    const create = () => ({ label: `group ${++made}` }) as GPUBindGroup;
    const key = cache.keyOf({}, [entry(0, buffer())]);
    const first = cache.get(key, create);
    expect(cache.get(key, create)).toBe(first);
    expect(made).toBe(1);
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
    cache.get(null, create);
    cache.get(null, create);
    expect(made).toBe(3);
    cache.clear();
    expect(cache.get(key, create)).not.toBe(first);
  });
});

describePure('uniform store', () => {
  it('finds a content only by exactly the same types and values (NaN, -0 and field boundaries included)', () => {
    const store = new UniformStore<string>();
    let made = 0;
    const get = (fields: UniformField[]) =>
      store.get(
        fields,
        () => `buffer ${++made}`,
        () => true,
      );
    const a = get([
      { type: 'float32', data: [NaN] },
      { type: 'int32', data: [1, 2] },
    ]);
    expect(
      get([
        { type: 'float32', data: [NaN] },
        { type: 'int32', data: [1, 2] },
      ]),
    ).toBe(a);
    for (const other of [
      [
        { type: 'float32', data: [NaN] },
        { type: 'uint32', data: [1, 2] },
      ],
      [
        { type: 'float32', data: [NaN, 1] },
        { type: 'int32', data: [2] },
      ],
      [
        { type: 'float32', data: [NaN] },
        { type: 'int32', data: [1, 3] },
      ],
      [{ type: 'float32', data: [0] }],
      [{ type: 'float32', data: [-0] }],
      [{ type: 'int32', data: [] }],
    ]) {
      expect(get(other)).not.toBe(a);
    }
    expect(made).toBe(7);
    expect(get([{ type: 'float32', data: [-0] }])).toBe('buffer 6');
    // Values a caller declines to keep are made anew each time.
    expect(
      store.get(
        [{ type: 'int32', data: [9] }],
        () => 'x',
        () => false,
      ),
    ).toBe('x');
    expect(store.size).toBe(7);
  });
});

describeFused('bind group reuse on the device', () => {
  it('reuses bind groups across repeated inferences with unchanged results', async () => {
    const backend = fusedBackend();
    const x = tf.randomUniform([1, 9, 9, 8], -1, 1, 'float32', 3) as tf.Tensor4D;
    const filter = tf.randomUniform([3, 3, 8, 1], -1, 1, 'float32', 4) as tf.Tensor4D;
    const run = () =>
      tf.tidy(() => tf.relu(tf.depthwiseConv2d(tf.add(x, 1) as tf.Tensor4D, filter, 1, 'same')));
    const first = run();
    const expected = await first.data();
    first.dispose();
    const hitsBefore = backend.bindGroups.hits;
    for (let i = 0; i < 4; i++) {
      const y = run();
      expect(await y.data()).toEqual(expected);
      y.dispose();
    }
    expect(backend.bindGroups.hits).toBeGreaterThan(hitsBefore);
    // The uniforms of these programs are kept by content: repeats add none.
    const kept = backend.keptUniforms.size;
    const y = run();
    expect(await y.data()).toEqual(expected);
    y.dispose();
    expect(backend.keptUniforms.size).toBe(kept);
    tf.dispose([x, filter]);
  });
});

describeFused('uploads of CPU values', () => {
  it('writes float32, int32 and bool values into new buffers with queue.writeBuffer', async () => {
    const backend = fusedBackend();
    const writes = spyOn(backend.device.queue, 'writeBuffer').and.callThrough();
    // Sizes no earlier spec released, so the pool has no buffer to hand out.
    const floats = Array.from({ length: 1237 }, (_, i) => Math.sin(i) * 100);
    const ints = Array.from({ length: 1239 }, (_, i) => ((i * 7919) % 2003) - 1000);
    const bools = Array.from({ length: 1241 }, (_, i) => i % 3 === 0);
    const f = tf.tensor1d(floats);
    const n = tf.tensor1d(ints, 'int32');
    const b = tf.tensor1d(bools, 'bool');
    const out = [tf.add(f, 0), tf.add(n, 0), tf.logicalNot(tf.logicalNot(b))];
    expect(Array.from(await out[0].data())).toEqual(Array.from(new Float32Array(floats)));
    expect(Array.from(await out[1].data())).toEqual(ints);
    expect(Array.from(await out[2].data())).toEqual(bools.map(Number));
    // Bytes written per call (writeBuffer's size argument).
    const written = writes.calls.allArgs().map((args) => args[4]);
    expect(written).toEqual(jasmine.arrayContaining([1237 * 4, 1239 * 4, 1241 * 4]));
    tf.dispose([f, n, b, ...out]);
  });

  it('takes released buffers again through tfjs, with the new values, while older results stay right', async () => {
    const size = 1543;
    const valuesOf = (k: number) => Array.from({ length: size }, (_, i) => k * 1000 + i);
    const results: tf.Tensor[] = [];
    // Each round releases its input's buffer, which the next round's upload takes from the pool.
    for (let k = 0; k < 4; k++) {
      const x = tf.tensor1d(valuesOf(k));
      results.push(tf.add(x, 1));
      x.dispose();
    }
    for (let k = 0; k < 4; k++) {
      expect(Array.from(await results[k].data())).toEqual(valuesOf(k).map((v) => v + 1));
    }
    tf.dispose(results);
  });
});
