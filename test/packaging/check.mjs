// Shared by the packaging consumers: selects webgpu-fused and checks a
// depthwise + pointwise pair against the cpu backend.
export async function checkPackage(tf, pkg, label) {
  if (pkg.BACKEND_NAME !== 'webgpu-fused') throw new Error(`${label}: package exports are missing`);
  if (!(await tf.setBackend('webgpu-fused'))) throw new Error(`${label}: setBackend('webgpu-fused') failed`);
  const run = async (backend) => {
    await tf.setBackend(backend);
    const x = tf.tensor4d(
      Array.from({ length: 2 * 5 * 5 * 8 }, (_, i) => Math.sin(i)),
      [2, 5, 5, 8],
    );
    const dw = tf.tensor4d(
      Array.from({ length: 3 * 3 * 8 }, (_, i) => Math.cos(i)),
      [3, 3, 8, 1],
    );
    const pw = tf.tensor4d(
      Array.from({ length: 8 * 4 }, (_, i) => Math.sin(3 * i)),
      [1, 1, 8, 4],
    );
    const y = tf.conv2d(tf.depthwiseConv2d(x, dw, 1, 'same'), pw, 1, 'valid');
    return Array.from(await y.data());
  };
  const gpu = await run('webgpu-fused');
  const cpu = await run('cpu');
  const worst = Math.max(...gpu.map((v, i) => Math.abs(v - cpu[i])));
  if (!(worst < 1e-4)) throw new Error(`${label}: webgpu-fused differs from cpu by ${worst}`);
  console.log(`packaging: ${label} ok (${gpu.length} values, max diff ${worst.toExponential(1)})`);
}

/** Gives Node a navigator.gpu from Dawn before tfjs-backend-webgpu loads. */
export async function installDawn() {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  globalThis.navigator = { gpu: create([]) };
}
