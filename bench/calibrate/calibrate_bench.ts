/**
 * Calibrates the planner's device profile on a real GPU (`calibrate(backend)`)
 * and prints it next to the documented default it starts from.
 *
 *   bash ../shared/gpu/bundle.sh bench/calibrate/calibrate_bench.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/calibrate_bench.mjs --out $OUT/profile.json
 */

import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';

import { calibrate, H100_LIKE_PROFILE, WebGPUFusedBackend } from '../../src/index';
import { deviceDescription, parseArgs, runMain, writeResults } from '../util';

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!(await tf.setBackend('webgpu-fused'))) throw new Error('no WebGPU');
  const profile = await calibrate(tf.backend() as WebGPUFusedBackend, H100_LIKE_PROFILE, {
    streamSizes: [1 << 22, 1 << 24, 1 << 26],
    matmulSize: 2048,
  });
  const device = deviceDescription();
  console.log(`calibrated on ${device}:`);
  for (const key of [
    'memoryBandwidthGBps',
    'dispatchOverheadMs',
    'flopRateGflops',
    'minWorkgroups',
  ] as const) {
    console.log(
      `  ${key.padEnd(22)} ${String(profile[key]).padStart(12)}   (default ${H100_LIKE_PROFILE[key]})`,
    );
  }
  writeResults(args.out, device, { profile });
}

runMain(main);
