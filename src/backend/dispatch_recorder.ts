/**
 * Recording of the dispatches one run of a model encodes, so that later runs
 * on the same shapes can re-encode them directly (`WebGPUFusedBackend.replay`)
 * instead of going through tfjs's per-op path: graph executor, kernel
 * lookup, tensor bookkeeping, uniforms and bind groups, about 40 µs of host
 * time per dispatch on a fast machine.
 *
 * A replay is only right when the dispatches alone reproduce the run: every
 * buffer they bind must hold, at replay time, what it held when the run
 * encoded them. So while recording:
 * - buffers tfjs releases (intermediates, per-dispatch uniforms) go to the
 *   recording instead of tfjs's pool, so nothing outside can be handed them
 *   later; the run itself may take them again, in the same order as the
 *   replay will;
 * - buffers written outside the dispatches (uniforms, uploads of values
 *   computed on the CPU, which cannot depend on the inputs' values since
 *   no GPU value may be read) are pinned: kept, never handed out again;
 * - anything a replay cannot reproduce fails the recording: reading a GPU
 *   value back, a copy between buffers, timestamp queries, a binding that is
 *   not a buffer range, a program with extra (scratch) bindings.
 * A failed recording gives its buffers back to tfjs's pool; the run's own
 * results are right either way.
 */

/** One dispatch as a replay re-encodes it. */
export interface RecordedDispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

/** A finished recording: its dispatches and the buffers it keeps out of tfjs's pool until released. */
export interface DispatchRecording {
  readonly dispatches: readonly RecordedDispatch[];
  readonly owned: readonly GPUBuffer[];
}

/** The key of tfjs's buffer pool (BufferManager) for buffers of this size and usage. */
export const poolKey = (size: number, usage: number) => `${size}_${usage}`;

export class DispatchRecorder {
  readonly dispatches: RecordedDispatch[] = [];
  /** Buffers released while recording, in the order first seen. */
  readonly owned = new Set<GPUBuffer>();
  /** Buffers handed out while recording (the run's own results are among them). */
  readonly acquired = new WeakSet<GPUBuffer>();
  private readonly pinned = new WeakSet<GPUBuffer>();
  private readonly free = new Map<string, GPUBuffer[]>();
  /** Why the recording cannot be replayed; null while it can. */
  failure: string | null = null;

  fail(reason: string): void {
    this.failure ??= reason;
  }

  /** `buffer` holds data written outside the dispatches: keep it, never reuse it. */
  pin(buffer: GPUBuffer): void {
    this.pinned.add(buffer);
  }

  /** A buffer released earlier in the recording with this size and usage, if any. */
  take(size: number, usage: number): GPUBuffer | undefined {
    return this.free.get(poolKey(size, usage))?.pop();
  }

  noteAcquired(buffer: GPUBuffer): void {
    this.acquired.add(buffer);
  }

  /** A buffer tfjs releases while recording: the recording keeps it. */
  keep(buffer: GPUBuffer): void {
    this.owned.add(buffer);
    if (this.pinned.has(buffer)) return;
    const key = poolKey(buffer.size, buffer.usage);
    const list = this.free.get(key);
    if (list == null) this.free.set(key, [buffer]);
    else list.push(buffer);
  }

  record(dispatch: RecordedDispatch): void {
    this.dispatches.push(dispatch);
  }
}
