import '../setup';

import { DwPwProblem, PwDwProblem } from '../../src/kernels/types';
import {
  dwPwFusedCost,
  pixelRunFootprint,
  pwDwFusedCost,
  stockDepthwiseCost,
  stockPointwiseCost,
  tiledHaloPositions,
  totalRunFootprint,
  unfusedPointwiseCost,
} from '../../src/planner';
import { H100_LIKE_PROFILE } from '../../src/planner/device_profile';
import { estimateKernel } from '../../src/planner/kernel_cost';
import { DwLayerShape } from '../../src/planner/layer_shapes';
import { describePure } from '../helpers/describe';

/** 16×16×16, 3×3, stride 1, SAME: used by several hand computations below. */
const DW_16: DwLayerShape = {
  batch: 1,
  inHeight: 16,
  inWidth: 16,
  channels: 16,
  kernelSize: 3,
  stride: 1,
  outHeight: 16,
  outWidth: 16,
};

describePure('planner cost model: footprints', () => {
  it('counts the distinct input positions of a run that crosses a row', () => {
    // Output pixels 10..21 of a 16-wide map: row 0 cols 10–15, row 1 cols 0–5.
    // Input row 0 is read by output rows 0 and 1: cols 9–15 and 0–6 (7 + 7, disjoint).
    // Input row 1: same two output rows, 14 positions. Input row 2: only output
    // row 1, cols 0–6 = 7. Row −1 is padding. Total 14 + 14 + 7 = 35.
    expect(pixelRunFootprint(DW_16, 10, 21)).toBe(35);
  });

  it('clips the halo at the image border and sums it over runs', () => {
    // Runs of 64 pixels = 4 full rows. Run 0 (rows 0–3) reads input rows 0–4
    // (row −1 is padding): 5 × 16 = 80. Runs 1, 2 read 6 rows: 96 each. Run 3
    // (rows 12–15) reads rows 11–15: 80. Total 352, not 4·6·16 = 384 unclipped.
    expect(totalRunFootprint(DW_16, 64)).toBe(352);
    // One run covering the whole image reads each input position once.
    expect(totalRunFootprint(DW_16, 256)).toBe(256);
  });

  it('sums runs that cross images as a run-by-run walk over the whole batch does', () => {
    // The walk over every run of the flattened batch, piece by piece per image.
    const walk = (d: DwLayerShape, run: number) => {
      const perImage = d.outHeight * d.outWidth;
      let positions = 0;
      for (let start = 0; start < d.batch * perImage; start += run) {
        const end = Math.min(d.batch * perImage, start + run);
        for (let a = start; a < end; ) {
          const image = Math.floor(a / perImage);
          const pieceEnd = Math.min(end, (image + 1) * perImage);
          positions += pixelRunFootprint(d, a - image * perImage, pieceEnd - 1 - image * perImage);
          a = pieceEnd;
        }
      }
      return positions;
    };
    const odd: DwLayerShape = { ...DW_16, inHeight: 7, inWidth: 7, outHeight: 7, outWidth: 7 };
    const strided: DwLayerShape = {
      ...DW_16,
      inHeight: 15,
      inWidth: 15,
      stride: 2,
      outHeight: 8,
      outWidth: 8,
    };
    // Larger kernels on larger maps: many runs share a shape (memoized) away from the top and bottom rows.
    const wide: DwLayerShape = {
      ...DW_16,
      inHeight: 23,
      inWidth: 23,
      outHeight: 23,
      outWidth: 23,
      kernelSize: 5,
    };
    const wideStrided: DwLayerShape = {
      ...DW_16,
      inHeight: 29,
      inWidth: 29,
      outHeight: 15,
      outWidth: 15,
      kernelSize: 7,
      stride: 2,
    };
    for (const d of [DW_16, odd, strided, wide, wideStrided]) {
      for (const batch of [1, 2, 3, 5, 8, 13, 32]) {
        for (const run of [1, 3, 4, 16, 20, 64, 100, 256]) {
          const shape = { ...d, batch };
          expect(totalRunFootprint(shape, run))
            .withContext(`${JSON.stringify(shape)} run ${run}`)
            .toBe(walk(shape, run));
        }
      }
    }
  });

  it('applies the depthwise stride', () => {
    // 8×8 → 4×4 at stride 2, SAME: total padding (4−1)·2 + 3 − 8 = 1, all after.
    // One output row per run: output row r reads input rows 2r..2r+2, clipped:
    // 3 + 3 + 3 + 2 = 11 rows of 8 columns = 88. At stride 1 the same four
    // runs of 4 outputs would read far fewer rows: the paper's estimators used
    // the pointwise stride (1) for the depthwise and got this wrong.
    const strided: DwLayerShape = { ...DW_16, inHeight: 8, inWidth: 8, stride: 2, outHeight: 4, outWidth: 4 };
    expect(totalRunFootprint(strided, 4)).toBe(88);
    expect(totalRunFootprint(strided, 16)).toBe(64);
  });

  it('sums rectangular halos per tile, clipped to the image', () => {
    // 8×8, 3×3 s1, 4×4 tiles: tile rows 0–3 read input rows 0–4 (5), rows 4–7
    // read 3–7 (5): 10 rows per column of tiles; same for columns: 10 × 10 = 100.
    const d: DwLayerShape = { ...DW_16, inHeight: 8, inWidth: 8, outHeight: 8, outWidth: 8 };
    expect(tiledHaloPositions(d, 4, 4)).toBe(100);
    expect(tiledHaloPositions({ ...d, batch: 3 }, 4, 4)).toBe(300);
    // One tile over the whole map reads each position once.
    expect(tiledHaloPositions(d, 8, 8)).toBe(64);
  });
});

