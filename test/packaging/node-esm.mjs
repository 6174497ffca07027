// A plain Node ES-module consumer: no bundler, imports the package by name.
import { checkPackage, installDawn } from './check.mjs';

await installDawn();
const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-cpu');
const pkg = await import('tfjs-backend-webgpu-fused');
await checkPackage(tf, pkg, 'node ESM import');
