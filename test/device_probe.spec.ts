import './setup';
import * as tf from '@tensorflow/tfjs-core';

import { calibrate } from '../src/ops/device_probe';
import { assertValidProfile, CONSERVATIVE_PROFILE } from '../src/planner/index';
import { describeFused, fusedBackend } from './helpers/describe';
import { expectNoLeaks } from './helpers/leaks';

describeFused('planner calibration on the device', () => {
  it('measures bandwidth, dispatch overhead and FLOP rate into a valid, serializable profile', async () => {
    const profile = await expectNoLeaks(() =>
      calibrate(fusedBackend(), CONSERVATIVE_PROFILE, {
        rounds: 1,
        streamSizes: [1 << 14, 1 << 16],
        matmulSize: 64,
      }),
    );
    assertValidProfile(profile);
    expect(profile.limits.maxComputeInvocationsPerWorkgroup).toBe(
      fusedBackend().limits.maxComputeInvocationsPerWorkgroup,
    );
    expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
    expect(profile.source).not.toBe(CONSERVATIVE_PROFILE.source);
  });

  it('refuses to probe a backend that is not the current one', async () => {
    await tf.setBackend('cpu');
    try {
      expect(() => calibrate(fusedBackend())).toThrowError(/select the backend first/);
    } finally {
      await tf.setBackend('webgpu-fused');
    }
  });
});
