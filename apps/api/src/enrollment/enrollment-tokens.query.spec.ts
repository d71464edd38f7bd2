import { describe, expect, it } from 'vitest';
import { ProblemException } from '../common/problem.js';
import { ConfigProblemType } from '../configs/config-problems.js';
import { parseCreateEnrollmentTokenBody, parseListEnrollmentTokensQuery } from './enrollment-tokens.query.js';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

function problemOf(fn: () => unknown): ProblemException['problem'] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProblemException) return err.problem;
    throw err;
  }
  throw new Error('expected a problem');
}

const names = (p: ProblemException['problem']) => (p.invalidParams ?? []).map((i) => i.name);

describe('parseCreateEnrollmentTokenBody', () => {
  it('accepts a name alone: no labels, never expires', () => {
    expect(parseCreateEnrollmentTokenBody({ name: '  edge fleet ' }, NOW)).toEqual({
      name: 'edge fleet',
      labels: {},
      expiresAt: null,
    });
  });

  it('takes labels, expiresAt or ttlSeconds', () => {
    expect(
      parseCreateEnrollmentTokenBody(
        { name: 'n', labels: { env: 'prod', 'example.com/tier': 'edge', empty: '' }, ttlSeconds: 60 },
        NOW,
      ),
    ).toEqual({
      name: 'n',
      labels: { env: 'prod', 'example.com/tier': 'edge', empty: '' },
      expiresAt: new Date(NOW + 60_000),
    });
    expect(parseCreateEnrollmentTokenBody({ name: 'n', expiresAt: '2027-01-01T00:00:00Z' }, NOW).expiresAt).toEqual(
      new Date('2027-01-01T00:00:00Z'),
    );
  });

  it('400 for shape problems, each field named', () => {
    for (const body of [null, [], 'x', 42]) {
      expect(problemOf(() => parseCreateEnrollmentTokenBody(body, NOW))).toMatchObject({ status: 400 });
    }
    const p = problemOf(() =>
      parseCreateEnrollmentTokenBody({ name: '', labels: { a: 1 }, extra: true, ttlSeconds: 59 }, NOW),
    );
    expect(p.status).toBe(400);
    expect(names(p).sort()).toEqual(['extra', 'labels["a"]', 'name', 'ttlSeconds']);
  });

  it('name: 1 to 100 characters', () => {
    expect(parseCreateEnrollmentTokenBody({ name: 'x'.repeat(100) }, NOW).name).toHaveLength(100);
    expect(names(problemOf(() => parseCreateEnrollmentTokenBody({ name: 'x'.repeat(101) }, NOW)))).toEqual(['name']);
    expect(names(problemOf(() => parseCreateEnrollmentTokenBody({ name: '   ' }, NOW)))).toEqual(['name']);
    expect(names(problemOf(() => parseCreateEnrollmentTokenBody({ name: 7 }, NOW)))).toEqual(['name']);
  });

  it('expiry: in the future, ttlSeconds ≥ 60, not both', () => {
    const past = problemOf(() => parseCreateEnrollmentTokenBody({ name: 'n', expiresAt: '2026-11-25T11:59:59Z' }, NOW));
    expect(past.status).toBe(400);
    expect(past.detail).toMatch(/expiresAt: must be in the future/);
    expect(names(problemOf(() => parseCreateEnrollmentTokenBody({ name: 'n', expiresAt: 'tomorrow' }, NOW)))).toEqual([
      'expiresAt',
    ]);
    expect(names(problemOf(() => parseCreateEnrollmentTokenBody({ name: 'n', ttlSeconds: 1.5 }, NOW)))).toEqual([
      'ttlSeconds',
    ]);
    expect(
      problemOf(() =>
        parseCreateEnrollmentTokenBody({ name: 'n', ttlSeconds: 3600, expiresAt: '2027-01-01T00:00:00Z' }, NOW),
      ).detail,
    ).toMatch(/either expiresAt or ttlSeconds/);
  });

  it('labels must be an object of at most 64 string values', () => {
    expect(names(problemOf(() => parseCreateEnrollmentTokenBody({ name: 'n', labels: ['a'] }, NOW)))).toEqual([
      'labels',
    ]);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect(problemOf(() => parseCreateEnrollmentTokenBody({ name: 'n', labels: many }, NOW)).detail).toMatch(
      /at most 64 labels/,
    );
  });

  it('422 for labels that break the Kubernetes label syntax', () => {
    const p = problemOf(() =>
      parseCreateEnrollmentTokenBody(
        { name: 'n', labels: { '-bad': 'v', good: 'spaces are bad', 'UPPER.example.com/x': 'v', ok: 'fine' } },
        NOW,
      ),
    );
    expect(p.status).toBe(422);
    expect(p.type).toBe(ConfigProblemType.invalidLabels);
    expect(names(p).sort()).toEqual(['labels["-bad"]', 'labels["UPPER.example.com/x"]', 'labels["good"]']);
    expect(p.detail).toMatch(/invalid key/);
    expect(p.detail).toMatch(/invalid value "spaces are bad"/);
  });
});

describe('parseListEnrollmentTokensQuery', () => {
  it('defaults: active tokens only, first page of 50', () => {
    expect(parseListEnrollmentTokensQuery({})).toEqual({ includeRevoked: false, limit: 50, cursor: undefined });
    expect(parseListEnrollmentTokensQuery({ includeRevoked: 'true', limit: '2', cursor: 'abc' })).toEqual({
      includeRevoked: true,
      limit: 2,
      cursor: 'abc',
    });
  });

  it('400 for unknown or malformed parameters', () => {
    expect(names(problemOf(() => parseListEnrollmentTokensQuery({ state: 'x' })))).toEqual(['state']);
    expect(names(problemOf(() => parseListEnrollmentTokensQuery({ includeRevoked: 'yes' })))).toEqual([
      'includeRevoked',
    ]);
    expect(names(problemOf(() => parseListEnrollmentTokensQuery({ limit: '0' })))).toEqual(['limit']);
  });
});
