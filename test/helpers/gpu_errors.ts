/**
 * WebGPU error traps. A pipeline that fails validation is dropped together
 * with its whole command buffer, and the output tensor then silently holds
 * whatever its pooled buffer held before; so every fused-kernel spec runs
 * under an error scope and fails on any validation/internal/OOM error.
 */

const SCOPES: GPUErrorFilter[] = ['validation', 'internal', 'out-of-memory'];

export class GpuErrorTrapped extends Error {}

/** Runs `fn` under error scopes on `device`; throws if any error was raised. */
export async function withGpuErrorTrap<T>(device: GPUDevice, fn: () => Promise<T>): Promise<T> {
  for (const scope of SCOPES) {
    device.pushErrorScope(scope);
  }
  let result: T | undefined;
  let thrown: unknown;
  try {
    result = await fn();
  } catch (e) {
    thrown = e;
  }
  const messages: string[] = [];
  for (const scope of [...SCOPES].reverse()) {
    const error = await device.popErrorScope();
    if (error != null) {
      messages.push(`${scope}: ${error.message}`);
    }
  }
  if (messages.length > 0) {
    throw new GpuErrorTrapped(`WebGPU error(s):\n${messages.join('\n')}`);
  }
  if (thrown !== undefined) {
    throw thrown;
  }
  return result as T;
}

/** Collects uncaptured device errors until the returned function is called. */
export function watchUncapturedErrors(device: GPUDevice): () => string[] {
  const errors: string[] = [];
  const listener = (event: Event) => {
    errors.push((event as GPUUncapturedErrorEvent).error.message);
  };
  device.addEventListener('uncapturederror', listener);
  return () => {
    device.removeEventListener('uncapturederror', listener);
    return errors;
  };
}
