/**
 * Model helpers shared by the peer scripts: artifacts with a dynamic batch and
 * output comparison.
 */

import * as tf from '@tensorflow/tfjs-core';

/**
 * A copy of GraphModel artifacts whose Placeholder takes any batch size. The
 * benchmark models run per image (no op mixes images), so a model exported
 * with a fixed batch of 1 (PoseNet) computes the same per-image result at
 * batch 8 or 32.
 */
export function withDynamicBatch(artifacts: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  const topology = JSON.parse(JSON.stringify(artifacts.modelTopology)) as {
    node: Array<{ op: string; attr?: { shape?: { shape?: { dim?: Array<{ size: string }> } } } }>;
  };
  for (const node of topology.node) {
    const dims = node.op === 'Placeholder' ? node.attr?.shape?.shape?.dim : undefined;
    if (dims != null && dims.length > 0) dims[0].size = '-1';
  }
  return { ...artifacts, modelTopology: topology };
}

export interface Agreement {
  /** Largest |a - b| over all outputs. */
  maxAbs: number;
  /** maxAbs divided by the reference's largest magnitude (at least 1). */
  rel: number;
}

/** Worst agreement of `got` with `ref` (same output order, same lengths). */
export function agreement(ref: ArrayLike<number>[], got: ArrayLike<number>[]): Agreement {
  if (ref.length !== got.length) throw new Error(`${got.length} outputs, expected ${ref.length}`);
  let maxAbs = 0;
  let scale = 1;
  ref.forEach((r, k) => {
    const g = got[k];
    if (r.length !== g.length) throw new Error(`output ${k}: ${g.length} values, expected ${r.length}`);
    for (let i = 0; i < r.length; i++) {
      const d = Math.abs(r[i] - g[i]);
      maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
      scale = Math.max(scale, Math.abs(r[i]));
    }
  });
  return { maxAbs, rel: maxAbs / scale };
}
