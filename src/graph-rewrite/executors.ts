/**
 * Executors of the custom ops the rewrite emits, registered with
 * tfjs-converter's `registerOp` (which must happen before a model using them
 * is loaded: the op category is fixed at parse time). Each calls the public
 * fused op inside `tf.tidy` (tfjs runs custom executors without one in
 * `executeAsync`), so it runs fused on 'webgpu-fused' and with stock ops on
 * every other backend.
 *
 * A plan is made for one device and input size; at run time the kernel's
 * `isSupported` is asked again with the real shapes and limits: a planned
 * tile that does not fit falls back to the kernel's default tile, and a site
 * the kernel cannot run at all falls back to the stock ops (warned once).
 */

import * as tf from '@tensorflow/tfjs-core';
import { GraphNode, registerOp } from '@tensorflow/tfjs-converter';

import {
  FusedDepthwisePointwiseConv2D,
  FusedDepthwisePointwiseConv2DAttrs,
  isSupported as isDwPwSupported,
} from '../kernels/FusedDepthwisePointwiseConv2D';
import {
  FusedPointwiseDepthwiseConv2D,
  FusedPointwiseDepthwiseConv2DAttrs,
  isSupported as isPwDwSupported,
} from '../kernels/FusedPointwiseDepthwiseConv2D';
import { valueKey } from '../kernels/check_cache';
import { FUSED_ACTIVATIONS, FusedActivation, FusedPadding, KernelLimits, Support } from '../kernels/types';
import { depthwisePointwiseConv2d } from '../ops/depthwise_pointwise_conv2d';
import { backendLimits } from '../ops/op_util';
import { invertedResidualPacked, runBlockKernel } from '../ops/inverted_residual';
import { pointwiseDepthwiseConv2d } from '../ops/pointwise_depthwise_conv2d';
import { FusedInvertedResidual, isSupported as isIrSupported } from '../kernels/FusedInvertedResidual';
import { InvertedResidualLayout, invertedResidualLayout } from '../kernels/inverted_residual_layout';
import { stockDepthwise, stockPointwise } from '../ops/stock_stages';
import {
  FUSED_DW_PW_OP,
  FUSED_INVERTED_RESIDUAL_OP,
  FUSED_PW_DW_OP,
  DW_PW_ROLES,
  PW_DW_ROLES,
} from './rewrite';

export type Roles = Record<string, tf.Tensor | undefined>;

function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

function readRoles(op: string, node: GraphNode, allowed: readonly string[]): Roles {
  const roles = node.attrs['input_roles'];
  if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string' || !allowed.includes(r as string))) {
    fail(op, `malformed input_roles ${JSON.stringify(roles)}`);
  }
  if (node.inputs.length < roles.length)
    fail(op, `${roles.length} input roles but ${node.inputs.length} inputs`);
  const out: Roles = {};
  (roles as string[]).forEach((role, i) => (out[role] = node.inputs[i]));
  for (const required of allowed.slice(0, 3))
    if (out[required] == null) fail(op, `missing input '${required}'`);
  return out;
}

function activation(op: string, node: GraphNode, key: string): FusedActivation {
  const value = node.attrs[key] ?? 'linear';
  if (!(FUSED_ACTIVATIONS as readonly unknown[]).includes(value))
    fail(op, `unknown ${key} '${String(value)}'`);
  return value as FusedActivation;
}

function number(node: GraphNode, key: string, fallback: number): number {
  const value = node.attrs[key];
  return typeof value === 'number' ? value : fallback;
}

function stridesOf(op: string, node: GraphNode): [number, number] {
  const s = node.attrs['strides'];
  if (!Array.isArray(s) || s.length !== 4) fail(op, `malformed strides ${JSON.stringify(s)}`);
  return [s[1] as number, s[2] as number];
}

function paddingOf(op: string, node: GraphNode): FusedPadding {
  const padding = node.attrs['padding'];
  if (padding === 'same' || padding === 'valid') return padding;
  const p = node.attrs['explicit_paddings'];
  if (padding !== 'explicit' || !Array.isArray(p) || p.length !== 8) fail(op, `malformed padding`);
  const v = p as number[];
  return [
    [v[0], v[1]],
    [v[2], v[3]],
    [v[4], v[5]],
    [v[6], v[7]],
  ];
}

