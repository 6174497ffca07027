/**
 * Node helpers for the bundled models (models/<name>/model.json + weight
 * files) shared by the demo and the benchmarks: an IOHandler and in-memory
 * artifacts over the files, the model's input shape, and a smooth
 * photo-like input image.
 */

import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';

function readModel(dir: string) {
  const modelJson = JSON.parse(readFileSync(`${dir}/model.json`, 'utf8'));
  const manifest = modelJson.weightsManifest as tf.io.WeightsManifestConfig;
  const weightSpecs = manifest.flatMap((group) => group.weights);
  const data = Buffer.concat(
    manifest.flatMap((group) => group.paths.map((p) => readFileSync(`${dir}/${p}`))),
  );
  return { modelJson, weightSpecs, weightData: new Uint8Array(data).buffer };
}

/** Model artifacts read from `dir` (what an IOHandler's load() returns). */
export function artifactsFromDir(dir: string): tf.io.ModelArtifacts {
  const { modelJson, weightSpecs, weightData } = readModel(dir);
  return {
    modelTopology: modelJson.modelTopology,
    weightSpecs,
    weightData,
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
    signature: modelJson.signature,
    userDefinedMetadata: modelJson.userDefinedMetadata,
  };
}

/** An IOHandler over `dir`, for tf.loadGraphModel or this package's loadGraphModel. */
export function fileHandler(dir: string): tf.io.IOHandler {
  return { load: async () => artifactsFromDir(dir) };
}

/** The input placeholder's shape with a dynamic batch replaced by `batch` (a fixed batch is kept). */
export function inputShapeOf(dir: string, batch: number): number[] {
  const { modelJson } = readModel(dir);
  const node = modelJson.modelTopology.node.find((n: { op: string }) => n.op === 'Placeholder');
  const dims = node.attr.shape.shape.dim.map((d: { size: string }) => Number(d.size));
  return [dims[0] > 0 ? dims[0] : batch, ...dims.slice(1)];
}

/** A smooth synthetic photo-like image in [0, 1]: what image models see, unlike uniform noise. */
export function smoothImage([n, h, w, c]: number[]): Float32Array {
  const data = new Float32Array(n * h * w * c);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++)
          data[i++] = 0.5 + 0.45 * Math.sin((x + 5 * b) / 11 + ch) * Math.cos((y - 3 * ch) / 17);
  return data;
}