describePure('planner cost model: stock kernels', () => {
  it("prices unfused 1x1 layers as the backend runs them: its pointwise program where it takes them, else tfjs's matmul", () => {
    // 7×7×1344 → 224: tfjs's matmul has 2 × 7 workgroups; the program splits the 1344 channels.
    const deep = { batch: 1, height: 7, width: 7, inChannels: 1344, outChannels: 224 };
    const program = unfusedPointwiseCost(deep, H100_LIKE_PROFILE);
    expect(program.kernel).toBe('pw (pointwise program)');
    expect(program.dispatches).toBe(2);
    expect(program.workgroups).toBeGreaterThan(stockPointwiseCost(deep).workgroups * 10);
    const ms = (c: ReturnType<typeof stockPointwiseCost>) => estimateKernel(c, H100_LIKE_PROFILE).ms;
    expect(ms(program)).toBeLessThan(ms(stockPointwiseCost(deep)));
    // A projection to few channels on a small map stays with tfjs.
    const projection = { batch: 1, height: 28, width: 28, inChannels: 288, outChannels: 48 };
    expect(unfusedPointwiseCost(projection, H100_LIKE_PROFILE)).toEqual(stockPointwiseCost(projection));
  });

  it('counts the bytes of a stock pointwise matmul by hand', () => {
    // 8×8 pixels (M = 64), 16 → 32 channels. 32×32 tiles: 2 row tiles × 1 column tile.
    // x 64·16 = 1024, W 16·32 = 512, y 64·32 = 2048 elements: compulsory 3584 el = 14336 B.
    // x is read once per column tile (1): no re-read; W once per row tile (2): 512 el = 2048 B re-read.
    const cost = stockPointwiseCost({ batch: 1, height: 8, width: 8, inChannels: 16, outChannels: 32 });
    expect(cost.compulsoryBytes).toBe(14336);
    expect(cost.rereadBytes).toBe(2048);
    expect(cost.flops).toBe(2 * 64 * 16 * 32);
    expect(cost.redundantFlops).toBe(0);
    expect(cost.workgroups).toBe(2);
    expect(cost.dispatches).toBe(1);
  });

  it('counts padded matmul tiles as redundant work', () => {
    // 7×7 = 49 rows → 2 row tiles of 32 (64 rows); 24 channels → 1 column tile of 32.
    // Computed 64·32 outputs for 49·24 real ones: 2·Cin·(2048 − 1176) extra FLOPs.
    const cost = stockPointwiseCost({ batch: 1, height: 7, width: 7, inChannels: 8, outChannels: 24 });
    expect(cost.redundantFlops).toBe(2 * 8 * (2048 - 1176));
  });

  it('counts the bytes of a stock depthwise by hand', () => {
    // Vec4 program: C/4 = 4 channel groups, so a 64-invocation workgroup covers
    // 16 column groups × 4 columns = 64 pixels (4 rows of 16) × all 16 channels.
    // x reads: 352 positions (see the footprint spec) × 16 channels = 5632 el, of
    // which |x| = 4096 compulsory and 1536 re-read. Weights: 4 workgroups × 9 × 16
    // = 576 el, 144 compulsory, 432 re-read. y = 4096 el.
    // compulsory (4096 + 144 + 4096)·4 = 33344 B; re-read (1536 + 432)·4 = 7872 B.
    const cost = stockDepthwiseCost(DW_16);
    expect(cost.workgroups).toBe(4);
    expect(cost.compulsoryBytes).toBe(33344);
    expect(cost.rereadBytes).toBe(7872);
    expect(cost.flops).toBe(2 * 9 * 16 * 16 * 16);
  });
});

