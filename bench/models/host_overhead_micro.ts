/**
 * JS host cost of `execute()` with the GPU work taken out: every
 * `runWebGPUProgram` of the backend is replaced by a stub that only makes the
 * output tensor's record, so no shader is compiled, encoded or run and the
 * time left is the graph executor, the ops and the kernel functions (argument
 * parsing, validation, tile choice, program construction). Runs anywhere
 * Dawn does (SwiftShader included): the GPU is never used after loading.
 * Prints the median per-inference time, stock vs fused, and per fused call.
 *
 *   bash ../shared/gpu/bundle.sh bench/models/host_overhead_micro.ts
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium \
 *     node .gpu-runtime/host_overhead_micro.mjs [--model mobilenet_v2_mid] [--runs 2000] [--batch 1]
 */
import '../../scripts/dawn_prelude';
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { loadStockAndFused } from './stock_and_fused';
import { median, parseArgs, runMain } from '../util';

const args = parseArgs(process.argv.slice(2));
const RUNS = Number(args.runs ?? 2000);
const BATCH = Number(args.batch ?? 1);

/** Makes `runWebGPUProgram` of the named backend record outputs without touching the GPU. */
function stubPrograms(backendName: string): void {
  const backend = tf.findBackend(backendName) as WebGPUBackend;
  backend.runWebGPUProgram = ((
    program: { outputShape: number[] },
    _inputs: tf.TensorInfo[],
    dtype: tf.DataType,
    _uniforms?: unknown,
    output?: tf.TensorInfo,
  ) => output ?? backend.makeTensorInfo(program.outputShape, dtype)) as WebGPUBackend['runWebGPUProgram'];
}

async function main() {
  const { stock, fused, shape, data } = await loadStockAndFused(
    args.model ?? 'mobilenet_v2_mid',
    (args.plan ?? 'auto') as 'auto',
    BATCH,
  );
  stubPrograms('webgpu');
  stubPrograms('webgpu-fused');
  const runners = [
    { label: 'stock', backend: 'webgpu', model: stock },
    { label: 'fused', backend: 'webgpu-fused', model: fused },
  ];
  const times: Record<string, number[]> = { stock: [], fused: [] };
  const inputs = new Map<string, tf.Tensor>();
  for (const r of runners) {
    await tf.setBackend(r.backend);
    inputs.set(r.label, tf.tensor(data, shape));
  }
  let fusedCalls = 0;
  // Interleaved blocks of runs after a warm-up (the JIT keeps improving); each
  // sample times a batch of 10 inferences to stay above the timer resolution.
  for (let round = 0; round < 8; round++) {
    for (const r of runners) {
      await tf.setBackend(r.backend);
      const x = inputs.get(r.label)!;
      const before = tf.memory().numTensors;
      for (let i = 0; i < RUNS / 40; i++) {
        const t0 = performance.now();
        for (let j = 0; j < 10; j++) (r.model.execute(x) as tf.Tensor).dispose();
        const t1 = performance.now();
        if (round >= 4) times[r.label].push((t1 - t0) / 10);
      }
      if (tf.memory().numTensors !== before) throw new Error(`${r.label}: tensors leaked`);
    }
  }
  await tf.setBackend('webgpu-fused');
  const names = new Set(['FusedDwPwConv2D', 'FusedPwDwConv2D', 'FusedInvertedResidualBlock']);
  const ops = (fused as unknown as { artifacts?: { modelTopology?: { node?: Array<{ op: string }> } } })
    .artifacts?.modelTopology?.node;
  fusedCalls = ops?.filter((n) => names.has(n.op)).length ?? 0;
  const stockMs = median(times.stock);
  const fusedMs = median(times.fused);
  console.log(`host cost without GPU work (median of ${times.fused.length} samples of 10 inferences):`);
  console.log(`  stock execute(): ${(stockMs * 1000).toFixed(1)} us`);
  console.log(`  fused execute(): ${(fusedMs * 1000).toFixed(1)} us`);
  if (fusedCalls > 0) {
    console.log(`  fused custom-op nodes: ${fusedCalls}`);
  }
}
runMain(main);