/** The planned tile: the node's `tile_<field>` integer (or boolean) attributes. */
function tileOf(node: GraphNode): Record<string, number> | undefined {
  let tile: Record<string, number> | undefined;
  for (const key in node.attrs) {
    const value = node.attrs[key];
    if (key.startsWith('tile_') && (typeof value === 'number' || typeof value === 'boolean')) {
      (tile ??= {})[key.slice(5)] = value as number;
    }
  }
  return tile;
}

/**
 * Planned attributes by graph node. tfjs-converter hands a custom op a new
 * NodeValueImpl (with freshly parsed attrs) on every execution, but the
 * graph node under it (`node.node`, tfjs-converter 4.22) lives with the
 * model and its attributes never change: they are read once, deeply frozen,
 * and the same object is passed on, so the checks downstream compare them
 * by identity. Attributes that fail to read throw on every call.
 */
const plannedByNode = new WeakMap<object, object>();

/** Freezes `value` and everything in it (also inside parts that were already frozen at the top). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

/** One frozen object per distinct value, so that nodes with equal attributes (repeated blocks) share it. */
const plannedByValue = new Map<string, object>();

function plannedOf<T extends object>(node: GraphNode, read: () => T): T {
  const graphNode = (node as unknown as { node?: unknown }).node;
  if (typeof graphNode !== 'object' || graphNode === null) return read();
  let planned = plannedByNode.get(graphNode) as T | undefined;
  if (planned == null) {
    planned = deepFreeze(read());
    const key = valueKey(planned);
    if (key != null) {
      const shared = plannedByValue.get(key) as T | undefined;
      if (shared != null) planned = shared;
      else {
        if (plannedByValue.size >= 4096) plannedByValue.clear(); // bounded across many models
        plannedByValue.set(key, planned);
      }
    }
    plannedByNode.set(graphNode, planned);
  }
  return planned;
}

const warned = new Set<string>();
function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(message);
}

/**
 * 'kernel' (with or without the planned tile) when the current backend has
 * the kernel and it takes these shapes, 'stock' when it has the kernel but
 * cannot run them, 'op' when the backend has no kernel (the op's own stock path).
 */
function route<A extends { tile?: unknown }>(
  kernelName: string,
  shapes: Record<string, number[] | undefined>,
  attrs: A,
  check: (shapes: never, attrs: A, limits: KernelLimits) => Support,
  op: string,
): { mode: 'op' | 'kernel' | 'stock'; attrs: A } {
  const limits = backendLimits();
  if (limits == null || tf.getKernel(kernelName, tf.getBackend()) == null) return { mode: 'op', attrs };
  if (attrs.tile != null && !check(shapes as never, attrs, limits).supported) {
    warnOnce(`${op}: the planned tile does not fit this device or input; using the default tile`);
    attrs = { ...attrs, tile: undefined };
  }
  const support = check(shapes as never, attrs, limits);
  if (support.supported) return { mode: 'kernel', attrs };
  warnOnce(`${op}: the fused kernel cannot run this site here (${support.reason}); using stock ops`);
  return { mode: 'stock', attrs };
}

const shapeOf = (t: tf.Tensor | undefined) => t?.shape;

function executeDwPw(node: GraphNode): tf.Tensor {
  const op = FUSED_DW_PW_OP;
  const r = readRoles(op, node, DW_PW_ROLES);
  const planned = plannedOf(node, () => ({
    strides: stridesOf(op, node),
    pad: paddingOf(op, node),
    dwActivation: activation(op, node, 'dw_activation'),
    dwLeakyreluAlpha: number(node, 'dw_leakyrelu_alpha', 0.2),
    pwActivation: activation(op, node, 'pw_activation'),
    pwLeakyreluAlpha: number(node, 'pw_leakyrelu_alpha', 0.2),
    tile: tileOf(node),
  }));
  return runDwPw(r, planned);
}

/** Planned DW→PW attributes (the fused op's, without its tensors). */
export type DwPwPlanned = Required<
  Pick<
    FusedDepthwisePointwiseConv2DAttrs,
    'dwActivation' | 'dwLeakyreluAlpha' | 'pwActivation' | 'pwLeakyreluAlpha'
  >
> & { strides: [number, number]; pad: FusedPadding; tile?: Record<string, number> };

/** Planned PW→DW attributes (the fused op's, without its tensors). */
export type PwDwPlanned = Required<
  Pick<
    FusedPointwiseDepthwiseConv2DAttrs,
    'dwActivation' | 'dwLeakyreluAlpha' | 'pwActivation' | 'pwLeakyreluAlpha'
  >
