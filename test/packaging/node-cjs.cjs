// A plain Node CommonJS consumer: require() of the package by name.
(async () => {
  const { checkPackage, installDawn } = await import('./check.mjs');
  await installDawn();
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  const pkg = require('tfjs-backend-webgpu-fused');
  await checkPackage(tf, pkg, 'node CommonJS require');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
