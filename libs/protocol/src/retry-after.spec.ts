import { describe, expect, it } from 'vitest';
import { jitteredRetryAfterSeconds, retryAfterNanos } from './retry-after.js';

describe('jitteredRetryAfterSeconds', () => {
  it('stays within [base, ceil(base * (1 + fraction))] and is an integer', () => {
    expect(jitteredRetryAfterSeconds(30, 0.5, () => 0)).toBe(30);
    expect(jitteredRetryAfterSeconds(30, 0.5, () => 0.5)).toBe(38); // 37.5 rounded up
    expect(jitteredRetryAfterSeconds(30, 0.5, () => 0.999999)).toBe(45);
    for (let i = 0; i < 1000; i++) {
      const v = jitteredRetryAfterSeconds(10);
      expect(Number.isInteger(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(10);
      expect(v).toBeLessThanOrEqual(15);
    }
  });
  it('is at least 1 for tiny, zero, negative or invalid inputs', () => {
    expect(jitteredRetryAfterSeconds(0.2, 0, () => 0)).toBe(1);
    expect(jitteredRetryAfterSeconds(0)).toBeGreaterThanOrEqual(1);
    expect(jitteredRetryAfterSeconds(-5, 0.5, () => 0)).toBe(1);
    expect(jitteredRetryAfterSeconds(Number.NaN, 0.5, () => 0)).toBe(1);
    expect(jitteredRetryAfterSeconds(5, 0.5, () => Number.NaN)).toBe(5);
    expect(jitteredRetryAfterSeconds(5, 0.5, () => 1)).toBe(8); // rand() == 1 clamped below 1
  });
  it('without jitter returns ceil(base)', () => {
    expect(jitteredRetryAfterSeconds(7.2, 0, () => 0.9)).toBe(8);
  });
});

describe('retryAfterNanos', () => {
  it('converts seconds exactly', () => {
    expect(retryAfterNanos(30)).toBe(30_000_000_000n);
    expect(retryAfterNanos(1.5)).toBe(1_500_000_000n);
    expect(retryAfterNanos(86_400 * 365 * 100)).toBe(3_153_600_000_000_000_000n);
  });
  it('clamps invalid values to 0', () => {
    expect(retryAfterNanos(0)).toBe(0n);
    expect(retryAfterNanos(-1)).toBe(0n);
    expect(retryAfterNanos(Number.POSITIVE_INFINITY)).toBe(0n);
  });
});
