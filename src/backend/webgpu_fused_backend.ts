/**
 * The `webgpu-fused` backend: a stock WebGPUBackend on its own device, created
 * with the adapter's raised limits. It also keeps the adapter's full
 * description (the stock backend keeps only vendor and architecture), which
 * names the device in benchmark reports and keys tuning caches.
 *
 * Programs may bind extra read-write buffer ranges after tfjs's own bindings
 * (output, inputs, uniforms): `scratchBuffer()` hands out a persistent,
 * zero-initialised buffer that kernels leave zeroed after every dispatch
 * (the split inverted-residual kernel keeps its counters and partial sums
 * there), and a program that lists ranges of it in `extraBindings` gets them
 * bound.
 *
 * Bind groups are reused across dispatches that bind the same pipeline to
 * the same buffer ranges (bind_group_cache.ts), uniform buffers are kept by
 * content (uniform_cache.ts), and pipelines remember their bind group
 * layouts: tfjs would create, write and ask for these anew every dispatch.
 */

import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import { engine, Tensor } from '@tensorflow/tfjs-core';
import type { DataType } from '@tensorflow/tfjs-core';

import { BindGroupCache } from './bind_group_cache';
import { DispatchRecorder, DispatchRecording, poolKey } from './dispatch_recorder';
import { UniformField, UniformStore } from './uniform_cache';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

/** A program that binds buffer ranges beyond tfjs's own, in this order, after the uniforms. */
export interface ExtraBindingsProgram extends WebGPUProgram {
  extraBindings?: GPUBufferBinding[];
}

/** What this backend reads of tfjs's WebGPUBackend internals (tfjs-backend-webgpu 4.22). */
interface TensorData {
  values: unknown;
  dtype: DataType;
  shape: number[];
  refCount: number;
  resource?: unknown;
}
interface StockInternals {
  bufferManager: {
    acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
    releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
    /** Released buffers by poolKey(size, usage), handed out again before new ones are made. */
    freeBuffers: Map<string, GPUBuffer[]>;
  };
  tensorMap: { get(dataId: object): TensorData | undefined; set(dataId: object, data: TensorData): void };
  commandEncoder: GPUCommandEncoder | null;
  activeTimers: unknown[] | null;
  queue: GPUQueue;
  nextDataId(): number;
  submitQueue(): void;
  endComputePassEncoder(): void;
  uploadToGPU(dataId: object): void;
}

/** One buffer copy of a replay. */
export interface BufferCopy {
  from: GPUBuffer;
  to: GPUBuffer;
  bytes: number;
}

/** A tensor a replay makes: copied out of `from`. */
export interface ReplayOutput {
  from: GPUBuffer;
  bytes: number;
  shape: number[];
  dtype: DataType;
}

/** Usage of tfjs's tensor buffers (read when used: the package also loads where WebGPU is absent). */
const outputUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

type RecordAndSubmit = (this: WebGPUBackend, program: ExtraBindingsProgram, ...rest: unknown[]) => void;
type FusedRecordAndSubmit = (
  this: WebGPUFusedBackend,
  program: ExtraBindingsProgram,
  ...rest: unknown[]
) => void;

/** `pipeline` answering getBindGroupLayout(i) with the layout it gave the first time. */
function withRememberedLayouts(pipeline: GPUComputePipeline): GPUComputePipeline {
  const get = pipeline.getBindGroupLayout.bind(pipeline);
  const layouts: GPUBindGroupLayout[] = [];
  pipeline.getBindGroupLayout = (index: number) => (layouts[index] ??= get(index));
  return pipeline;
}

export class WebGPUFusedBackend extends WebGPUBackend {
  readonly adapterDescription: AdapterDescription;
  private scratch: GPUBuffer | null = null;
  /** Outgrown scratch buffers: commands not yet submitted may still use them. */
  private retiredScratch: GPUBuffer[] = [];

  /** Set only while tfjs records a program that has extra bindings. */
  pendingExtraBindings: GPUBufferBinding[] | null = null;
  /** The pipeline tfjs is recording a dispatch of, while it does. */
  pendingPipeline: GPUComputePipeline | null = null;
  readonly bindGroups = new BindGroupCache();
  /** Uniform buffers by content; never written again, never returned to tfjs's pool. */
  readonly keptUniforms = new UniformStore<GPUBufferBinding>();
  /** Set while a run's dispatches are recorded (dispatch_recorder.ts). */
  recorder: DispatchRecorder | null = null;
  /** The bind group of the dispatch tfjs records, while it does. */
  lastBindGroup: GPUBindGroup | null = null;
  /** tfjs's buffer manager's own methods, bypassing the recorder. */
  private readonly poolAcquire: StockInternals['bufferManager']['acquireBuffer'];
  private readonly poolRelease: StockInternals['bufferManager']['releaseBuffer'];

