import './setup';
import * as tf from '@tensorflow/tfjs-core';

import { computeOn } from './helpers/backends';
import { expectAllClose } from './helpers/compare';
import { describeFused, fusedBackend } from './helpers/describe';
import { withGpuErrorTrap } from './helpers/gpu_errors';
import { expectNoLeaks } from './helpers/leaks';
import { withPoisonedBuffers } from './helpers/poison';
import { Random } from './helpers/random';

describeFused('smoke', () => {
  it('runs a depthwise 3x3 + pointwise 1x1 pair like the cpu backend', async () => {
    const rng = new Random(7);
    const [n, h, w, c, cout] = [2, 13, 11, 24, 20];
    const x = rng.array(n * h * w * c);
    const dw = rng.array(3 * 3 * c);
    const dwBias = rng.array(c);
    const pw = rng.array(c * cout);
    const pwBias = rng.array(cout);
    const pair = () => {
      const hidden = tf.fused.depthwiseConv2d({
        x: tf.tensor4d(x, [n, h, w, c]),
        filter: tf.tensor4d(dw, [3, 3, c, 1]),
        strides: 1,
        pad: 'same',
        bias: tf.tensor1d(dwBias),
        activation: 'relu6',
      });
      return tf.fused.conv2d({
        x: hidden,
        filter: tf.tensor4d(pw, [1, 1, c, cout]),
        strides: 1,
        pad: 'valid',
        bias: tf.tensor1d(pwBias),
      });
    };
    const backend = fusedBackend();
    const fused = await withGpuErrorTrap(backend.device, () =>
      withPoisonedBuffers(backend, () => expectNoLeaks(() => computeOn('webgpu-fused', pair))),
    );
    const cpu = await computeOn('cpu', pair);
    expect(fused.shape).toEqual([n, h, w, cout]);
    expectAllClose(fused.values, cpu.values, { atol: 1e-4, rtol: 1e-4 }, 'dw+pw vs cpu');
  });

  it('the poisoning helper really poisons reused buffers', async () => {
    // A deliberately incomplete "kernel": allocate an output and write nothing.
    const backend = fusedBackend();
    const stale = tf.fill([64], 5);
    await stale.data();
    stale.dispose();
    const values = await withPoisonedBuffers(backend, async () => {
      const info = backend.makeTensorInfo([64], 'float32');
      backend.uploadToGPU(info.dataId);
      const t = tf.engine().makeTensorFromTensorInfo(info);
      const v = await t.data();
      t.dispose();
      return v;
    });
    expect(Array.from(values).every(Number.isNaN)).toBe(true);
  });

  it('the error trap reports invalid GPU work', async () => {
    const device = fusedBackend().device;
    await expectAsync(
      withGpuErrorTrap(device, async () => {
        device.createShaderModule({ code: 'this is not WGSL' });
      }),
    ).toBeRejectedWithError(/validation/);
  });
});
