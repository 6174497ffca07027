/**
 * `loadGraphModel`: tfjs's `loadGraphModel` with the graph rewritten before
 * tfjs parses it (an IOHandler wrapper, the public hook). Returns the
 * ordinary `GraphModel` with the fusion report attached as `model.fusion`.
 */

import * as tf from '@tensorflow/tfjs-core';
import { GraphModel, loadGraphModel as tfLoadGraphModel } from '@tensorflow/tfjs-converter';

import { AdapterIdentity, CONSERVATIVE_PROFILE, DeviceProfile, profileForDevice } from '../planner';
import { backendLimits } from '../ops/op_util';
import { registerFusedOps } from './executors';
import { FuseOptions, fuseGraphModelArtifacts } from './fuse';
import { precompile, PrecompileTimings } from './precompile';
import { enableReplay, ModelReplay } from './replay';
import { FusionReport } from './report';

export interface FusedLoadOptions extends tf.io.LoadOptions, FuseOptions {
  /**
   * Compile the model's WebGPU pipelines in parallel (and upload its
   * weights) while loading, so the first inference runs without shader
   * compiles one after another. Default: for the planned input shape
   * (`inputShape`, else the declared one with a dynamic batch of 1) when it
   * is fully known, skipped when a height or width is dynamic and not given
   * and on software (CPU) adapters; a failure then only warns. `true`: the
   * declared shape (dynamic dimensions 1), or one shape per input; errors
   * propagate. `false`: never.
   * Nothing happens on backends without parallel compilation.
   */
  precompile?: boolean | number[][];
  /**
   * Replay recorded dispatches (default true): on 'webgpu-fused', from the
   * third `execute()`/`predict()` with the same input shapes on, the model's
   * GPU dispatches are re-encoded directly from a recording of the second,
   * without tfjs's per-op host work; results are the same programs on the
   * same data. Runs a replay could not reproduce (reading GPU values back,
   * buffer copies) are never replayed; see replay.ts.
   */
  replay?: boolean;
}

/** Where `loadGraphModel`'s time went, in ms. */
export interface LoadTimings {
  /** tfjs's load: fetching, the rewrite, parsing the graph, making the weight tensors. */
  loadMs: number;
  /** The rewrite alone (matching, planning, folding weights). */
  rewriteMs: number;
  /** The default or requested precompile, when one ran. */
  precompile?: PrecompileTimings;
}

/**
 * A GraphModel whose graph runs the chosen sites fused; `fusion` says which
 * and why, `replay` (unless turned off) holds its recorded dispatches,
 * `loadTimings` where the load's time went.
 */
export type FusedGraphModel = GraphModel & {
  readonly fusion: FusionReport;
  readonly replay?: ModelReplay;
  readonly loadTimings: LoadTimings;
};

/** Reads a weight stream (LoadOptions.streamWeights) into one buffer: the rewrite needs the values. */
export async function readWeightStream(stream: ReadableStream<ArrayBuffer>): Promise<ArrayBuffer> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(new Uint8Array(value));
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out.buffer;
}

/**
 * The profile to plan for when none is given: the current backend's WebGPU
 * limits with the measured throughput figures of a known device (see
 * `profileForDevice`) or else the conservative ones; the conservative
 * profile when the backend is not WebGPU.
 */
export function defaultProfile(): DeviceProfile {
  const limits = backendLimits();
  if (limits == null) return CONSERVATIVE_PROFILE;
  return profileForDevice(limits, backendAdapter());
}

/** What the current backend's adapter says about itself (the fused backend keeps it). */
const backendAdapter = () => (tf.backend() as { adapterDescription?: AdapterIdentity }).adapterDescription;

/**
 * Whether an adapter runs WebGPU on the CPU (SwiftShader and the like). The
 * default precompile is skipped there: such an adapter compiles no faster in
 * parallel, and MobileNetV2's compile-only pass took twice as long as the
 * compiles of its first inference on SwiftShader.
 */
export function isSoftwareAdapter(adapter: AdapterIdentity | undefined): boolean {
  const text = [adapter?.vendor, adapter?.architecture, adapter?.device, adapter?.description].join(' ');
  return /swiftshader|llvmpipe|lavapipe|software|\bcpu\b/i.test(text);
}

/**
 * One shape per model input for the default precompile: `inputShape` (one
 * shape, or by input name) over the declared shape, a dynamic batch 1;
 * null when any other dimension stays unknown.
 */
