import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, parseLimit, queryFingerprint, singleParam } from './pagination.js';
import { ProblemException } from './problem.js';

const problemOf = (fn: () => unknown): ProblemException => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProblemException);
    return err as ProblemException;
  }
  throw new Error('expected a problem');
};

describe('cursor', () => {
  const fp = queryFingerprint({ s: 'env=prod', st: [] });

  it('round-trips the key for the same query', () => {
    const c = encodeCursor('0192e3a4-5b6c-7d8e-9f01-23456789abcd', fp);
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c, fp, () => true)).toBe('0192e3a4-5b6c-7d8e-9f01-23456789abcd');
  });

  it('rejects cursors of other queries, garbage and invalid keys', () => {
    const c = encodeCursor('k', fp);
    expect(
      problemOf(() => decodeCursor(c, queryFingerprint({ s: 'env=dev', st: [] }), () => true)).problem,
    ).toMatchObject({
      status: 400,
      detail: expect.stringMatching(/different filters/),
    });
    expect(problemOf(() => decodeCursor('%%%', fp, () => true)).status).toBe(400);
    expect(problemOf(() => decodeCursor(Buffer.from('[1]').toString('base64url'), fp, () => true)).status).toBe(400);
    expect(problemOf(() => decodeCursor(c, fp, () => false)).status).toBe(400);
  });

  it('fingerprints are stable and sensitive to the query', () => {
    expect(queryFingerprint({ a: 1 })).toBe(queryFingerprint({ a: 1 }));
    expect(queryFingerprint({ a: 1 })).not.toBe(queryFingerprint({ a: 2 }));
  });
});

describe('parseLimit', () => {
  it('defaults, accepts 1..500, rejects the rest', () => {
    expect(parseLimit(undefined)).toBe(50);
    expect(parseLimit('1')).toBe(1);
    expect(parseLimit('500')).toBe(500);
    for (const bad of ['0', '501', '-3', '2.5', 'x', '', ['1', '2']]) {
      expect(problemOf(() => parseLimit(bad)).problem.invalidParams?.[0]?.name).toBe('limit');
    }
  });
});

describe('singleParam', () => {
  it('rejects repeated parameters', () => {
    expect(singleParam('cursor', undefined)).toBeUndefined();
    expect(singleParam('cursor', 'abc')).toBe('abc');
    expect(problemOf(() => singleParam('cursor', ['a', 'b'])).problem.detail).toMatch(
      /cursor: must be given at most once/,
    );
  });
});
