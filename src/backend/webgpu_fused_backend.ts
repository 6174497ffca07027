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

import { BindGroupCache } from './bind_group_cache';
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

  constructor(device: GPUDevice, adapterInfo?: GPUAdapterInfo) {
    super(device, adapterInfo);
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
      return this.bindGroups.get(key, () =>
        createBindGroup(extra == null ? descriptor : { ...descriptor, entries }),
      );
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
    const pipeline = program.pipeline;
    this.pendingExtraBindings = extra != null && extra.length > 0 ? extra : null;
    this.pendingPipeline = pipeline instanceof Promise ? null : (pipeline ?? null);
    try {
      stockRecordAndSubmit.call(this, program, ...rest);
    } finally {
      this.pendingExtraBindings = null;
      this.pendingPipeline = null;
    }
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
  return (this as unknown as WebGPUFusedBackend).keptUniforms.get(
    fields,
    () => stockMakeUniforms.call(this, fields),
    (made) => {
      const at = pending.lastIndexOf(made.buffer);
      if (at < 0) return false;
      pending.splice(at, 1);
      return true;
    },
  );
};
