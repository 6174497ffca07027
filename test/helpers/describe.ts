import * as tf from '@tensorflow/tfjs-core';

import { WebGPUFusedBackend } from '../../src/backend/webgpu_fused_backend';
import { watchUncapturedErrors } from './gpu_errors';

/** Every spec of this package starts with this; see test/setup.ts. */
export const OWN_SPEC_PREFIX = 'webgpu-fused:';

/**
 * `describe` for specs that run on a fused backend (default `webgpu-fused`).
 * Selects the backend before the specs and fails any spec during which the
 * device reported an uncaptured WebGPU error.
 */
export function describeFused(name: string, specs: () => void, backendName = 'webgpu-fused'): void {
  describe(`${OWN_SPEC_PREFIX} ${name}`, () => {
    let stopWatching: (() => string[]) | undefined;
    beforeAll(async () => {
      expect(await tf.setBackend(backendName)).toBe(true);
      stopWatching = watchUncapturedErrors(fusedBackend(backendName).device);
    });
    beforeEach(async () => {
      await tf.setBackend(backendName);
    });
    afterAll(() => {
      const errors = stopWatching?.() ?? [];
      expect(errors).withContext('uncaptured WebGPU errors').toEqual([]);
    });
    specs();
  });
}

/** `describe` for specs that need no GPU (pure functions). */
export function describePure(name: string, specs: () => void): void {
  describe(`${OWN_SPEC_PREFIX} ${name}`, specs);
}

export function fusedBackend(backendName = 'webgpu-fused'): WebGPUFusedBackend {
  const backend = tf.findBackend(backendName);
  if (!(backend instanceof WebGPUFusedBackend)) {
    throw new Error(`backend '${backendName}' is not initialized`);
  }
  return backend;
}
