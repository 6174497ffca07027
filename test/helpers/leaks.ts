import * as tf from '@tensorflow/tfjs-core';

/** Runs `fn` and fails if it leaves tensors or backend data behind. */
export async function expectNoLeaks<T>(fn: () => Promise<T>, label = ''): Promise<T> {
  const tensorsBefore = tf.memory().numTensors;
  const dataBefore = tf.engine().backend.numDataIds();
  const result = await fn();
  expect(tf.memory().numTensors - tensorsBefore)
    .withContext(`${label} leaked tensors`)
    .toBe(0);
  expect(tf.engine().backend.numDataIds() - dataBefore)
    .withContext(`${label} leaked backend data ids`)
    .toBe(0);
  return result;
}
