/** Test and demo input shared by Node and browser code (no Node imports here). */

/** A smooth synthetic photo-like image in [0, 1]: what image models see, unlike uniform noise. */
export function smoothImage([n, h, w, c]: number[]): Float32Array {
  const data = new Float32Array(n * h * w * c);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++)
          data[i++] = 0.5 + 0.45 * Math.sin((x + 5 * b) / 11 + ch) * Math.cos((y - 3 * ch) / 17);
  return data;
}
