/**
 * Wall-clock timing of back-to-back dispatches, for tuning on the device.
 * Browsers quantize timestamp queries to 100 µs while single kernels here
 * take 10–50 µs, so a batch of `repeats` runs is timed from the first
 * dispatch to the last output's readback; the median over `rounds` batches
 * is returned, per run. The first run (pipeline compilation) is not timed.
 */

import * as tf from '@tensorflow/tfjs-core';

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

export async function msPerRun(run: () => tf.Tensor, repeats: number, rounds: number): Promise<number> {
  const warm = run();
  await warm.data();
  warm.dispose();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const outputs: tf.Tensor[] = [];
    const start = performance.now();
    for (let i = 0; i < repeats; i++) outputs.push(run());
    await outputs[outputs.length - 1].data();
    samples.push((performance.now() - start) / repeats);
    tf.dispose(outputs);
  }
  return median(samples);
}
