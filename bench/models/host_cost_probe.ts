/**
 * Host cost of one inference on the JS thread: how long `execute()` takes to
 * encode MobileNetV2 (no readback wait), stock vs fused, plus wall time with
 * readback, and a CPU profile of the fused encode loop (`--profile FILE`).
 *
 *   bash ../shared/gpu/bundle.sh bench/models/host_cost_probe.ts
 *   bash .gpu-runtime/enter.sh node .gpu-runtime/host_cost_probe.mjs --profile $OUT/fused.cpuprofile
 */
import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { loadStockAndFused } from './stock_and_fused';
import { median, parseArgs, runMain } from '../util';

const args = parseArgs(process.argv.slice(2));
const RUNS = Number(args.runs ?? 200);
const BATCH = Number(args.batch ?? 1);

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))),
  );
}

async function main() {
  const { stock, fused, shape, data } = await loadStockAndFused(
    args.model ?? 'mobilenet_v2_mid',
    (args.plan ?? 'auto') as 'auto',
    BATCH,
  );
  const runners = [
    { label: 'stock', backend: 'webgpu', model: stock },
    { label: 'fused', backend: 'webgpu-fused', model: fused },
  ];
  const encode: Record<string, number[]> = { stock: [], fused: [] };
  const wall: Record<string, number[]> = { stock: [], fused: [] };
  const inputs = new Map<string, tf.Tensor>();
  for (const r of runners) {
    await tf.setBackend(r.backend);
    inputs.set(r.label, tf.tensor(data, shape));
  }
  // Interleaved blocks of runs, after a long warm-up (the JIT keeps improving).
  for (let round = 0; round < 6; round++) {
    for (const r of runners) {
      await tf.setBackend(r.backend);
      const x = inputs.get(r.label)!;
      for (let i = 0; i < RUNS / 4; i++) {
        const t0 = performance.now();
        const y = r.model.execute(x) as tf.Tensor;
        const t1 = performance.now();
        await y.data();
        const t2 = performance.now();
        y.dispose();
        if (round >= 2) {
          encode[r.label].push(t1 - t0);
          wall[r.label].push(t2 - t0);
        }
      }
    }
  }
  for (const r of runners) {
    console.log(
      `${r.label}: encode ${median(encode[r.label]).toFixed(3)} ms, wall ${median(wall[r.label]).toFixed(3)} ms`,
    );
  }
  if (args.profile) {
    await tf.setBackend('webgpu-fused');
    const x = inputs.get('fused')!;
    const session = new Session();
    session.connect();
    await post(session, 'Profiler.enable');
    await post(session, 'Profiler.setSamplingInterval', { interval: 50 });
    await post(session, 'Profiler.start');
    for (let i = 0; i < RUNS; i++) {
      const y = fused.execute(x) as tf.Tensor;
      await y.data();
      y.dispose();
    }
    const { profile } = await post<{ profile: object }>(session, 'Profiler.stop');
    writeFileSync(args.profile, JSON.stringify(profile));
    console.log(`profile written to ${args.profile}`);
  }
}
runMain(main);
