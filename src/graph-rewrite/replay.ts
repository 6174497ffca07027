/**
 * Replay of a GraphModel's dispatches on `webgpu-fused`. The first
 * `execute()` (and `predict()`) for a set of input shapes runs as tfjs runs
 * it; the second also records the dispatches it encodes (see
 * src/backend/dispatch_recorder.ts); from the third on, the inputs are copied
 * into the recording's input buffers and the recorded dispatches are encoded
 * again in one compute pass, with copies of the outputs as new tensors. The
 * graph executor and tfjs's per-op host work (about 40 µs per dispatch) are
 * skipped; the GPU runs the same programs on the same buffers.
 *
 * Runs that a replay could not reproduce are never replayed: a run that
 * reads a GPU value back or copies between buffers fails its recording and
 * that shape keeps running as tfjs runs it. While tfjs profiles (`tf.profile`,
 * `tf.time`), in debug mode, while keeping intermediate tensors or compiling
 * only, and on any other backend, `execute()` is tfjs's own.
 */

import * as tf from '@tensorflow/tfjs-core';

import type { DispatchRecording } from '../backend/dispatch_recorder';
import { BufferCopy, ReplayOutput, WebGPUFusedBackend } from '../backend/webgpu_fused_backend';

/** Input shapes recorded per model at most; other shapes run as tfjs runs them. */
export const MAX_RECORDINGS = 8;

type Inputs = tf.Tensor | tf.Tensor[] | tf.NamedTensorMap;
/** What runs the model: the second argument (output names, predict config) is plain data, part of the key. */
type Options = unknown;
type Execute = (inputs: Inputs, options?: Options) => tf.Tensor | tf.Tensor[];

interface Recorded {
  backend: WebGPUFusedBackend;
  recording: DispatchRecording;
  /** Per input (in `entriesOf` order), the buffer the recorded dispatches read it from. */
  inputs: { buffer: GPUBuffer; bytes: number }[];
  outputs: ReplayOutput[];
  single: boolean;
}

/** Bytes of a tensor's values on the GPU (4 per element for every dtype WebGPU tensors hold). */
const bytesOf = (t: tf.Tensor) => 4 * t.size;

function flag(name: string): boolean {
  try {
    return tf.env().getBool(name);
  } catch {
    return false; // not registered
  }
}

/** Whether tfjs would observe a replay differently: profiling, debugging, compiling only. */
function tfjsIsWatching(backend: WebGPUFusedBackend): boolean {
  const state = (tf.engine() as unknown as { state: { profiling?: boolean; activeProfile?: unknown } }).state;
  return (
    state.profiling === true ||
    (backend as unknown as { activeTimers?: unknown }).activeTimers != null ||
    flag('DEBUG') ||
    flag('KEEP_INTERMEDIATE_TENSORS') ||
    flag('WEBGPU_ENGINE_COMPILE_ONLY')
  );
}

/** The input tensors with their keys (index or name), or null when `inputs` is not a plain form. */
function entriesOf(inputs: Inputs): [string, tf.Tensor][] | null {
  const list: [string, tf.Tensor][] =
    inputs instanceof tf.Tensor
      ? [['', inputs]]
      : Array.isArray(inputs)
        ? inputs.map((t, i) => [String(i), t] as [string, tf.Tensor])
        : Object.keys(inputs).map((k) => [k, inputs[k]] as [string, tf.Tensor]);
  return list.every(([, t]) => t instanceof tf.Tensor && !t.isDisposed) ? list : null;
}

/** `inputs` in the same form with other tensors. */
function sameForm(inputs: Inputs, tensors: tf.Tensor[]): Inputs {
  if (inputs instanceof tf.Tensor) return tensors[0];
  if (Array.isArray(inputs)) return tensors;
  const map: tf.NamedTensorMap = {};
  Object.keys(inputs).forEach((k, i) => (map[k] = tensors[i]));
  return map;
}

/** The GPU buffers of the inputs, or null when one is not on `backend`'s GPU. */
function inputBuffers(backend: WebGPUFusedBackend, entries: [string, tf.Tensor][]): GPUBuffer[] | null {
  const buffers = entries.map(([, t]) => backend.bufferOf(t));
  return buffers.every((b) => b != null) ? (buffers as GPUBuffer[]) : null;
}

/** Copies of the input buffers into the recording's (slot i receives input i). */
function copiesInto(sources: GPUBuffer[], slots: { buffer: GPUBuffer; bytes: number }[]): BufferCopy[] {
  return sources.map((from, i) => ({ from, to: slots[i].buffer, bytes: slots[i].bytes }));
}

function keyOf(entries: [string, tf.Tensor][], outputs: Options): string {
  const inputs = entries.map(([k, t]) => `${k}:${t.dtype}[${t.shape.join(',')}]`).join(';');
  return `${inputs}|${JSON.stringify(outputs ?? null)}`;
}

export class ModelReplay {
  /** Calls seen per key before its recording. */
  private readonly calls = new Map<string, number>();
  /** Per key: its recording, or null when the runs cannot be replayed. */
  private readonly recorded = new Map<string, Recorded | null>();
  private disposed = false;

  constructor(private readonly execute: Execute) {}

