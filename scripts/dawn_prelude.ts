/**
 * First module of the Node test bundle: gives Node a `navigator.gpu` from
 * Dawn (npm `webgpu`) before tfjs-backend-webgpu is evaluated, since the
 * stock backend only registers when WebGPU exists at import time.
 */

import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const dawnFlags = ['disable-dawn-features=timestamp_quantization'];
if (process.env.DAWN_BACKEND) {
  dawnFlags.push(`backend=${process.env.DAWN_BACKEND}`);
}
(globalThis as { navigator?: unknown }).navigator = { gpu: create(dawnFlags) };
