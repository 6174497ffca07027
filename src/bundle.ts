/**
 * Entry of the self-contained ES-module build
 * (`dist/tfjs-backend-webgpu-fused.esm.js`): tfjs-core, the stock WebGPU
 * backend, tfjs-converter and this package in one file, for pages that load
 * `<script type="module">` without a bundler or an import map.
 */

export * as tf from '@tensorflow/tfjs-core';
export * as converter from '@tensorflow/tfjs-converter';
export * from './index';