> & { strides: [number, number]; pad: FusedPadding; tile?: Record<string, number> };

/**
 * Runs a planned DW→PW site on tensors by role (x, dw_filter, pw_filter,
 * dw_bias, dw_prelu, pw_bias, pw_prelu): the fused kernel when the backend
 * has it and takes the site, stock ops otherwise. Used by the graph
 * executor and the fused LayersModel layer.
 */
export function runDwPw(r: Roles, planned: DwPwPlanned, op: string = FUSED_DW_PW_OP): tf.Tensor4D {
  return tf.tidy(() => {
    const shapes = {
      x: shapeOf(r.x),
      dwFilter: shapeOf(r.dw_filter),
      pwFilter: shapeOf(r.pw_filter),
      dwBias: shapeOf(r.dw_bias),
      dwPreluActivationWeights: shapeOf(r.dw_prelu),
      pwBias: shapeOf(r.pw_bias),
      pwPreluActivationWeights: shapeOf(r.pw_prelu),
    };
    const { mode, attrs } = route(FusedDepthwisePointwiseConv2D, shapes, planned, isDwPwSupported, op);
    if (mode === 'stock') {
      const hidden = stockDepthwise(
        r.x as tf.Tensor4D,
        r.dw_filter as tf.Tensor4D,
        attrs.strides,
        attrs.pad,
        undefined,
        {
          bias: r.dw_bias,
          activation: attrs.dwActivation,
          preluWeights: r.dw_prelu,
          leakyreluAlpha: attrs.dwLeakyreluAlpha,
        },
      );
      return stockPointwise(hidden, r.pw_filter!, {
        bias: r.pw_bias,
        activation: attrs.pwActivation,
        preluWeights: r.pw_prelu,
        leakyreluAlpha: attrs.pwLeakyreluAlpha,
      });
    }
    return depthwisePointwiseConv2d({
      x: r.x as tf.Tensor4D,
      dwFilter: r.dw_filter as tf.Tensor4D,
      pwFilter: r.pw_filter!,
      dwBias: r.dw_bias,
      dwPreluActivationWeights: r.dw_prelu,
      pwBias: r.pw_bias,
      pwPreluActivationWeights: r.pw_prelu,
      ...attrs,
    });
  });
}

function executePwDw(node: GraphNode): tf.Tensor {
  const op = FUSED_PW_DW_OP;
  const r = readRoles(op, node, PW_DW_ROLES);
  const planned = plannedOf(node, () => ({
    strides: stridesOf(op, node),
    pad: paddingOf(op, node),
    pwActivation: activation(op, node, 'pw_activation'),
    pwLeakyreluAlpha: number(node, 'pw_leakyrelu_alpha', 0.2),
    dwActivation: activation(op, node, 'dw_activation'),
    dwLeakyreluAlpha: number(node, 'dw_leakyrelu_alpha', 0.2),
    tile: tileOf(node),
  }));
  return runPwDw(r, planned);
}

/** Runs a planned PW→DW site on tensors by role, like `runDwPw`. */
export function runPwDw(r: Roles, planned: PwDwPlanned, op: string = FUSED_PW_DW_OP): tf.Tensor4D {
  return tf.tidy(() => {
    const shapes = {
      x: shapeOf(r.x),
      pwFilter: shapeOf(r.pw_filter),
      dwFilter: shapeOf(r.dw_filter),
      pwBias: shapeOf(r.pw_bias),
      pwPreluActivationWeights: shapeOf(r.pw_prelu),
      dwBias: shapeOf(r.dw_bias),
      dwPreluActivationWeights: shapeOf(r.dw_prelu),
    };
    const { mode, attrs } = route(FusedPointwiseDepthwiseConv2D, shapes, planned, isPwDwSupported, op);
    if (mode === 'stock') {
      const expanded = stockPointwise(r.x as tf.Tensor4D, r.pw_filter!, {
        bias: r.pw_bias,
        activation: attrs.pwActivation,
        preluWeights: r.pw_prelu,
        leakyreluAlpha: attrs.pwLeakyreluAlpha,
      });
      return stockDepthwise(expanded, r.dw_filter as tf.Tensor4D, attrs.strides, attrs.pad, undefined, {
        bias: r.dw_bias,
        activation: attrs.dwActivation,
        preluWeights: r.dw_prelu,
        leakyreluAlpha: attrs.dwLeakyreluAlpha,
      });
    }
    return pointwiseDepthwiseConv2d({
      x: r.x as tf.Tensor4D,
      pwFilter: r.pw_filter!,
      dwFilter: r.dw_filter as tf.Tensor4D,
      pwBias: r.pw_bias,
      pwPreluActivationWeights: r.pw_prelu,
      dwBias: r.dw_bias,
      dwPreluActivationWeights: r.dw_prelu,
      ...attrs,
    });
  });
}

