import { describe, expect, it } from 'vitest';
import { Backoff, parseRetryAfter } from './backoff.js';

describe('Backoff', () => {
  const opts = { initialMs: 1_000, maxMs: 8_000, factor: 2, immediateJitterMs: 250 };

  it('retries immediately-ish first, then grows exponentially with equal jitter up to the cap', () => {
    const lo = new Backoff(opts, () => 0);
    expect([1, 2, 3, 4, 5, 6].map(() => lo.next())).toEqual([0, 500, 1_000, 2_000, 4_000, 4_000]);
    const hi = new Backoff(opts, () => 0.999999);
    expect([1, 2, 3, 4, 5, 6].map(() => hi.next())).toEqual([250, 1_000, 2_000, 4_000, 8_000, 8_000]);
  });

  it('waits at least Retry-After', () => {
    const b = new Backoff(opts, () => 0);
    expect(b.next(30_000)).toBe(30_000);
    expect(b.next(10)).toBe(500);
  });

  it('resets', () => {
    const b = new Backoff(opts, () => 0);
    b.next();
    b.next();
    expect(b.attempts).toBe(2);
    b.reset();
    expect(b.next()).toBe(0);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');

  it('parses delay-seconds and HTTP-dates like the opamp-go client', () => {
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('-5', now)).toBe(0);
    expect(parseRetryAfter('Sat, 21 Nov 2026 12:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 11:00:00 GMT', now)).toBe(0);
  });

  it('returns undefined when absent or unparseable', () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('')).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
