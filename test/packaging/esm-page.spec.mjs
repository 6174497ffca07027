// Runs as <script type="module"> importing the self-contained ES-module build.
import { BACKEND_NAME, tf } from '/base/dist/tfjs-backend-webgpu-fused.esm.js';

describe('packaging: self-contained ES module build', () => {
  it('exports tf and the fused backend', async () => {
    expect(BACKEND_NAME).toBe('webgpu-fused');
    expect(await tf.setBackend('webgpu-fused')).toBe(true);
    const y = tf.add(tf.tensor1d([1, 2]), 1);
    expect(Array.from(await y.data())).toEqual([2, 3]);
  });
});
