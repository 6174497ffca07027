/**
 * Checks the ONNX export against tfjs: each model exported by onnx_export.ts,
 * run by ONNX Runtime's CPU execution provider (onnxruntime-node), must equal
 * the tfjs `cpu` backend on the same input to 1e-4 (relative to the output's
 * largest magnitude, at least 1) at every batch size, on every output and on
 * the logits under a final Softmax. No GPU needed.
 *
 *   bash bench/peers/verify.sh [--models mobilenet_v2_mid,posenet] [--batches 1,2] [--save DIR] [--ep webgpu]
 */

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { mkdirSync, writeFileSync } from 'node:fs';

import { artifactsFromDir, smoothImage } from '../../scripts/model_files';
import { parseArgs, runMain } from '../util';
import { exportToOnnx } from './onnx_export';
import { agreement, withDynamicBatch } from './models';
import { loadOrt } from './ort';

const args = parseArgs(process.argv.slice(2));
const MODELS = (args.models ?? 'mobilenet_v2_mid,posenet').split(',');
const BATCHES = (args.batches ?? '1,2').split(',').map(Number);
const TOLERANCE = Number(args.tolerance ?? 1e-4);
/** Execution provider: 'cpu', or 'webgpu' (needs a Vulkan driver: a GPU, or SwiftShader via VK_ICD_FILENAMES). */
const EP = args.ep ?? 'cpu';

async function main() {
  const ort = loadOrt();
  await tf.setBackend('cpu');
  console.log(
    `onnxruntime-node ${ort.env.versions?.node ?? '?'} (${EP} EP); tfjs ${tf.version_core} cpu; tolerance ${TOLERANCE}`,
  );
  let failed = 0;
  for (const name of MODELS) {
    const artifacts = withDynamicBatch(artifactsFromDir(`models/${name}`));
    const model = await loadGraphModel({ load: async () => artifacts });
    // The outputs, plus the logits under a final Softmax (probabilities alone can hide errors).
    const nodes = (artifacts.modelTopology as { node: Array<{ op: string; input?: string[] }> }).node;
    const logits = nodes.filter((n) => n.op === 'Softmax').map((n) => n.input![0].replace(/:0$/, ''));
    const outputs = [...model.outputNodes.map((o) => o.replace(/:0$/, '')), ...logits];
    const start = performance.now();
    const exported = await exportToOnnx(artifacts, { outputs });
    const exportMs = performance.now() - start;
    if (args.save) {
      mkdirSync(args.save, { recursive: true });
      writeFileSync(`${args.save}/${name}.onnx`, exported.bytes);
    }
    const session = await ort.InferenceSession.create(exported.bytes, { executionProviders: [EP] });
    console.log(
      `${name}: ${(exported.bytes.length / 2 ** 20).toFixed(1)} MiB ONNX, ${exported.convs} Conv, ` +
        `exported in ${exportMs.toFixed(0)} ms; outputs ${outputs.join(', ')}`,
    );
    for (const batch of BATCHES) {
      const shape = [batch, ...exported.inputShape.slice(1)];
      const data = smoothImage(shape);
      const x = tf.tensor(data, shape);
      const ys = model.execute(x, outputs);
      const refTensors = Array.isArray(ys) ? ys : [ys];
      const ref = await Promise.all(refTensors.map((t) => t.data() as Promise<Float32Array>));
      tf.dispose([x, ...refTensors]);
      const result = await session.run({ [exported.inputName]: new ort.Tensor('float32', data, shape) });
      const got = outputs.map((o) => result[o].data as Float32Array);
      outputs.forEach((o, k) => {
        const want = refTensors[k].shape;
        if (JSON.stringify(result[o].dims) !== JSON.stringify(want)) {
          throw new Error(`${name} ${o}: ONNX dims [${result[o].dims}] vs tfjs [${want}]`);
        }
      });
      const a = agreement(ref, got);
      const ok = a.rel <= TOLERANCE;
      if (!ok) failed++;
      console.log(
        `  batch ${batch}: max |ort - tfjs| ${a.maxAbs.toExponential(2)} (rel ${a.rel.toExponential(2)}) ` +
          `${ok ? 'OK' : 'FAIL'}`,
      );
    }
    await session.release();
    model.dispose();
  }
  if (tf.memory().numTensors !== 0) throw new Error(`${tf.memory().numTensors} tensors leaked`);
  if (failed > 0) throw new Error(`${failed} comparisons over ${TOLERANCE}`);
  console.log('all outputs agree');
}

runMain(main);
