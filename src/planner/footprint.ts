/**
 * How many input positions a depthwise stage reads, counted per workgroup:
 * a workgroup reads each distinct in-image input position of its outputs'
 * receptive fields once (neighbouring outputs share loads through L1 or
 * workgroup memory), and positions shared by two workgroups are read by
 * both. That is the paper's halo term computed exactly, clipped at the image
 * borders (zero padding reads nothing), with the stride applied.
 */

import { DwLayerShape, inputSpan, paddingBefore } from './layer_shapes';

const spanLength = ([first, last]: [number, number]) => Math.max(0, last - first + 1);

interface Padding {
  top: number;
  left: number;
}

function paddingOf(d: DwLayerShape): Padding {
  return {
    top: paddingBefore(d.inHeight, d.outHeight, d.kernelSize, d.stride),
    left: paddingBefore(d.inWidth, d.outWidth, d.kernelSize, d.stride),
  };
}

/** Input columns read by output columns [first, last] of one row. */
function columnSpan(d: DwLayerShape, pad: Padding, first: number, last: number): [number, number] {
  const lo = inputSpan(first, d.inWidth, d.kernelSize, d.stride, pad.left)[0];
  const hi = inputSpan(last, d.inWidth, d.kernelSize, d.stride, pad.left)[1];
  return [lo, hi];
}

function unionLength(a: [number, number] | undefined, b: [number, number] | undefined): number {
  if (a == null || b == null) return spanLength(a ?? b ?? [0, -1]);
  const overlap = spanLength([Math.max(a[0], b[0]), Math.min(a[1], b[1])]);
  return spanLength(a) + spanLength(b) - overlap;
}

/**
 * Distinct input positions (per channel) read for the output pixels
 * `first..last` (inclusive, row-major) of one image.
 */
export function pixelRunFootprint(d: DwLayerShape, first: number, last: number, pad = paddingOf(d)): number {
  const { outWidth: wo, kernelSize: k, stride: s } = d;
  const r0 = Math.floor(first / wo);
  const c0 = first % wo;
  const r1 = Math.floor(last / wo);
  const c1 = last % wo;
  const firstRowCols = columnSpan(d, pad, c0, r0 === r1 ? c1 : wo - 1);
  const lastRowCols = columnSpan(d, pad, 0, c1);
  const fullRowCols = spanLength(columnSpan(d, pad, 0, wo - 1));
  const yFirst = Math.max(0, r0 * s - pad.top);
  const yLast = Math.min(d.inHeight - 1, r1 * s - pad.top + k - 1);
  let positions = 0;
  for (let y = yFirst; y <= yLast; y++) {
    // Output rows of the run whose window covers input row y.
    const rLo = Math.max(r0, Math.ceil((y + pad.top - k + 1) / s));
    const rHi = Math.min(r1, Math.floor((y + pad.top) / s));
    if (rLo > rHi) continue;
    if (r0 === r1) {
      positions += spanLength(firstRowCols);
    } else if (Math.max(rLo, r0 + 1) <= Math.min(rHi, r1 - 1)) {
      positions += fullRowCols; // a full middle row covers every column
    } else {
      positions += unionLength(rLo === r0 ? firstRowCols : undefined, rHi === r1 ? lastRowCols : undefined);
    }
  }
  return positions;
}

/**
 * pixelRunFootprint through `memo`: a run's footprint depends only on its
 * first and last columns, the rows it spans and how far its windows reach
 * past the top and bottom of the image (runs in the middle rows of an image
 * repeat the same few shapes).
 */
