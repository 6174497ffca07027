// An application bundled by a bundler (esbuild here): the package is
// resolved through its `module`/`exports` entry together with tfjs.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as pkg from 'tfjs-backend-webgpu-fused';
import { checkPackage } from './check.mjs';

await checkPackage(tf, pkg, 'bundled application');
