/**
 * Node helpers for the bundled models (models/<name>/model.json + weight
 * files) shared by the demo and the benchmarks: an IOHandler and in-memory
 * artifacts over the files, the model's input shape, and a smooth
 * photo-like input image.
 */

import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';

export { smoothImage } from './smooth_image';

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
  if (!Array.isArray(modelJson.modelTopology?.node)) {
    throw new Error(
      `${dir} is not a converted GraphModel (no graph nodes); load Keras models with loadLayersModel`,
    );
  }
  const node = modelJson.modelTopology.node.find((n: { op: string }) => n.op === 'Placeholder');
  const dims = node.attr.shape.shape.dim.map((d: { size: string }) => Number(d.size));
  return [dims[0] > 0 ? dims[0] : batch, ...dims.slice(1)];
}