function flag(op: string, node: GraphNode, key: string): boolean {
  const value = node.attrs[key] ?? false;
  if (typeof value !== 'boolean') fail(op, `malformed ${key} ${JSON.stringify(value)}`);
  return value as boolean;
}

/** The packed layout, rebuilt from the dimensions and epilogue tensors it was made of. */
function layoutOf(op: string, node: GraphNode): InvertedResidualLayout {
  const dims = node.attrs['block_dims'];
  if (
    !Array.isArray(dims) ||
    dims.length !== 4 ||
    !dims.every((d) => Number.isInteger(d) && (d as number) > 0)
  ) {
    fail(op, `malformed block_dims ${JSON.stringify(dims)}`);
  }
  const alpha = (key: string) => {
    const shape = node.attrs[key];
    if (shape == null) return undefined;
    if (!Array.isArray(shape)) fail(op, `malformed ${key}`);
    return shape as number[];
  };
  const [inChannels, expandedChannels, outChannels, kernelSize] = dims as number[];
  return invertedResidualLayout({
    inChannels,
    expandedChannels,
    outChannels,
    kernelSize,
    expandBias: flag(op, node, 'expand_bias'),
    expandAlphaShape: alpha('expand_alpha_shape'),
    dwBias: flag(op, node, 'dw_bias'),
    dwAlphaShape: alpha('dw_alpha_shape'),
    projectBias: flag(op, node, 'project_bias'),
    projectAlphaShape: alpha('project_alpha_shape'),
  });
}

function executeInvertedResidual(node: GraphNode): tf.Tensor {
  const op = FUSED_INVERTED_RESIDUAL_OP;
  if (node.inputs.length < 2) fail(op, `needs x and the packed weights, got ${node.inputs.length} inputs`);
  const [x, packed] = node.inputs;
  const planned = plannedOf(node, () => ({
    layout: layoutOf(op, node),
    strides: stridesOf(op, node),
    pad: paddingOf(op, node),
    dilations: 1,
    dataFormat: 'NHWC' as const,
    expandActivation: activation(op, node, 'expand_activation'),
    expandLeakyreluAlpha: number(node, 'expand_leakyrelu_alpha', 0.2),
    dwActivation: activation(op, node, 'dw_activation'),
    dwLeakyreluAlpha: number(node, 'dw_leakyrelu_alpha', 0.2),
    projectActivation: activation(op, node, 'project_activation'),
    projectLeakyreluAlpha: number(node, 'project_leakyrelu_alpha', 0.2),
    residual: flag(op, node, 'residual'),
    tile: tileOf(node),
  }));
  return tf.tidy(() => {
    const shapes = { x: x.shape, weights: packed.shape };
    const { mode, attrs } = route(FusedInvertedResidual, shapes, planned, isIrSupported, op);
    // The kernel takes the planned attributes as they are (checked just now by
    // its own rules); the op would rebuild and check them again per call.
    if (mode === 'kernel' && x.dtype === 'float32' && packed.dtype === 'float32') {
      return runBlockKernel(x as tf.Tensor4D, packed, attrs);
    }
    return invertedResidualPacked({
      ...attrs,
      x: x as tf.Tensor4D,
      packed: packed as tf.Tensor1D,
      stock: mode === 'stock',
    });
  });
}

/**
 * Registers the executors of `FusedDwPwConv2D`, `FusedPwDwConv2D` and
 * `FusedInvertedResidualBlock` with tfjs-converter. `loadGraphModel` of this package calls it; call it yourself
 * before `tf.loadGraphModel` of artifacts from `fuseGraphModelArtifacts`.
 * Idempotent.
 */
export function registerFusedOps(): void {
  registerOp(FUSED_DW_PW_OP, executeDwPw);
  registerOp(FUSED_PW_DW_OP, executePwDw);
  registerOp(FUSED_INVERTED_RESIDUAL_OP, executeInvertedResidual);
}