  constructor(device: GPUDevice, adapterInfo?: GPUAdapterInfo) {
    super(device, adapterInfo);
    // While recording, released buffers stay with the recording and the run takes them back first.
    const manager = this.internals.bufferManager;
    this.poolAcquire = manager.acquireBuffer.bind(manager);
    this.poolRelease = manager.releaseBuffer.bind(manager);
    manager.acquireBuffer = (size, usage, mappedAtCreation = false, reuse = true) => {
      const recorder = this.recorder;
      if (recorder == null) return this.poolAcquire(size, usage, mappedAtCreation, reuse);
      const buffer =
        (!mappedAtCreation && reuse ? recorder.take(size, usage) : undefined) ??
        this.poolAcquire(size, usage, mappedAtCreation, reuse);
      recorder.noteAcquired(buffer);
      return buffer;
    };
    manager.releaseBuffer = (buffer, reuse = true) => {
      if (this.recorder != null && reuse) this.recorder.keep(buffer);
      else this.poolRelease(buffer, reuse);
    };
    // Installed once (not per call), so the device object keeps one shape.
    const createBindGroup = device.createBindGroup.bind(device);
    device.createBindGroup = (descriptor: GPUBindGroupDescriptor) => {
      const extra = this.pendingExtraBindings;
      let entries = descriptor.entries as GPUBindGroupEntry[];
      if (extra != null) {
        entries = [...entries];
        extra.forEach((resource) => entries.push({ binding: entries.length, resource }));
      }
      const pipeline = this.pendingPipeline;
      const key = pipeline == null ? null : this.bindGroups.keyOf(pipeline, entries);
      if (key == null) this.recorder?.fail('a binding that is not a buffer range');
      const group = this.bindGroups.get(key, () =>
        createBindGroup(extra == null ? descriptor : { ...descriptor, entries }),
      );
      this.lastBindGroup = group;
      return group;
    };
    // tfjs asks every dispatch's pipeline for its bind group layout, a native call each time.
    const createComputePipeline = device.createComputePipeline.bind(device);
    const createComputePipelineAsync = device.createComputePipelineAsync.bind(device);
    device.createComputePipeline = (descriptor) => withRememberedLayouts(createComputePipeline(descriptor));
    device.createComputePipelineAsync = async (descriptor) =>
      withRememberedLayouts(await createComputePipelineAsync(descriptor));
    const info = (adapterInfo ?? {}) as Partial<Record<keyof AdapterDescription, string>>;
    this.adapterDescription = {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
    };
  }

  private get internals(): StockInternals {
    return this as unknown as StockInternals;
  }

  /** Submits what tfjs has encoded so far (work queued after it runs after it). */
  flush(): void {
    const self = this.internals;
    if (self.commandEncoder != null) {
      self.endComputePassEncoder();
      self.submitQueue();
    }
  }

  /**
   * Starts recording the dispatches encoded from now on (see
   * dispatch_recorder.ts); `stopRecording` ends it. One at a time.
   */
  startRecording(): DispatchRecorder {
    if (this.recorder != null) throw new Error('webgpu-fused: a recording is already in progress');
    this.flush(); // releases of earlier work stay with tfjs's pool
    this.recorder = new DispatchRecorder();
    return this.recorder;
  }

  /**
   * Ends the recording: the recording, or null when it failed (its buffers
   * then go back to tfjs's pool).
   */
  stopRecording(recorder: DispatchRecorder): DispatchRecording | null {
    if (this.recorder !== recorder) throw new Error('webgpu-fused: not the recording in progress');
    try {
      this.flush(); // pending releases of the run go to the recording
    } finally {
      this.recorder = null;
    }
    const recording = { dispatches: recorder.dispatches, owned: [...recorder.owned] };
    if (recorder.failure == null && recorder.dispatches.length > 0) return recording;
    this.releaseRecording(recording);
    return null;
  }

  /** Gives a recording's buffers back to tfjs's pool; it must not be replayed after. */
  releaseRecording(recording: DispatchRecording): void {
    for (const buffer of recording.owned) this.poolRelease(buffer);
    (recording as { owned: readonly GPUBuffer[] }).owned = [];
    (recording as { dispatches: readonly unknown[] }).dispatches = [];
  }

  /**
   * The GPU buffer holding `tensor`'s values (uploaded first if they are on
   * the CPU), or null when this backend does not hold it on a buffer.
   */
  bufferOf(tensor: Tensor): GPUBuffer | null {
    const self = this.internals;
    const data = self.tensorMap.get(tensor.dataId);
    if (data == null || data.dtype === 'complex64' || data.dtype === 'string') return null;
    if (data.resource == null) self.uploadToGPU(tensor.dataId);
    return data.resource instanceof GPUBuffer ? data.resource : null;
  }

