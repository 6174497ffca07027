import './setup';

import { makeSiteTimer } from '../src/ops/site_timer';
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
});
