/**
 * Numeric comparison with absolute and relative tolerance and explicit
 * non-finite checks (tfjs's expectArraysClose lets NaN match NaN, which would
 * let a poisoned output pass against a broken reference).
 */

export interface Tolerance {
  /** |a - e| <= atol + rtol * |e| must hold for every element. */
  atol?: number;
  rtol?: number;
}

export interface Mismatch {
  index: number;
  actual: number;
  expected: number;
}

export function findMismatches(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 1e-4, rtol = 1e-4 }: Tolerance = {},
): Mismatch[] {
  const mismatches: Mismatch[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok = Number.isFinite(a) && Number.isFinite(e) && Math.abs(a - e) <= atol + rtol * Math.abs(e);
    if (!ok) {
      mismatches.push({ index: i, actual: a, expected: e });
    }
  }
  return mismatches;
}

export function expectAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance = {},
  label = '',
): void {
  expect(actual.length).withContext(`${label} length`).toBe(expected.length);
  const mismatches = findMismatches(actual, expected, tolerance);
  const shown = mismatches
    .slice(0, 5)
    .map((m) => `[${m.index}] ${m.actual} vs ${m.expected}`)
    .join(', ');
  expect(mismatches.length)
    .withContext(`${label}: ${mismatches.length} of ${expected.length} differ: ${shown}`)
    .toBe(0);
}

/** Largest |a - e| / max(|e|, 1) over the arrays (for reports). */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1));
  }
  return worst;
}