  /** A fresh buffer from tfjs's pool, never from a recording, for a tensor of `bytes`. */
  acquireOutputBuffer(bytes: number): GPUBuffer {
    return this.poolAcquire(bytes, outputUsage());
  }

  /**
   * Encodes, after everything tfjs has encoded so far, the copies `before`
   * (source and destination must not be tensors of a recording in progress),
   * the `dispatches` in one compute pass, then copies of `outputs` into new
   * buffers, submits it all, and returns the outputs as new tensors.
   */
  replay(
    dispatches: DispatchRecording['dispatches'],
    before: readonly BufferCopy[],
    outputs: readonly ReplayOutput[],
  ): Tensor[] {
    if (this.recorder != null && dispatches.length > 0) {
      throw new Error('webgpu-fused: cannot replay while recording');
    }
    this.flush();
    const encoder = this.device.createCommandEncoder();
    for (const c of before) encoder.copyBufferToBuffer(c.from, 0, c.to, 0, c.bytes);
    if (dispatches.length > 0) {
      const pass = encoder.beginComputePass();
      for (const d of dispatches) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      }
      pass.end();
    }
    const buffers = outputs.map((o) => {
      const to = this.acquireOutputBuffer(o.bytes);
      encoder.copyBufferToBuffer(o.from, 0, to, 0, o.bytes);
      return to;
    });
    this.internals.queue.submit([encoder.finish()]);
    return outputs.map((o, i) => this.tensorOn(buffers[i], o.shape, o.dtype));
  }

  /** A tensor of this backend whose values are `buffer` (which it then owns). */
  tensorOn(buffer: GPUBuffer, shape: number[], dtype: DataType): Tensor {
    const self = this.internals;
    const dataId = { id: self.nextDataId() };
    self.tensorMap.set(dataId, { dtype, shape, values: null, refCount: 1, resource: buffer });
    return engine().makeTensorFromDataId(dataId, shape, dtype, this);
  }

  /** The limits the device was actually created with. */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /**
   * A zero-filled storage buffer of at least `bytes`, shared by every program
   * that asks (dispatches that write it are ordered by WebGPU). Users must
   * leave it zeroed when their dispatch ends.
   */
  scratchBuffer(bytes: number): GPUBuffer {
    if (this.scratch == null || this.scratch.size < bytes) {
      if (this.scratch != null) this.retiredScratch.push(this.scratch);
      // Grow geometrically so a model's blocks settle on one buffer.
      const grown = Math.min(2 * (this.scratch?.size ?? 0), this.device.limits.maxStorageBufferBindingSize);
      const size = Math.ceil(Math.max(bytes, grown) / 4) * 4;
      this.scratch = this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE });
    }
    return this.scratch;
  }

  override dispose(): void {
    this.bindGroups.clear();
    this.keptUniforms.clear(); // their buffers go with tfjs's buffer manager
    this.scratch?.destroy();
    this.retiredScratch.forEach((b) => b.destroy());
    this.scratch = null;
    this.retiredScratch = [];
    super.dispose();
  }
}

// tfjs builds the bind group inside its private recordAndSubmit from the
// output, the inputs and the uniforms; a program's extra bindings are handed
// to the device's createBindGroup wrapper (installed once per backend) for
// the duration of that call.
const stockRecordAndSubmit = (WebGPUBackend.prototype as unknown as { recordAndSubmit: RecordAndSubmit })
  .recordAndSubmit;
(WebGPUFusedBackend.prototype as unknown as { recordAndSubmit: FusedRecordAndSubmit }).recordAndSubmit =
  function (this: WebGPUFusedBackend, program: ExtraBindingsProgram, ...rest: unknown[]) {
    const extra = program.extraBindings;
    const pipeline = program.pipeline instanceof Promise ? null : (program.pipeline ?? null);
    this.pendingExtraBindings = extra != null && extra.length > 0 ? extra : null;
    this.pendingPipeline = pipeline;
    this.lastBindGroup = null;
    const recorder = this.recorder;
    if (recorder != null) {
      if ((this as unknown as StockInternals).activeTimers != null) recorder.fail('timestamp queries');
      if (this.pendingExtraBindings != null) recorder.fail('a program with extra bindings');
    }
    try {
      stockRecordAndSubmit.call(this, program, ...rest);
    } finally {
      this.pendingExtraBindings = null;
      this.pendingPipeline = null;
    }
    if (recorder != null && this.lastBindGroup != null && pipeline != null) {
      const [x, y, z] = program.dispatch;
      recorder.record({
        pipeline,
        bindGroup: this.lastBindGroup,
        workgroups: [x, y ?? 1, z ?? 1],
      });
    } else if (recorder != null) {
      recorder.fail('a dispatch without a bind group');
    }
    this.lastBindGroup = null;
  };

