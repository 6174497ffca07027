/**
 * The vendored real models (models/, see models/README.md), read from disk.
 * Node only: karma serves files only through its `files` patterns, which do
 * not include models/, so under karma these specs are skipped (pending) with
 * that reason.
 */

import * as tf from '@tensorflow/tfjs-core';

export const IN_NODE =
  typeof process !== 'undefined' &&
  process.versions?.node != null &&
  typeof (globalThis as { window?: unknown }).window === 'undefined';

/** `it` in the Node runner, a skipped spec naming the reason under karma. */
export const itInNode = (name: string, fn: () => Promise<void>, timeout?: number) =>
  IN_NODE ? it(name, fn, timeout) : xit(`${name} (Node only: karma does not serve models/)`, fn);

/** model.json and its weight files under `dir` as in-memory artifacts. */
export async function readModelArtifacts(dir: string): Promise<tf.io.ModelArtifacts> {
  // A computed specifier keeps bundlers for the browser from resolving node:fs.
  const fsModule = 'node:fs';
  const fs = (await import(/* @vite-ignore */ fsModule)) as typeof import('node:fs');
  const json = JSON.parse(fs.readFileSync(`${dir}/model.json`, 'utf8'));
  const groups = json.weightsManifest as Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  const buffers = groups.flatMap((g) => g.paths.map((p) => fs.readFileSync(`${dir}/${p}`)));
  const data = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const b of buffers) {
    data.set(b, offset);
    offset += b.byteLength;
  }
  return {
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    modelTopology: json.modelTopology,
    weightSpecs: groups.flatMap((g) => g.weights),
    weightData: data.buffer,
    signature: json.signature,
    userDefinedMetadata: json.userDefinedMetadata,
  };
}
