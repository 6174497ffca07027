import '../setup';

import { DEFAULT_LIMITS } from '../../src/kernels/types';
import {
  CONSERVATIVE_PROFILE,
  CalibrationMeasurements,
  DeviceProfile,
  H100_LIKE_PROFILE,
  deviceProfileFromLimits,
  estimateKernel,
  fitLine,
  makeCalibrate,
  profileFromMeasurements,
  saturationPoint,
  stockDepthwiseCost,
  stockPointwiseCost,
} from '../../src/planner';
import { describePure } from '../helpers/describe';

describePure('planner device profiles', () => {
  it('ships valid, plain-JSON default profiles', () => {
    for (const profile of [H100_LIKE_PROFILE, CONSERVATIVE_PROFILE]) {
      expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
      expect(() => deviceProfileFromLimits(profile.limits, {}, profile)).not.toThrow();
      expect(profile.source.length).toBeGreaterThan(0);
    }
    expect(CONSERVATIVE_PROFILE.limits).toEqual(DEFAULT_LIMITS);
    expect(H100_LIKE_PROFILE.limits.maxComputeWorkgroupStorageSize).toBe(49152);
    expect(H100_LIKE_PROFILE.limits.maxComputeInvocationsPerWorkgroup).toBe(1024);
  });

  it('builds a profile from device limits plus overrides', () => {
    const limits = { ...DEFAULT_LIMITS, maxComputeWorkgroupStorageSize: 32768, extra: 1 };
    const profile = deviceProfileFromLimits(limits, { memoryBandwidthGBps: 400 });
    expect(profile.limits.maxComputeWorkgroupStorageSize).toBe(32768);
    expect('extra' in profile.limits).toBe(false);
    expect(profile.memoryBandwidthGBps).toBe(400);
    expect(profile.flopRateGflops).toBe(CONSERVATIVE_PROFILE.flopRateGflops);
  });

  it('rejects figures the cost model cannot use', () => {
    expect(() => deviceProfileFromLimits(DEFAULT_LIMITS, { memoryBandwidthGBps: 0 })).toThrowError(
      /bandwidth/i,
    );
    expect(() => deviceProfileFromLimits(DEFAULT_LIMITS, { dispatchOverheadMs: -1 })).toThrowError(
      /dispatch/i,
    );
  });

  it('the H100-like profile reproduces measured stock kernel times within 20 %', () => {
    // GPU times of stock tfjs 4.22 kernels at batch 1 on the H100 (shared/reference).
    const p = H100_LIKE_PROFILE;
    const dw = (size: number, c: number, stride: number) =>
      estimateKernel(
        stockDepthwiseCost({
          batch: 1,
          inHeight: size,
          inWidth: size,
          channels: c,
          kernelSize: 3,
          stride,
          outHeight: Math.ceil(size / stride),
          outWidth: Math.ceil(size / stride),
        }),
        p,
      ).ms;
    const pw = (size: number, cin: number, cout: number) =>
      estimateKernel(
        stockPointwiseCost({ batch: 1, height: size, width: size, inChannels: cin, outChannels: cout }),
        p,
      ).ms;
    const cases: [string, number, number][] = [
      ['dw 56²×144', dw(56, 144, 1), 0.0125],
      ['pw 56² 144→24', pw(56, 144, 24), 0.0146],
      ['dw 28²×192 s2', dw(28, 192, 2), 0.0134],
      ['pw 14² 192→64', pw(14, 192, 64), 0.016],
      ['dw 16²×8', dw(16, 8, 1), 0.0121],
      // The 7² block 224→1344→224: 0.097 ms with its 0.009 ms residual add.
      ['7² block', pw(7, 224, 1344) + dw(7, 1344, 1) + pw(7, 1344, 224), 0.097 - 0.009],
    ];
    for (const [name, predicted, measured] of cases) {
      expect(Math.abs(predicted / measured - 1))
        .withContext(`${name}: predicted ${predicted} ms, measured ${measured} ms`)
        .toBeLessThan(0.2);
    }
  });
});

describePure('planner calibration', () => {
  // Timings a device with 500 GB/s, 0.02 ms per dispatch and 4 TFLOP/s would produce.
  const measurements: CalibrationMeasurements = {
    streams: [1e6, 4e6, 16e6, 64e6].map((bytes) => ({ bytes, ms: 0.02 + bytes / 500e6 })),
    dispatchRuns: [{ count: 100, ms: 2 }],
    matmuls: [{ flops: 4e9, ms: 0.02 + 1 }],
    workgroupSweep: [
      { workgroups: 8, ms: 0.1 },
      { workgroups: 16, ms: 0.1 },
      { workgroups: 32, ms: 0.11 },
      { workgroups: 64, ms: 0.2 },
      { workgroups: 128, ms: 0.4 },
    ],
  };

  it('fits bandwidth, overhead, FLOP rate and fill from timings', () => {
    const profile = profileFromMeasurements(DEFAULT_LIMITS, measurements);
    expect(profile.memoryBandwidthGBps).toBeCloseTo(500, 6);
    expect(profile.dispatchOverheadMs).toBeCloseTo(0.02, 9);
    expect(profile.flopRateGflops).toBeCloseTo(4000, 6);
    expect(profile.minWorkgroups).toBe(32);
    expect(profile.minInvocations).toBe(32 * 64);
    expect(profile.rereadCostFactor).toBe(CONSERVATIVE_PROFILE.rereadCostFactor);
    expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
  });

  it('takes the dispatch overhead from the stream intercept without dispatch runs', () => {
    const profile = profileFromMeasurements(DEFAULT_LIMITS, { streams: measurements.streams });
    expect(profile.dispatchOverheadMs).toBeCloseTo(0.02, 9);
    expect(profile.flopRateGflops).toBe(CONSERVATIVE_PROFILE.flopRateGflops);
  });

  it('needs stream timings at two sizes', () => {
    expect(() => profileFromMeasurements(DEFAULT_LIMITS, { streams: [{ bytes: 1e6, ms: 1 }] })).toThrowError(
      /two or more sizes/,
    );
    expect(fitLine([[1, 2]])).toBeUndefined();
    expect(saturationPoint([])).toBeUndefined();
  });

  it('makeCalibrate wires a device measurement to the fit', async () => {
    const backend = { device: { limits: { ...DEFAULT_LIMITS, maxComputeWorkgroupStorageSize: 32768 } } };
    const calibrate = makeCalibrate(async (b) => {
      expect(b).toBe(backend);
      return measurements;
    });
    const profile: DeviceProfile = await calibrate(backend);
    expect(profile.limits.maxComputeWorkgroupStorageSize).toBe(32768);
    expect(profile.memoryBandwidthGBps).toBeCloseTo(500, 6);
  });
});
