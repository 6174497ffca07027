/**
 * `loadLayersModel` / `fuseLayersModel`: a LayersModel whose eligible layer
 * chains run as fused layers, with the fusion report as `model.fusion` and
 * the unfused model as `model.original`. The fused model is inference-only:
 * training it, or cutting it at a layer that was folded away, throws an
 * error that points to the original.
 */

import * as tf from '@tensorflow/tfjs-core';
import { LayersModel, loadLayersModel as tfLoadLayersModel } from '@tensorflow/tfjs-layers';

import { defaultProfile, readWeightStream } from '../graph-rewrite/load';
import { FusionReport } from '../graph-rewrite/report';
import { enableReplay, ModelReplay } from '../graph-rewrite/replay';
import { LayersFuseOptions, fuseLayersModelArtifacts } from './fuse';
import { registerFusedLayers } from './fused_layers';

export interface FusedLayersLoadOptions extends tf.io.LoadOptions, LayersFuseOptions {
  /**
   * Also load the unfused model as `model.original` (default true; its
   * weights are a second copy, disposed with the fused model).
   */
  keepOriginal?: boolean;
  /**
   * Replay recorded dispatches in `predict()` on 'webgpu-fused' (default
   * true), as `loadGraphModel`'s option of the same name does.
   */
  replay?: boolean;
}

/**
 * A LayersModel whose chosen sites run fused; `fusion` says which and why,
 * `original` is the unfused model, `replay` (unless turned off) holds the
 * recorded dispatches of `predict()`.
 */
export type FusedLayersModel = LayersModel & {
  readonly fusion: FusionReport;
  readonly original?: LayersModel;
  readonly replay?: ModelReplay;
};

function handlerFor(url: string | tf.io.IOHandler, options: tf.io.LoadOptions): tf.io.IOHandler {
  if (typeof url !== 'string') return url;
  // tfjs-layers' own routing: a registered scheme (file://, indexeddb://, ...), else HTTP.
  const handlers = tf.io.getLoadHandlers(url, options);
  if (handlers.length > 1) throw new Error(`loadLayersModel: more than one IOHandler matches '${url}'`);
  return handlers[0] ?? tf.io.browserHTTPRequest(url, options);
}

async function readArtifacts(handler: tf.io.IOHandler): Promise<tf.io.ModelArtifacts> {
  if (handler.load == null) throw new Error('loadLayersModel: the IOHandler has no load method');
  const artifacts = await handler.load();
  if (artifacts.weightData == null && artifacts.getWeightStream != null) {
    artifacts.weightData = await readWeightStream(artifacts.getWeightStream());
    delete artifacts.getWeightStream;
  }
  return artifacts;
}

const TRAINING = ['fit', 'fitDataset', 'trainOnBatch'] as const;

/** Attaches the report and the original, and turns training and cuts at folded layers into clear errors. */
function guard(
  model: LayersModel,
  report: FusionReport,
  original: LayersModel | undefined,
  owned: boolean,
  replay: boolean,
) {
  const pointer =
    original != null
      ? 'use the unfused model, model.original'
      : 'load the model without fusion (tf.loadLayersModel, or keepOriginal: true for model.original)';
  for (const method of TRAINING) {
    Object.defineProperty(model, method, {
      configurable: true,
      value: () =>
        Promise.reject(
          new Error(
            `${method}: this LayersModel runs fused layers (BatchNorm folded into frozen weights) and is ` +
              `inference-only; to train, ${pointer}`,
          ),
        ),
    });
  }
  const getLayer = model.getLayer.bind(model) as (
    name?: string | number,
    index?: number,
  ) => ReturnType<LayersModel['getLayer']>;
  Object.defineProperty(model, 'getLayer', {
    configurable: true,
    value: (name?: string | number, index?: number) => {
      const into = typeof name === 'string' ? report.replaced[name] : undefined;
      if (into != null) {
        throw new Error(
          `getLayer: layer '${name}' was folded into the fused layer '${into}' and has no output of its own ` +
            `in this model; to read it or cut the model there, ${pointer}`,
        );
      }
      return getLayer(name, index);
    },
  });
  if (owned && original != null) {
    const dispose = model.dispose.bind(model);
    Object.defineProperty(model, 'dispose', {
      configurable: true,
      value: () => {
        const result = dispose();
        original.dispose();
        return result;
      },
    });
  }
  Object.defineProperty(model, 'fusion', { value: report, enumerable: true });
  Object.defineProperty(model, 'original', { value: original, enumerable: true });
  if (replay)
    Object.defineProperty(model, 'replay', { value: enableReplay(model, 'predict'), enumerable: true });
  return model as FusedLayersModel;
}

function fuseOptionsOf(options: LayersFuseOptions): LayersFuseOptions {
  const { plan, profile, inputShape, keep, measured, tiles } = options;
  return { plan, profile: profile ?? defaultProfile(), inputShape, keep, measured, tiles };
}

/**
 * Loads a LayersModel like `tf.loadLayersModel(url | IOHandler, options)` and
 * runs its DW→PW / PW→DW layer chains as fused layers (BatchNorm, biases,
 * activations and ZeroPadding2D folded in). `options` takes tfjs's
 * LoadOptions plus `plan`, `profile`, `inputShape`, `keep` (layer names),
 * `measured`, `tiles` and `keepOriginal`. Set the backend before loading:
 * weights become tensors of the current backend.
 */
export async function loadLayersModel(
  modelUrl: string | tf.io.IOHandler,
  options: FusedLayersLoadOptions = {},
): Promise<FusedLayersModel> {
  registerFusedLayers();
  const { plan, profile, inputShape, keep, measured, tiles, keepOriginal, replay, ...loadOptions } = options;
  const artifacts = await readArtifacts(handlerFor(modelUrl, loadOptions));
  const fused = fuseLayersModelArtifacts(
    artifacts,
    fuseOptionsOf({ plan, profile, inputShape, keep, measured, tiles }),
  );
  const strict = { strict: loadOptions.strict };
  const model = await tfLoadLayersModel(tf.io.fromMemory(fused.artifacts), strict);
  const original =
    keepOriginal === false ? undefined : await tfLoadLayersModel(tf.io.fromMemory(artifacts), strict);
  return guard(model, fused.report, original, true, replay !== false);
}

/**
 * The fused counterpart of a LayersModel you already have (built in code or
 * loaded): a new model with the chosen sites fused, `original` set to
 * `model`, which is not modified. Same options as `loadLayersModel`.
 */
export async function fuseLayersModel(
  model: LayersModel,
  options: LayersFuseOptions & { replay?: boolean } = {},
): Promise<FusedLayersModel> {
  if (!(model instanceof LayersModel)) throw new Error('fuseLayersModel: expects a tfjs LayersModel');
  registerFusedLayers();
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const fused = fuseLayersModelArtifacts(artifacts!, fuseOptionsOf(options));
  const copy = await tfLoadLayersModel(tf.io.fromMemory(fused.artifacts));
  return guard(copy, fused.report, model, false, options.replay !== false);
}
