/**
 * `npm start`: runs a MobileNetV2-style depthwise 3x3 + pointwise 1x1 pair on
 * stock `webgpu` and on `webgpu-fused` under Node+Dawn, checks that both
 * agree with the cpu backend and prints wall-clock timings side by side.
 */

import '../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '../src/index';

const NO_ADAPTER_EXIT = 3;

function seeded(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = seed;
  for (let i = 0; i < size; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

async function main(): Promise<void> {
  const adapter = await navigator.gpu.requestAdapter();
  if (adapter == null) {
    console.error('demo: no WebGPU adapter');
    process.exit(NO_ADAPTER_EXIT);
  }
  const info = (adapter as unknown as { info: GPUAdapterInfo }).info;
  console.log(`demo: adapter ${info.vendor} ${info.architecture} ${info.description ?? ''}`.trim());

  const [n, h, w, c, cout] = [1, 56, 56, 144, 24];
  const x = seeded(n * h * w * c, 1);
  const dw = seeded(9 * c, 2);
  const pw = seeded(c * cout, 3);
  const bias = seeded(c, 4);
  const pair = () =>
    tf.tidy(() => {
      const hidden = tf.fused.depthwiseConv2d({
        x: tf.tensor4d(x, [n, h, w, c]),
        filter: tf.tensor4d(dw, [3, 3, c, 1]),
        strides: 1,
        pad: 'same',
        bias: tf.tensor1d(bias),
        activation: 'relu6',
      });
      return tf.conv2d(hidden, tf.tensor4d(pw, [1, 1, c, cout]), 1, 'valid');
    });

  const results: Record<string, { values: Float32Array; medianMs: number }> = {};
  for (const backend of ['cpu', 'webgpu', 'webgpu-fused']) {
    if (!(await tf.setBackend(backend))) throw new Error(`demo: backend ${backend} failed to initialize`);
    const times: number[] = [];
    let values: Float32Array = new Float32Array();
    for (let i = 0; i < (backend === 'cpu' ? 3 : 20); i++) {
      const start = performance.now();
      const y = pair();
      values = (await y.data()) as Float32Array;
      times.push(performance.now() - start);
      y.dispose();
    }
    times.sort((a, b) => a - b);
    results[backend] = { values, medianMs: times[Math.floor(times.length / 2)] };
  }
  const reference = results.cpu.values;
  console.log(`demo: DW 3x3 + PW 1x1 on [${n},${h},${w},${c}] -> ${cout} channels`);
  console.log('backend        median wall ms   max |diff| vs cpu');
  for (const [backend, { values, medianMs }] of Object.entries(results)) {
    let worst = 0;
    values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - reference[i]))));
    console.log(`${backend.padEnd(14)} ${medianMs.toFixed(2).padStart(14)}   ${worst.toExponential(2)}`);
    if (!(worst < 1e-3)) throw new Error(`demo: ${backend} disagrees with cpu`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
