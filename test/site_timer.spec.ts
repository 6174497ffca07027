import './setup';

import * as tf from '@tensorflow/tfjs-core';

import { buildSiteRunner, makeSiteTimer } from '../src/ops/site_timer';
import { BlockSiteProblem } from '../src/planner';
import { expectAllClose } from './helpers/compare';
import { describeFused } from './helpers/describe';
import { expectNoLeaks } from './helpers/leaks';

describeFused('site timer (autotuning on the device)', () => {
  it('times stock and fused variants of both site kinds without leaking', async () => {
    const time = makeSiteTimer({ repeats: 2, rounds: 1 });
    const dwpw = {
      batch: 1,
      inHeight: 6,
      inWidth: 6,
      channels: 8,
      outChannels: 8,
      kernelSize: 3,
      stride: 1,
      outHeight: 6,
      outWidth: 6,
    };
    const pwdw = {
      batch: 1,
      inHeight: 6,
      inWidth: 6,
      inChannels: 4,
      channels: 8,
      kernelSize: 3,
      stride: 2,
      outHeight: 3,
      outWidth: 3,
    };
    await expectNoLeaks(async () => {
      for (const [kind, problem, tile] of [
        ['dwpw', dwpw, { pixels: 16, filters: 8, channelChunk: 8, threadPixels: 2, threadFilters: 4 }],
        ['pwdw', pwdw, { tileH: 2, tileW: 2, channels: 8, threadPositions: 2, workgroupSize: 32 }],
      ] as const) {
        expect(await time(kind, problem, { kind: 'unfused' })).toBeGreaterThan(0);
        expect(await time(kind, problem, { kind: 'fused', tile })).toBeGreaterThan(0);
      }
    });
  });

  const block = (residual: boolean, stride: number): BlockSiteProblem => ({
    batch: 2,
    inHeight: 7,
    inWidth: 7,
    inChannels: 8,
    expandedChannels: 24,
    outChannels: residual ? 8 : 12,
    kernelSize: 3,
    stride,
    outHeight: Math.ceil(7 / stride),
    outWidth: Math.ceil(7 / stride),
    residual,
  });

  for (const [residual, stride] of [
    [true, 1],
    [false, 2],
  ] as const) {
    it(`runs a block site fused (2 splits) and unfused to the same output, residual ${residual}, stride ${stride}`, async () => {
      const problem = block(residual, stride);
      const tile = {
        tileH: 4,
        tileW: 4,
        filters: 12,
        chunk: 12,
        threadPixels: 2,
        threadFilters: 4,
        expandPositions: 2,
        splits: 2,
      };
      await expectNoLeaks(async () => {
        const unfused = buildSiteRunner('pwdwpw', problem, { kind: 'unfused' });
        const fused = buildSiteRunner('pwdwpw', problem, { kind: 'fused', tile });
        const expected = unfused.run();
        const actual = fused.run();
        expect(actual.shape).toEqual(expected.shape);
        expectAllClose(await actual.data(), await expected.data());
        tf.dispose([expected, actual]);
        unfused.dispose();
        fused.dispose();
      });
      const time = makeSiteTimer({ repeats: 2, rounds: 1 });
      expect(await time('pwdwpw', problem, { kind: 'fused', tile })).toBeGreaterThan(0);
    });
  }
});