describePure('planner cost model: fused kernels', () => {
  const dwPw: DwPwProblem = {
    batch: 1,
    inHeight: 16,
    inWidth: 16,
    channels: 16,
    outChannels: 32,
    kernelSize: 3,
    stride: 1,
    outHeight: 16,
    outWidth: 16,
  };

  it('counts DW→PW bytes by hand, including the recompute per filter block', () => {
    // 64-pixel tiles (4 pixel tiles), 16 of 32 filters (2 filter blocks): 8 workgroups.
    // x: 2 filter blocks × 352 positions × 16 channels = 11264 el; 4096 compulsory, 7168 re-read.
    // DW weights: 8 workgroups × 9·16 = 1152 el; 144 compulsory, 1008 re-read.
    // PW weights: each pixel tile reads the whole 16×32 block = 4 × 512 = 2048; 512 compulsory, 1536 re-read.
    // y: 256 pixels × 32 = 8192 el.
    // compulsory (4096 + 144 + 512 + 8192)·4 = 51776 B; re-read (7168 + 1008 + 1536)·4 = 38848 B.
    const cost = dwPwFusedCost(dwPw, {
      pixels: 64,
      filters: 16,
      channelChunk: 16,
      threadPixels: 4,
      threadFilters: 4,
    });
    expect(cost.workgroups).toBe(8);
    expect(cost.compulsoryBytes).toBe(51776);
    expect(cost.rereadBytes).toBe(38848);
    // The second filter block recomputes the whole depthwise: 2·9·256·16 = 73728 FLOPs.
    expect(cost.redundantFlops).toBe(73728);
    expect(cost.dispatches).toBe(1);
  });

  it('has no filter-block recompute when filters = F', () => {
    // 1 filter block: x 352·16 = 5632 el (1536 re-read), DW weights 4·144 (432 re-read),
    // PW weights 4·512 (1536 re-read): re-read (1536 + 432 + 1536)·4 = 14016 B.
    const cost = dwPwFusedCost(dwPw, {
      pixels: 64,
      filters: 32,
      channelChunk: 16,
      threadPixels: 4,
      threadFilters: 4,
    });
    expect(cost.rereadBytes).toBe(14016);
    expect(cost.redundantFlops).toBe(0);
  });

  it('fusing removes the intermediate round trip', () => {
    // Unfused DW + PW: the DW writes 4096 el and the PW reads them back.
    const dw = stockDepthwiseCost(DW_16);
    const pw = stockPointwiseCost({ batch: 1, height: 16, width: 16, inChannels: 16, outChannels: 32 });
    const fused = dwPwFusedCost(dwPw, {
      pixels: 256,
      filters: 32,
      channelChunk: 16,
      threadPixels: 8,
      threadFilters: 4,
    });
    const unfusedCompulsory = dw.compulsoryBytes + pw.compulsoryBytes;
    expect(unfusedCompulsory - fused.compulsoryBytes).toBe(2 * 4096 * 4);
  });

  it('counts PW→DW bytes and halo recompute by hand', () => {
    // PW 8 → 16 channels on 8×8, then 3×3 s1 DW. Tiles 4×4 outputs × 8 channels:
    // 4 spatial tiles × 2 channel blocks = 8 workgroups; 100 halo positions in all
    // (footprint spec). x: 2 channel blocks × 100 × 8 Cin = 1600 el; 512 compulsory,
    // 1088 re-read. PW weights 4 spatial tiles × 8·16 = 512 el (128 compulsory, 384
    // re-read); DW weights 4 × 9·16 = 576 (144, 432); y 64·16 = 1024.
    // compulsory (512 + 128 + 144 + 1024)·4 = 7232 B; re-read (1088 + 384 + 432)·4 = 7616 B.
    const problem: PwDwProblem = {
      batch: 1,
      inHeight: 8,
      inWidth: 8,
      inChannels: 8,
      channels: 16,
      kernelSize: 3,
      stride: 1,
      outHeight: 8,
      outWidth: 8,
    };
    const cost = pwDwFusedCost(problem, {
      tileH: 4,
      tileW: 4,
      channels: 8,
      threadPositions: 2,
      workgroupSize: 64,
    });
    expect(cost.workgroups).toBe(8);
    expect(cost.compulsoryBytes).toBe(7232);
    expect(cost.rereadBytes).toBe(7616);
    // The pointwise runs on 100 positions instead of 64: 2·8·16·36 = 9216 extra FLOPs.
    expect(cost.redundantFlops).toBe(9216);
  });
});
