import { describe, expect, it } from 'vitest';
import { ProblemException } from '../common/problem.js';
import {
  parseControlBody,
  parseCreateRolloutBody,
  parseListRolloutsQuery,
  parseRolloutCursorKey,
  parseRolloutStates,
  rolloutCursorKey,
} from './rollouts.query.js';

function problemOf(fn: () => unknown): ProblemException {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProblemException) return err;
    throw err;
  }
  throw new Error('expected a problem');
}

describe('parseCreateRolloutBody', () => {
  it('accepts the documented shape; dryRun defaults to false', () => {
    expect(parseCreateRolloutBody({ config: 'fb', version: 3, selector: 'env=prod' })).toEqual({
      config: 'fb',
      version: 3,
      selector: 'env=prod',
      strategy: undefined,
      dryRun: false,
    });
    expect(
      parseCreateRolloutBody({ config: 'fb', version: 1, selector: '', strategy: { soakSeconds: 5 }, dryRun: true }),
    ).toMatchObject({ strategy: { soakSeconds: 5 }, dryRun: true });
  });

  it('names every offending field at once', () => {
    const p = problemOf(() => parseCreateRolloutBody({ config: '', version: 0, extra: 1, dryRun: 1 }));
    expect(p.status).toBe(400);
    expect(p.problem.invalidParams!.map((i) => i.name).sort()).toEqual([
      'config',
      'dryRun',
      'extra',
      'selector',
      'version',
    ]);
  });

  it.each([null, 'text', [], 42])('refuses a body that is not an object (%j)', (body) => {
    expect(problemOf(() => parseCreateRolloutBody(body)).problem.detail).toMatch(/must be a JSON object/);
  });

  it.each([1.5, '2', -1, 2 ** 31])('refuses version %j', (version) => {
    expect(problemOf(() => parseCreateRolloutBody({ config: 'c', version, selector: '' })).problem.detail).toMatch(
      /^version: /,
    );
  });
});

describe('parseControlBody', () => {
  it('accepts no body, an empty object, or a reason', () => {
    expect(parseControlBody(undefined)).toEqual({});
    expect(parseControlBody({})).toEqual({});
    expect(parseControlBody({ reason: 'maintenance window' })).toEqual({ reason: 'maintenance window' });
  });

  it('refuses unknown fields, an empty or overlong reason', () => {
    expect(problemOf(() => parseControlBody({ why: 1 })).problem.detail).toMatch(/why: unknown field/);
    expect(problemOf(() => parseControlBody({ reason: ' ' })).problem.detail).toMatch(/non-empty/);
    expect(problemOf(() => parseControlBody({ reason: 'x'.repeat(501) })).problem.detail).toMatch(/at most 500/);
  });
});

describe('list query', () => {
  it('parses states given comma-separated or repeated, sorted and unique', () => {
    expect(parseRolloutStates('running,paused')).toEqual(['paused', 'running']);
    expect(parseRolloutStates(['running', 'running,rolling_back'])).toEqual(['rolling_back', 'running']);
    expect(parseRolloutStates(undefined)).toEqual([]);
    expect(problemOf(() => parseRolloutStates('done')).problem.detail).toMatch(/unknown rollout state "done"/);
  });

  it('takes config, limit and cursor once each', () => {
    expect(parseListRolloutsQuery({ config: 'fb', limit: '5' })).toEqual({
      states: [],
      config: 'fb',
      limit: 5,
      cursor: undefined,
    });
    expect(problemOf(() => parseListRolloutsQuery({ config: ['a', 'b'] })).problem.detail).toMatch(/at most once/);
    expect(problemOf(() => parseListRolloutsQuery({ config: '' })).problem.detail).toMatch(/config name or id/);
  });

  it('round-trips the cursor key and refuses anything else', () => {
    const at = new Date('2026-11-22T10:00:00.123Z');
    const id = '0192e3a4-5b6c-7d8e-9f01-23456789abcd';
    expect(parseRolloutCursorKey(rolloutCursorKey(at, id))).toEqual({ createdAt: at, id });
    expect(parseRolloutCursorKey(`${at.toISOString()}|nope`)).toBeUndefined();
    expect(parseRolloutCursorKey('2026-13-45T99:00:00.000Z|0192e3a4-5b6c-7d8e-9f01-23456789abcd')).toBeUndefined();
  });
});
