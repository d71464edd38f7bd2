import { describe, expect, it } from 'vitest';
import { ProblemException } from '../common/problem.js';
import { parseEventsQuery, parseLastEventId } from './events.query.js';

const problemOf = (fn: () => unknown): ProblemException => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProblemException) return err;
    throw err;
  }
  throw new Error('did not throw');
};

describe('GET /api/v1/events parameters', () => {
  it('defaults to every type; filters are normalised', () => {
    expect(parseEventsQuery({})).toEqual({ types: new Set(['agent', 'rollout', 'command']) });
    const f = parseEventsQuery({
      types: 'rollout, command',
      rollout: '0192E3A4-5B6C-7D8E-9F01-000000000001',
      agent: '0192E3A4-5B6C-7D8E-9F01-23456789ABCD',
      selector: 'env=prod',
    });
    expect(f.types).toEqual(new Set(['rollout', 'command']));
    expect(f.rolloutId).toBe('0192e3a4-5b6c-7d8e-9f01-000000000001');
    expect(f.agentUid).toBe('0192e3a4-5b6c-7d8e-9f01-23456789abcd');
    expect(f.selector).toHaveLength(1);
  });

  it('refuses unknown types, malformed ids and selectors with a 400 naming the parameter', () => {
    expect(problemOf(() => parseEventsQuery({ types: 'rollout,agents' })).problem.invalidParams).toEqual([
      { name: 'types', reason: expect.stringMatching(/unknown event type "agents"/) },
    ]);
    expect(problemOf(() => parseEventsQuery({ types: ',' })).status).toBe(400);
    expect(
      problemOf(() => parseEventsQuery({ rollout: 'x', agent: 'y' })).problem.invalidParams?.map((p) => p.name),
    ).toEqual(['rollout', 'agent']);
    expect(problemOf(() => parseEventsQuery({ selector: 'env in (' })).problem.invalidParams?.[0]?.name).toBe(
      'selector',
    );
  });

  it('reads Last-Event-ID (header first, then lastEventId) and refuses one it did not send', () => {
    expect(parseLastEventId(undefined, undefined)).toBeUndefined();
    expect(parseLastEventId('rollout:17-1', 'agent:1-0')).toEqual({ type: 'rollout', entryId: '17-1' });
    expect(parseLastEventId(undefined, 'agent:1-0')).toEqual({ type: 'agent', entryId: '1-0' });
    expect(problemOf(() => parseLastEventId('42', undefined)).problem.invalidParams?.[0]?.name).toBe('Last-Event-ID');
  });
});