// While recording: uploads of CPU values are pinned (a replay does not redo
// them), and reading a GPU value back or copying between buffers fails the
// recording (the run itself goes on as tfjs would).
type Recording = { recorder: DispatchRecorder | null };
type DataIdMethod = (this: WebGPUBackend, dataId: object) => unknown;
const stockMethods = WebGPUBackend.prototype as unknown as Record<string, DataIdMethod>;
const fusedMethods = WebGPUFusedBackend.prototype as unknown as Record<string, DataIdMethod>;
const stockUploadToGPU = stockMethods.uploadToGPU;

/**
 * Uploads CPU values into a new buffer with queue.writeBuffer, where tfjs
 * maps a buffer at creation and copies into it. Dawn backs a mapped-at-creation
 * storage buffer with a staging buffer of its own and copies it over at the
 * next submit: on an H100 host the 108 weights of MobileNetV2 (16 MiB) took
 * 53–60 ms to create that way plus 62–76 ms in the first submit, against
 * 24–27 ms and under 1 ms with writeBuffer. Only for a buffer made now: a
 * pooled one may still be read by commands tfjs has encoded but not
 * submitted, which a queue write would overtake (tfjs's own path copies in
 * command order). Returns false where tfjs's path runs instead.
 */
function writeIntoNewBuffer(self: StockInternals, data: TensorData): boolean {
  const { dtype, values } = data;
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') return false;
  const size = 4 * data.shape.reduce((a, b) => a * b, 1);
  const usage = outputUsage();
  const manager = self.bufferManager;
  if ((manager.freeBuffers.get(poolKey(size, usage))?.length ?? 0) > 0) return false;
  const typed =
    dtype === 'float32'
      ? values instanceof Float32Array
        ? values
        : Float32Array.from(values as ArrayLike<number>)
      : values instanceof Int32Array
        ? values
        : Int32Array.from(values as ArrayLike<number>);
  if (typed.length * 4 !== size) return false;
  const buffer = manager.acquireBuffer(size, usage);
  if (size > 0) self.queue.writeBuffer(buffer, 0, typed.buffer as ArrayBuffer, typed.byteOffset, size);
  data.resource = buffer;
  data.values = null;
  return true;
}

fusedMethods.uploadToGPU = function (this: WebGPUBackend, dataId: object) {
  const self = this as unknown as Recording & StockInternals;
  const data = self.tensorMap.get(dataId);
  const fromCpu = data != null && data.resource == null && data.values != null;
  // While recording, tfjs's path: a recording hands out buffers of its own.
  if (fromCpu && self.recorder == null && writeIntoNewBuffer(self, data!)) return;
  const result = stockUploadToGPU.call(this, dataId);
  if (fromCpu && self.recorder != null && data!.resource instanceof GPUBuffer) {
    self.recorder.pin(data!.resource);
  }
  return result;
};
for (const name of ['read', 'readSync', 'readToGPU']) {
  const stock = stockMethods[name];
  fusedMethods[name] = function (this: WebGPUBackend, dataId: object) {
    const self = this as unknown as Recording & StockInternals;
    if (self.recorder != null && self.tensorMap.get(dataId)?.values == null) {
      self.recorder.fail(`a GPU value read back (${name})`);
    }
    return stock.call(this, dataId);
  };
}
const stockCopyBuffer = stockMethods.copyBuffer;
fusedMethods.copyBuffer = function (this: WebGPUBackend, buffer: object) {
  (this as unknown as WebGPUFusedBackend).recorder?.fail('a copy between buffers');
  return stockCopyBuffer.call(this, buffer);
};

// tfjs's uniforms for a dispatch (its private makeUniforms): a kept buffer
// with the same content when there is one; otherwise tfjs writes a pooled
// buffer, which is kept (taken out of its pending release) while the store
// has room.
type MakeUniforms = (this: WebGPUBackend, fields: UniformField[]) => GPUBufferBinding;
const stockMakeUniforms = (WebGPUBackend.prototype as unknown as { makeUniforms: MakeUniforms }).makeUniforms;
(WebGPUFusedBackend.prototype as unknown as { makeUniforms: MakeUniforms }).makeUniforms = function (
  this: WebGPUBackend,
  fields: UniformField[],
) {
  const pending = (this as unknown as { uniformPendingDisposal: GPUBuffer[] }).uniformPendingDisposal;
  const self = this as unknown as WebGPUFusedBackend;
  const binding = self.keptUniforms.get(
    fields,
    () => stockMakeUniforms.call(this, fields),
    (made) => {
      const at = pending.lastIndexOf(made.buffer);
      if (at < 0) return false;
      pending.splice(at, 1);
      return true;
    },
  );
  // Written by the queue, not by a dispatch: a replay needs it as it is now.
  self.recorder?.pin(binding.buffer);
  return binding;
};
