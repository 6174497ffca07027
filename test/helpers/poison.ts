/**
 * Output poisoning: while `fn` runs, every storage buffer the backend takes
 * from its pool is first filled with NaN. A kernel that fails to write part of
 * its output (or a dropped command buffer) then shows up as NaN instead of
 * passing with stale data from a previous tensor.
 */

import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

type Acquire = WebGPUBackend['bufferManager']['acquireBuffer'];

export async function withPoisonedBuffers<T>(backend: WebGPUBackend, fn: () => Promise<T>): Promise<T> {
  const manager = backend.bufferManager;
  const original: Acquire = manager.acquireBuffer;
  const poisonable = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  manager.acquireBuffer = function (this: typeof manager, ...args: Parameters<Acquire>) {
    const buffer = original.apply(this, args);
    const [size, usage, mappedAtCreation] = args;
    // The write lands on the queue before any later submit, so it precedes
    // the upload copy or dispatch that is about to target this buffer.
    if ((usage & poisonable) === poisonable && !mappedAtCreation && size % 4 === 0) {
      backend.device.queue.writeBuffer(buffer, 0, new Float32Array(size / 4).fill(NaN));
    }
    return buffer;
  } as Acquire;
  try {
    return await fn();
  } finally {
    manager.acquireBuffer = original;
  }
}
