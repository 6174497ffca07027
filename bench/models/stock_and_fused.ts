/**
 * One vendored GraphModel loaded twice, as tfjs loads it on `webgpu` and
 * rewritten on `webgpu-fused`, with a smooth input of the model's shape:
 * what the host-cost benchmarks compare.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphModel, loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';

import '../../src/index';
import { loadGraphModel } from '../../src/graph-rewrite/index';
import { fileHandler, inputShapeOf, smoothImage } from '../../scripts/model_files';

export interface StockAndFused {
  stock: GraphModel;
  fused: GraphModel;
  shape: number[];
  data: Float32Array;
}

export async function loadStockAndFused(
  model: string,
  plan: 'auto' | 'all',
  batch: number,
): Promise<StockAndFused> {
  const dir = `models/${model}`;
  await tf.setBackend('webgpu');
  const stock = await tfLoadGraphModel(fileHandler(dir));
  await tf.setBackend('webgpu-fused');
  const fused = await loadGraphModel(fileHandler(dir), { plan });
  const shape = inputShapeOf(dir, batch);
  return { stock, fused, shape, data: smoothImage(shape) };
}
