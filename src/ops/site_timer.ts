/**
 * Times one fusion site on the current backend for autotuning: the stock
 * kernels (fused bias + relu6 epilogues, as in MobileNet-style blocks, and
 * the residual Add of a block that has one) or
 * the fused kernel with a given tile, as batches of back-to-back dispatches
 * (see batch_timing.ts).
 */

import * as tf from '@tensorflow/tfjs-core';

import { DwPwProblem, IrTile, PwDwProblem } from '../kernels/types';
import { SiteVariant, TimeSite } from '../planner/autotune';
import { BlockSiteProblem, SiteKind } from '../planner/graph';
import { SiteProblem } from '../planner/plan';
import { depthwisePointwiseConv2d } from './depthwise_pointwise_conv2d';
import { msPerRun } from './batch_timing';
import { invertedResidual, packInvertedResidual } from './inverted_residual';
import { pointwiseDepthwiseConv2d } from './pointwise_depthwise_conv2d';

export interface SiteTimerOptions {
  /** Dispatches per timed batch (default 20). */
  repeats?: number;
  /** Timed batches; the median is kept (default 3). */
  rounds?: number;
}

/**
 * Tensors for one site on the current backend (random, fixed seed) and a
 * closure running one variant on them; `dispose` frees the tensors.
 */
export function buildSiteRunner(kind: SiteKind, problem: SiteProblem, variant: SiteVariant) {
  const { batch: n, inHeight: h, inWidth: w, kernelSize: k, stride } = problem;
  const random = (shape: number[], scale: number) =>
    tf.mul(tf.randomUniform(shape, -1, 1, 'float32', 7), scale);
  if (kind === 'pwdwpw') return buildBlockRunner(problem as BlockSiteProblem, variant, random);
  if (kind === 'dwpw') {
    const { channels: c, outChannels: f } = problem as DwPwProblem;
    const t = tf.tidy(() => ({
      x: random([n, h, w, c], 1) as tf.Tensor4D,
      dw: random([k, k, c, 1], 0.5) as tf.Tensor4D,
      db: random([c], 0.5),
      pw: random([1, 1, c, f], 1 / Math.sqrt(c)) as tf.Tensor4D,
      pb: random([f], 0.5),
    }));
    const run =
      variant.kind === 'unfused'
        ? () =>
            tf.tidy(() =>
              tf.fused.conv2d({
                x: tf.fused.depthwiseConv2d({
                  x: t.x,
                  filter: t.dw,
                  strides: stride,
                  pad: 'same',
                  bias: t.db,
                  activation: 'relu6',
                }),
                filter: t.pw,
                strides: 1,
                pad: 'valid',
                bias: t.pb,
              }),
            )
        : () =>
            depthwisePointwiseConv2d({
              x: t.x,
              dwFilter: t.dw,
              pwFilter: t.pw,
              strides: stride,
              pad: 'same',
              dwBias: t.db,
              dwActivation: 'relu6',
              pwBias: t.pb,
              tile: variant.tile as never,
            });
    return { run, dispose: () => tf.dispose(Object.values(t)) };
  }
  const { inChannels: cin, channels: m } = problem as PwDwProblem;
  const t = tf.tidy(() => ({
    x: random([n, h, w, cin], 1) as tf.Tensor4D,
    pw: random([1, 1, cin, m], 1 / Math.sqrt(cin)) as tf.Tensor4D,
    pb: random([m], 0.5),
    dw: random([k, k, m, 1], 0.5) as tf.Tensor4D,
    db: random([m], 0.5),
  }));
  const run =
    variant.kind === 'unfused'
      ? () =>
          tf.tidy(() =>
            tf.fused.depthwiseConv2d({
              x: tf.fused.conv2d({
                x: t.x,
                filter: t.pw,
                strides: 1,
                pad: 'valid',
                bias: t.pb,
                activation: 'relu6',
              }),
              filter: t.dw,
              strides: stride,
              pad: 'same',
              bias: t.db,
              activation: 'relu6',
            }),
          )
      : () =>
          pointwiseDepthwiseConv2d({
            x: t.x,
            pwFilter: t.pw,
            dwFilter: t.dw,
            strides: stride,
            pad: 'same',
            pwBias: t.pb,
            pwActivation: 'relu6',
            dwBias: t.db,
            dwActivation: 'relu6',
            tile: variant.tile as never,
          });
  return { run, dispose: () => tf.dispose(Object.values(t)) };
}

function buildBlockRunner(
  problem: BlockSiteProblem,
  variant: SiteVariant,
  random: (shape: number[], scale: number) => tf.Tensor,
) {
  const { batch: n, inHeight: h, inWidth: w, kernelSize: k, stride } = problem;
  const { inChannels: cin, expandedChannels: m, outChannels: cout } = problem;
  const t = tf.tidy(() => ({
    x: random([n, h, w, cin], 1) as tf.Tensor4D,
    expandFilter: random([1, 1, cin, m], 1 / Math.sqrt(cin)) as tf.Tensor4D,
    expandBias: random([m], 0.5) as tf.Tensor1D,
    dwFilter: random([k, k, m, 1], 0.5) as tf.Tensor4D,
    dwBias: random([m], 0.5) as tf.Tensor1D,
    projectFilter: random([1, 1, m, cout], 1 / Math.sqrt(m)) as tf.Tensor4D,
    projectBias: random([cout], 0.5) as tf.Tensor1D,
  }));
  const { x, ...weights } = t;
  if (variant.kind === 'unfused') {
    const run = () =>
      tf.tidy(() => {
        const expanded = tf.fused.conv2d({
          x,
          filter: weights.expandFilter,
          strides: 1,
          pad: 'valid',
          bias: weights.expandBias,
          activation: 'relu6',
        });
        const dw = tf.fused.depthwiseConv2d({
          x: expanded,
          filter: weights.dwFilter,
          strides: stride,
          pad: 'same',
          bias: weights.dwBias,
          activation: 'relu6',
        });
        const y = tf.fused.conv2d({
          x: dw,
          filter: weights.projectFilter,
          strides: 1,
          pad: 'valid',
          bias: weights.projectBias,
        });
        return problem.residual ? tf.add(y, x) : y;
      });
    return { run, dispose: () => tf.dispose(Object.values(t)) };
  }
  // Packed once, as a rewritten model does at load; only the block dispatch is timed.
  const packed = packInvertedResidual(weights);
  const run = () =>
    invertedResidual({
      x,
      ...weights,
      packed,
      strides: stride,
      pad: 'same',
      expandActivation: 'relu6',
      dwActivation: 'relu6',
      residual: problem.residual,
      tile: variant.tile as IrTile,
    });
  return {
    run,
    dispose: () => {
      packed.dispose();
      tf.dispose(Object.values(t));
    },
  };
}

/** A `TimeSite` for `autotune` that measures on the current tfjs backend. */
export function makeSiteTimer(options: SiteTimerOptions = {}): TimeSite {
  const repeats = options.repeats ?? 20;
  const rounds = options.rounds ?? 3;
  return async (kind, problem, variant) => {
    const { run, dispose } = buildSiteRunner(kind, problem, variant);
    try {
      return await msPerRun(run, repeats, rounds);
    } finally {
      dispose();
    }
  };
}
