/**
 * Loads `onnxruntime-node`, which is not a dependency of this package (its
 * install downloads CUDA files): `bash bench/peers/setup_ort.sh` installs it
 * into bench/peers/.ort/, and on the GPU machine `bench/peers/gpu_run.sh`
 * unpacks a trimmed copy next to the bundle. Only the API the peer scripts use
 * is typed here.
 */

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export interface OrtTensor {
  readonly dims: readonly number[];
  readonly type: string;
  readonly location: string;
  readonly data: unknown;
  dispose(): void;
}

export interface OrtSessionOptions {
  executionProviders: Array<string | { name: string; [key: string]: unknown }>;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  preferredOutputLocation?: 'cpu' | 'gpu-buffer' | Record<string, 'cpu' | 'gpu-buffer'>;
  enableProfiling?: boolean;
  profileFilePrefix?: string;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  endProfiling(): void;
  release(): Promise<void>;
}

export interface Ort {
  InferenceSession: { create(model: Uint8Array, options?: OrtSessionOptions): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  env: { versions?: Record<string, string>; logLevel?: string };
  listSupportedBackends?: () => Array<{ name: string; bundled: boolean }>;
}

/** Where onnxruntime-node is looked for, first match wins. */
export function ortCandidates(): string[] {
  return [
    process.env.ORT_NODE_DIR ?? '',
    resolve('bench/peers/.ort/node_modules/onnxruntime-node'),
    '', // plain resolution: next to the bundle (gpu_run.sh) or NODE_PATH
  ];
}

/** The onnxruntime-node module; a clear error says how to install it when it is missing. */
export function loadOrt(): Ort {
  const req = createRequire(resolve('package.json'));
  const errors: string[] = [];
  for (const dir of ortCandidates()) {
    if (dir !== '' && !existsSync(dir)) continue;
    try {
      return req(dir === '' ? 'onnxruntime-node' : dir) as Ort;
    } catch (e) {
      errors.push(`${dir || 'onnxruntime-node'}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    'onnxruntime-node not found: run `bash bench/peers/setup_ort.sh` (installs it into bench/peers/.ort/) ' +
      `or set ORT_NODE_DIR to its package folder.\n  ${errors.join('\n  ')}`,
  );
}
