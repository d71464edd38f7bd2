import { describe, expect, it } from 'vitest';
import { ProblemException } from '../common/problem.js';
import { parseAgentUid, parseCustomMessageBody, parseListAgentsQuery, parseStates } from './agents.query.js';

const problemOf = (fn: () => unknown): ProblemException => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProblemException);
    return err as ProblemException;
  }
  throw new Error('expected a problem');
};

describe('parseAgentUid', () => {
  it('accepts the canonical form in any case and lower-cases it', () => {
    expect(parseAgentUid('0192E3A4-5B6C-7D8E-9F01-23456789ABCD')).toBe('0192e3a4-5b6c-7d8e-9f01-23456789abcd');
  });

  it.each([
    '',
    'x',
    '0192e3a45b6c7d8e9f0123456789abcd',
    '{0192e3a4-5b6c-7d8e-9f01-23456789abcd}',
    '0192e3a4-5b6c-7d8e-9f01-23456789abcg',
    ' 0192e3a4-5b6c-7d8e-9f01-23456789abcd',
  ])('rejects %j with a 400 problem', (raw) => {
    const p = problemOf(() => parseAgentUid(raw)).problem;
    expect(p).toMatchObject({
      status: 400,
      type: 'urn:opampcp:problem:invalid-agent-uid',
      detail: expect.stringMatching(/canonical UUID form/),
    });
  });
});

describe('parseListAgentsQuery', () => {
  it('parses selector, states, limit and cursor', () => {
    const q = parseListAgentsQuery({
      selector: 'env=prod,tier',
      status: 'offline,connected',
      limit: '10',
      cursor: 'abc',
    });
    expect(q.selector).toHaveLength(2);
    expect(q.states).toEqual(['connected', 'offline']);
    expect(q.limit).toBe(10);
    expect(q.cursor).toBe('abc');
  });

  it('reports selector errors with their position', () => {
    const p = problemOf(() => parseListAgentsQuery({ selector: 'a=b c' })).problem;
    expect(p).toMatchObject({
      status: 400,
      type: 'urn:opampcp:problem:invalid-label-selector',
      title: 'Invalid label selector',
    });
    expect(p.detail).toMatch(/^selector: expected "," or end of selector, found "c" \(at character 5\)$/);
  });

  it('merges, deduplicates and validates states', () => {
    expect(parseStates(['connected', 'offline,connected', ' '])).toEqual(['connected', 'offline']);
    expect(problemOf(() => parseStates('online')).problem.detail).toMatch(/unknown connection state "online"/);
  });
});

describe('parseCustomMessageBody', () => {
  it('decodes base64 data', () => {
    expect(parseCustomMessageBody({ capability: 'c', type: 't', data: 'aGk=' })).toEqual({
      capability: 'c',
      type: 't',
      data: Uint8Array.from(Buffer.from('hi')),
    });
    expect(parseCustomMessageBody({ capability: 'c', type: 't' }).data).toEqual(new Uint8Array(0));
  });

  it('lists every problem', () => {
    const p = problemOf(() => parseCustomMessageBody({ capability: 3, data: 'not base64!', foo: 1 })).problem;
    expect(p.invalidParams?.map((x) => x.name).sort()).toEqual(['capability', 'data', 'foo', 'type']);
    expect(problemOf(() => parseCustomMessageBody('text')).problem.detail).toMatch(/JSON object/);
    expect(problemOf(() => parseCustomMessageBody(null)).status).toBe(400);
    expect(problemOf(() => parseCustomMessageBody({ capability: 'c', type: 't', data: 'YQ' })).problem.detail).toMatch(
      /base64/,
    );
  });
});
