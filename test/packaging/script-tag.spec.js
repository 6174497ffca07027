// Runs in a page that loaded tfjs and this package with plain <script> tags.
describe('packaging: <script> tag build', () => {
  it('registers webgpu-fused on the global tf and runs on it', async () => {
    expect(typeof tfWebGPUFused).toBe('object');
    expect(tfWebGPUFused.BACKEND_NAME).toBe('webgpu-fused');
    expect(await tf.setBackend('webgpu-fused')).toBe(true);
    const y = tf.conv2d(tf.ones([1, 4, 4, 2]), tf.ones([1, 1, 2, 3]), 1, 'valid');
    expect(Array.from(await y.data())).toEqual(new Array(48).fill(2));
  });
});