function memoRunFootprint(
  d: DwLayerShape,
  first: number,
  last: number,
  pad: Padding,
  memo: Map<number, number>,
): number {
  const { outWidth: wo, kernelSize: k, stride: s } = d;
  const r0 = Math.floor(first / wo);
  const r1 = Math.floor(last / wo);
  const span = r1 - r0;
  const topCut = Math.max(0, pad.top - r0 * s);
  const bottomCut = Math.max(0, r1 * s - pad.top + k - d.inHeight);
  if (span >= 4096 || topCut >= 16 || bottomCut >= 16) return pixelRunFootprint(d, first, last, pad);
  const key = (((topCut * 16 + bottomCut) * 4096 + span) * wo + (first % wo)) * wo + (last % wo);
  let positions = memo.get(key);
  if (positions == null) {
    positions = pixelRunFootprint(d, first, last, pad);
    memo.set(key, positions);
  }
  return positions;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

const runCache = new Map<string, number>();
const RUN_CACHE_LIMIT = 4096;

/**
 * Sum over workgroups of distinct input positions (per channel) when each
 * workgroup owns `pixelsPerRun` consecutive output pixels, flattened over
 * N·Ho·Wo (a run may cross rows and images).
 */
export function totalRunFootprint(d: DwLayerShape, pixelsPerRun: number): number {
  const key = `${d.batch},${d.inHeight},${d.inWidth},${d.outHeight},${d.outWidth},${d.kernelSize},${d.stride},${pixelsPerRun}`;
  const cached = runCache.get(key);
  if (cached != null) return cached;
  const pad = paddingOf(d);
  const perImage = d.outHeight * d.outWidth;
  // Runs start at multiples of `pixelsPerRun` of the flattened batch, so the
  // way they cut an image repeats every `period` images: sum the pieces of
  // one period, image by image, then repeat.
  const period = pixelsPerRun / gcd(perImage, pixelsPerRun);
  const images = Math.min(d.batch, period);
  const perImageSum = new Array<number>(images).fill(0);
  const total = images * perImage;
  const memo = new Map<number, number>();
  for (let start = 0; start < total; start += pixelsPerRun) {
    const end = Math.min(total, start + pixelsPerRun);
    for (let a = start; a < end; ) {
      const image = Math.floor(a / perImage);
      const pieceEnd = Math.min(end, (image + 1) * perImage);
      const offset = image * perImage;
      perImageSum[image] += memoRunFootprint(d, a - offset, pieceEnd - 1 - offset, pad, memo);
      a = pieceEnd;
    }
  }
  let result = 0;
  for (let image = 0; image < images; image++) {
    // Images image, image + period, ... below the batch size.
    result += perImageSum[image] * Math.ceil((d.batch - image) / period);
  }
  if (runCache.size >= RUN_CACHE_LIMIT) runCache.clear();
  runCache.set(key, result);
  return result;
}

const spanCache = new Map<string, number>();

/** Input rows (or columns) read by each of ⌈outSize/tile⌉ tiles, summed, clipped to the image. */
function tiledSpanSum(inSize: number, outSize: number, tile: number, k: number, s: number): number {
  const key = `${inSize},${outSize},${tile},${k},${s}`;
  const cached = spanCache.get(key);
  if (cached != null) return cached;
  const sum = uncachedTiledSpanSum(inSize, outSize, tile, k, s);
  if (spanCache.size >= RUN_CACHE_LIMIT) spanCache.clear();
  spanCache.set(key, sum);
  return sum;
}

function uncachedTiledSpanSum(inSize: number, outSize: number, tile: number, k: number, s: number): number {
  const pad = paddingBefore(inSize, outSize, k, s);
  let sum = 0;
  for (let t = 0; t * tile < outSize; t++) {
    const first = inputSpan(t * tile, inSize, k, s, pad)[0];
    const last = inputSpan((t + 1) * tile - 1, inSize, k, s, pad)[1];
    sum += spanLength([first, last]);
  }
  return sum;
}

/**
 * Input positions (per channel) read by rectangular tiles of tileH×tileW
 * outputs: each tile's halo ((tileH−1)·s+k) × ((tileW−1)·s+k), clipped to
 * the image, summed over every tile of every image.
 */
export function tiledHaloPositions(d: DwLayerShape, tileH: number, tileW: number): number {
  const rows = tiledSpanSum(d.inHeight, d.outHeight, tileH, d.kernelSize, d.stride);
  const cols = tiledSpanSum(d.inWidth, d.outWidth, tileW, d.kernelSize, d.stride);
  return d.batch * rows * cols;
}
