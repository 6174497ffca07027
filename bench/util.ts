/**
 * Measurement helpers for the GPU benchmarks (Node+Dawn on a real GPU).
 * Absolute GPU times swing with the clock under per-kernel profiling, so the
 * benchmarks pair stock and fused runs adjacent in time and report the median
 * of per-round ratios.
 */

import * as tf from '@tensorflow/tfjs-core';
import { writeFileSync } from 'node:fs';

export const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const quantile = (values: number[], q: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
};

export interface GpuTiming {
  /** Summed GPU time of the kernels (timestamp queries), ms. */
  kernelMs: number;
  /** Kernel dispatches. */
  dispatches: number;
  /** "Kernel[input shape] Program: ms" per dispatch. */
  programs: string[];
}

/** Reads every output of `f` back and disposes them. */
async function readAll(y: tf.Tensor | tf.Tensor[]): Promise<void> {
  const ys = Array.isArray(y) ? y : [y];
  await Promise.all(ys.map((t) => t.data()));
  tf.dispose(ys);
}

/** GPU time of `f` from timestamp queries (tf.profile puts every kernel in its own pass). */
export async function gpuTime(f: () => tf.Tensor | tf.Tensor[]): Promise<GpuTiming> {
  const backendName = tf.getBackend();
  const profile = await tf.profile(async () => {
    await readAll(f());
  });
  let kernelMs = 0;
  let dispatches = 0;
  const programs: string[] = [];
  for (const k of profile.kernels) {
    if (tf.getKernel(k.name, backendName) == null) continue; // op scopes
    kernelMs += k.kernelTimeMs as number;
    const info = String(k.extraInfo ?? '');
    const shape = JSON.stringify(k.inputShapes?.[0] ?? []);
    for (const entry of info
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      dispatches++;
      programs.push(`${k.name}${shape} ${entry}`);
    }
  }
  return { kernelMs, dispatches, programs };
}

/**
 * Un-profiled time per call of `repeats` calls submitted back to back (wall
 * time from the first dispatch to the final readback, divided by repeats).
 */
export async function backToBackMs(f: () => tf.Tensor, repeats: number): Promise<number> {
  const outputs: tf.Tensor[] = [];
  const start = performance.now();
  for (let i = 0; i < repeats; i++) {
    outputs.push(f());
  }
  await outputs[outputs.length - 1].data();
  const ms = (performance.now() - start) / repeats;
  outputs.forEach((t) => t.dispose());
  return ms;
}

/** Wall time of one call including the readback of its outputs. */
export async function wallMs(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const start = performance.now();
  const y = f();
  const ys = Array.isArray(y) ? y : [y];
  await Promise.all(ys.map((t) => t.data()));
  const ms = performance.now() - start;
  tf.dispose(ys);
  return ms;
}

/** The adapter as the fused backend describes it (vendor, architecture, device, driver). */
export function deviceDescription(): string {
  const backend = tf.findBackend('webgpu-fused') as
    | { adapterDescription?: Record<string, string> }
    | undefined;
  const info = backend?.adapterDescription ?? {};
  const parts = [info.vendor, info.architecture, info.device, info.description];
  return parts.filter((p) => p != null && p !== '' && p !== '?').join(' ');
}

export function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) out[argv[i].slice(2)] = argv[i + 1] ?? '';
  }
  return out;
}

/** Writes a result file (when `path` is given) stamped with the date and device. */
export function writeResults(path: string | undefined, device: string, body: Record<string, unknown>): void {
  if (path) writeFileSync(path, JSON.stringify({ date: new Date().toISOString(), device, ...body }, null, 1));
}

/** Runs a benchmark's main and exits with its status (Dawn keeps the process alive otherwise). */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

/** Runs `f` with `backend` selected. */
export async function on<T>(backend: string, f: () => Promise<T>): Promise<T> {
  await tf.setBackend(backend);
  return f();
}

/** The values of one output of `run` on `backend` (the tensor is disposed). */
export async function valuesOn(backend: string, run: () => tf.Tensor): Promise<Float32Array> {
  return on(backend, async () => {
    const y = run();
    const values = (await y.data()) as Float32Array;
    y.dispose();
    return values;
  });
}

/** Labelled tiles without repeats (by value). */
export function dedupe<T>(tiles: Array<[string, T]>): Array<[string, T]> {
  const seen = new Set<string>();
  return tiles.filter(([, t]) => {
    const key = JSON.stringify(t);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `n` values uniform in [-scale, scale) from a linear congruential generator: the same data on every backend and run. */
export function randomArray(n: number, scale: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return a;
}
