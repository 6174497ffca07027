/**
 * The GPU half of planner calibration: runs small probes with tfjs ops on the
 * current backend and returns their timings for `profileFromMeasurements`.
 * Streaming (memory-bound) elementwise kernels at three sizes give the
 * bandwidth, runs of tiny dispatches the per-dispatch overhead, and a large
 * matrix product the FLOP rate. Kernels are timed with timestamp queries
 * where available, dispatch runs as batches of back-to-back dispatches by
 * wall clock; medians of `rounds`.
 */

import * as tf from '@tensorflow/tfjs-core';

import { kernelLimitsOf } from '../kernels/fused_conv_util';
import { median, msPerRun } from './batch_timing';
import { makeCalibrate, MeasureDevice } from '../planner/calibration';
import { CONSERVATIVE_PROFILE, DeviceProfile } from '../planner/device_profile';

/**
 * GPU time of one kernel from timestamp queries where the device has them
 * (the dispatch overhead would hide a fast GPU's bandwidth), else wall time
 * of back-to-back batches.
 */
async function kernelMs(run: () => tf.Tensor, rounds: number): Promise<number> {
  const warm = run();
  await warm.data();
  warm.dispose();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const timing = await tf.time(() => {
      tf.dispose(run());
    });
    samples.push(timing.kernelMs as number);
  }
  const gpuMs = median(samples);
  return gpuMs > 0 ? gpuMs : msPerRun(run, 10, rounds);
}

function backendMaxBinding(): number {
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  return device?.limits.maxStorageBufferBindingSize ?? 1 << 28;
}

export interface ProbeOptions {
  rounds?: number;
  /** Elements of the streaming probes (default 1M, 4M, 16M floats). */
  streamSizes?: number[];
  /** Side of the square matmul probe (default 1024). */
  matmulSize?: number;
}

/** `MeasureDevice` on the current tfjs backend (select the backend first). */
export function measureDeviceWith(options: ProbeOptions = {}): MeasureDevice {
  const rounds = options.rounds ?? 3;
  return async () => {
    // Small streams can hide under fixed costs or timer quantization on a
    // fast device: grow the sizes until the time grows with them.
    const maxElements = Math.floor(Math.min(backendMaxBinding(), 1 << 28) / 4);
    let sizes = options.streamSizes ?? [1 << 20, 1 << 22, 1 << 24];
    let streams: { bytes: number; ms: number }[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      streams = [];
      for (const size of sizes) {
        const x = tf.fill([size], 1.5);
        streams.push({ bytes: 8 * size, ms: await kernelMs(() => tf.relu(x), rounds) });
        x.dispose();
      }
      const growing = streams.every((s, i) => i === 0 || s.ms > 1.3 * streams[i - 1].ms);
      if (growing || sizes[sizes.length - 1] * 4 > maxElements) break;
      sizes = sizes.map((size) => size * 4);
    }
    const tiny = tf.fill([4], 1);
    const dispatchRuns = [];
    for (const count of [10, 50]) {
      dispatchRuns.push({ count, ms: count * (await msPerRun(() => tf.relu(tiny), count, rounds)) });
    }
    tiny.dispose();
    const n = options.matmulSize ?? 1024;
    const a = tf.fill([n, n], 0.5);
    const b = tf.fill([n, n], 0.25);
    const matmulMs = await kernelMs(() => tf.matMul(a, b), rounds);
    tf.dispose([a, b]);
    return { streams, dispatchRuns, matmuls: [{ flops: 2 * n ** 3, ms: matmulMs }] };
  };
}

/**
 * `calibrate(backend)`: a device profile for `backend`'s limits with
 * bandwidth, dispatch overhead and FLOP rate measured on it. `backend` must
 * be the current tfjs backend.
 */
export function calibrate(
  backend: { device: GPUDevice },
  base: DeviceProfile = CONSERVATIVE_PROFILE,
  options: ProbeOptions = {},
): Promise<DeviceProfile> {
  if (tf.backend() !== (backend as unknown)) {
    throw new Error('calibrate: select the backend first (tf.setBackend) so the probes run on it');
  }
  // Plain data: the profile is serialized with plans.
  return makeCalibrate(
    measureDeviceWith(options),
    base,
  )({ device: { limits: kernelLimitsOf(backend.device.limits) } });
}