  /** What `model.execute` does with replay on. */
  run(inputs: Inputs, outputs?: Options): tf.Tensor | tf.Tensor[] {
    const backend = tf.backend();
    if (this.disposed || !(backend instanceof WebGPUFusedBackend) || tfjsIsWatching(backend)) {
      return this.execute(inputs, outputs);
    }
    const entries = entriesOf(inputs);
    if (entries == null) return this.execute(inputs, outputs);
    const key = keyOf(entries, outputs);
    const recorded = this.recorded.get(key);
    if (recorded === null) return this.execute(inputs, outputs);
    if (recorded != null && recorded.backend === backend) {
      // Inputs held by another backend run as tfjs runs them (it moves their data).
      return this.replay(recorded, entries) ?? this.execute(inputs, outputs);
    }
    if (recorded != null) {
      this.forget(key); // recorded on another instance of the backend
    }
    const calls = (this.calls.get(key) ?? 0) + 1;
    this.calls.set(key, calls);
    // The first run compiles and uploads the weights; a recording is made of the next.
    if (calls < 2 || this.recorded.size >= MAX_RECORDINGS) return this.execute(inputs, outputs);
    return this.record(backend, key, inputs, entries, outputs);
  }

  /** Number of input shapes with a recording. */
  get recordings(): number {
    let n = 0;
    this.recorded.forEach((r) => (n += r == null ? 0 : 1));
    return n;
  }

  /** Gives every recording's buffers back; later runs are tfjs's own. */
  dispose(): void {
    this.disposed = true;
    for (const key of [...this.recorded.keys()]) this.forget(key);
  }

  private forget(key: string): void {
    const recorded = this.recorded.get(key);
    this.recorded.delete(key);
    this.calls.delete(key);
    if (recorded != null) recorded.backend.releaseRecording(recorded.recording);
  }

  /** The replayed outputs, or null when an input is not on this backend's GPU. */
  private replay(recorded: Recorded, entries: [string, tf.Tensor][]): tf.Tensor | tf.Tensor[] | null {
    const { backend } = recorded;
    const sources = inputBuffers(backend, entries);
    if (sources == null) return null;
    const outputs = backend.replay(
      recorded.recording.dispatches,
      copiesInto(sources, recorded.inputs),
      recorded.outputs,
    );
    return recorded.single ? outputs[0] : outputs;
  }

  /**
   * Runs the model on copies of the inputs (the buffers a replay copies into)
   * while recording; returns copies of the outputs, so that the recording
   * keeps the run's own.
   */
  private record(
    backend: WebGPUFusedBackend,
    key: string,
    inputs: Inputs,
    entries: [string, tf.Tensor][],
    outputs: Options,
  ): tf.Tensor | tf.Tensor[] {
    const sources = inputBuffers(backend, entries);
    if (sources == null) return this.execute(inputs, outputs);
    const slots = entries.map(([, t]) => {
      const bytes = bytesOf(t);
      return { buffer: backend.acquireOutputBuffer(bytes), bytes, shape: t.shape, dtype: t.dtype };
    });
    backend.replay([], copiesInto(sources, slots), []);
    const inputTensors = slots.map((s) => backend.tensorOn(s.buffer, s.shape, s.dtype));
    const recorder = backend.startRecording();
    let result: tf.Tensor | tf.Tensor[];
    try {
      result = this.execute(sameForm(inputs, inputTensors), outputs);
    } catch (e) {
      inputTensors.forEach((t) => t.dispose());
      backend.stopRecording(recorder);
      throw e;
    }
    const single = !Array.isArray(result);
    const results = single ? [result as tf.Tensor] : (result as tf.Tensor[]);
    const resultBuffers = results.map((t) => (t instanceof tf.Tensor ? backend.bufferOf(t) : null));
    const slotBuffers = new Set(slots.map((s) => s.buffer));
    resultBuffers.forEach((b) => {
      if (b == null || !(recorder.acquired.has(b) || slotBuffers.has(b))) {
        recorder.fail('an output the run did not compute');
      }
    });
    if (recorder.failure != null) {
      inputTensors.forEach((t) => t.dispose());
      backend.stopRecording(recorder);
      this.recorded.set(key, null);
      return result;
    }
    const replayOutputs: ReplayOutput[] = results.map((t, i) => ({
      from: resultBuffers[i]!,
      bytes: bytesOf(t),
      shape: t.shape,
      dtype: t.dtype,
    }));
    const copies = backend.replay([], [], replayOutputs);
    // The run's inputs and outputs stay with the recording: pinned, then released into it.
    [...slotBuffers, ...resultBuffers].forEach((b) => recorder.pin(b!));
    [...inputTensors, ...results].forEach((t) => t.dispose());
    const recording = backend.stopRecording(recorder);
    this.recorded.set(
      key,
      recording == null
        ? null
        : {
            backend,
            recording,
            inputs: slots.map((s) => ({ buffer: s.buffer, bytes: s.bytes })),
            outputs: replayOutputs,
            single,
          },
    );
    return single ? copies[0] : copies;
  }
}

/**
 * Makes `model[method]` replay its recorded dispatches on `webgpu-fused`:
 * a GraphModel's `execute` (its `predict` calls it), a LayersModel's
 * `predict`. `model.dispose()` also frees the recordings. Returns the replay
 * state (its `recordings` count says how many shapes have one).
 */
export function enableReplay<M extends { dispose(): unknown }>(
  model: M,
  method: 'execute' | 'predict' = 'execute',
): ModelReplay {
  const run = (model as unknown as Record<string, Execute>)[method];
  if (typeof run !== 'function') throw new Error(`enableReplay: the model has no ${method} method`);
  const replay = new ModelReplay(run.bind(model));
  const dispose = model.dispose.bind(model);
  // Defined, not assigned: the layers rewrite defines dispose as a read-only property.
  Object.defineProperty(model, method, {
    configurable: true,
    value: (inputs: Inputs, options?: Options) => replay.run(inputs, options),
  });
  Object.defineProperty(model, 'dispose', {
    configurable: true,
    value: () => {
      replay.dispose();
      return dispose();
    },
  });
  return replay;
}