export function plannedShapes(
  model: Pick<GraphModel, 'inputs'>,
  inputShape?: number[] | Record<string, number[]>,
): number[][] | null {
  const shapes: number[][] = [];
  for (const input of model.inputs) {
    const declared = input.shape;
    if (declared == null) return null;
    const given = Array.isArray(inputShape) ? inputShape : inputShape?.[input.name];
    const shape = declared.map((d, axis) => (d >= 0 ? d : (given?.[axis] ?? (axis === 0 ? 1 : -1))));
    if (shape.some((d) => !(d >= 0))) return null;
    shapes.push(shape);
  }
  return shapes;
}

function withRewrite(
  handler: tf.io.IOHandler,
  options: FuseOptions,
  onReport: (r: FusionReport, ms: number) => void,
): tf.io.IOHandler {
  if (handler.load == null) throw new Error('loadGraphModel: the IOHandler has no load method');
  return {
    ...handler,
    load: async () => {
      const artifacts = await handler.load!();
      if (artifacts.weightData == null && artifacts.getWeightStream != null) {
        artifacts.weightData = await readWeightStream(artifacts.getWeightStream());
        delete artifacts.getWeightStream;
      }
      const start = performance.now();
      const { artifacts: fused, report } = fuseGraphModelArtifacts(artifacts, options);
      onReport(report, performance.now() - start);
      return fused;
    },
  };
}

/**
 * Loads a graph model like `tf.loadGraphModel(url | IOHandler, options)` and
 * rewrites its DW→PW / PW→DW sites into fused ops before tfjs parses it.
 * `options` takes tfjs's LoadOptions plus `plan`, `profile`, `inputShape`
 * and `keep` (see FuseOptions), and `precompile`. Registers the fused ops
 * first. Set the backend before loading: weights become tensors of the
 * current backend.
 */
export async function loadGraphModel(
  modelUrl: string | tf.io.IOHandler,
  options: FusedLoadOptions = {},
): Promise<FusedGraphModel> {
  registerFusedOps();
  const {
    plan,
    profile,
    inputShape,
    keep,
    measured,
    tiles,
    blocks,
    precompile: warm,
    replay = true,
    ...loadOptions
  } = options;
  const fuseOptions: FuseOptions = {
    plan,
    profile: profile ?? defaultProfile(),
    inputShape,
    keep,
    measured,
    tiles,
    blocks,
  };
  let report: FusionReport | undefined;
  let rewriteMs = 0;
  const onReport = (r: FusionReport, ms: number) => {
    report = r;
    rewriteMs = ms;
  };
  const start = performance.now();
  let model: GraphModel;
  if (typeof modelUrl === 'string') {
    // tfjs's own URL routing (http, file://, indexeddb://, TF Hub ...), each handler wrapped.
    const io = tf.io;
    const routed = {
      ...io,
      getLoadHandlers: (url: string | string[], o?: tf.io.LoadOptions) =>
        io.getLoadHandlers(url, o).map((h) => withRewrite(h, fuseOptions, onReport)),
      browserHTTPRequest: (path: string, o?: tf.io.LoadOptions) =>
        withRewrite(io.browserHTTPRequest(path, o), fuseOptions, onReport),
      http: (path: string, o?: tf.io.LoadOptions) => withRewrite(io.http(path, o), fuseOptions, onReport),
    };
    model = await tfLoadGraphModel(modelUrl, loadOptions, routed as typeof tf.io);
  } else {
    model = await tfLoadGraphModel(withRewrite(modelUrl, fuseOptions, onReport), loadOptions);
  }
  if (report == null) throw new Error('loadGraphModel: the model was loaded without the rewrite');
  const timings: LoadTimings = { loadMs: performance.now() - start, rewriteMs };
  Object.defineProperty(model, 'loadTimings', { value: timings, enumerable: true });
  Object.defineProperty(model, 'fusion', { value: report, enumerable: true });
  if (replay) Object.defineProperty(model, 'replay', { value: enableReplay(model), enumerable: true });
  if (warm === undefined) {
    const shapes = isSoftwareAdapter(backendAdapter()) ? null : plannedShapes(model, inputShape);
    if (shapes != null) {
      try {
        timings.precompile = await precompile(model, shapes);
      } catch (e) {
        console.warn(`loadGraphModel: pipelines compile on first use (precompile failed: ${String(e)})`);
      }
    }
  } else if (warm) {
    timings.precompile = await precompile(model, warm === true ? undefined : warm);
  }
  return model as FusedGraphModel;
}
