// Checks the browser builds in dist/ as users load them: the IIFE build with
// plain <script> tags after tfjs's own script bundles, and the self-contained
// ES-module build from <script type="module">. Run after `npm run build`.
const { baseConfig } = require('./karma.conf.js');

const tfjsScript = (path) => ({ pattern: `node_modules/@tensorflow/${path}`, watched: false });

module.exports = (config) => {
  config.set({
    ...baseConfig(),
    files: [
      tfjsScript('tfjs-core/dist/tf-core.min.js'),
      tfjsScript('tfjs-converter/dist/tf-converter.min.js'),
      tfjsScript('tfjs-layers/dist/tf-layers.min.js'),
      tfjsScript('tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js'),
      'dist/tfjs-backend-webgpu-fused.min.js',
      'test/packaging/script-tag.spec.js',
      { pattern: 'dist/tfjs-backend-webgpu-fused.esm.js', included: false, watched: false },
      { pattern: 'test/packaging/esm-page.spec.mjs', type: 'module' },
    ],
  });
};
