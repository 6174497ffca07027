import * as tf from '@tensorflow/tfjs-core';

export interface Computed {
  shape: number[];
  values: Float32Array;
}

/**
 * Runs `build` on `backendName` and reads the result back asynchronously.
 * `build` must create its inputs itself (from plain arrays): moving tensors
 * between two WebGPU backends needs a sync read, which returns zeros in
 * headless Chromium and throws under Node.
 */
export async function computeOn(backendName: string, build: () => tf.Tensor): Promise<Computed> {
  const previous = tf.getBackend();
  expect(await tf.setBackend(backendName)).toBe(true);
  try {
    const result = tf.tidy(build);
    const values = (await result.data()) as Float32Array;
    const shape = result.shape.slice();
    result.dispose();
    return { shape, values };
  } finally {
    if (previous != null) {
      await tf.setBackend(previous);
    }
  }
}
