import { describe, expect, it } from 'vitest';
import { ProblemException } from '../common/problem.js';
import {
  parseAgentSort,
  parseAgentUid,
  parseCapabilities,
  parseCustomMessageBody,
  parseForceParam,
  parseListAgentsQuery,
  parseStates,
  parseTopParam,
} from './agents.query.js';
import { containsPattern } from './agents.repository.js';
import { summaryFromRows } from './fleet-summary.service.js';

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

describe('list filters, sort and flags', () => {
  it('parses every filter, merging comma lists and repeated parameters', () => {
    const q = parseListAgentsQuery({
      health: ['unknown,healthy', 'healthy'],
      agentType: 'otelcol,fluentbit',
      version: ' 3.2.4 ,3.2.4,1.0',
      capability: 'AcceptsRestartCommand,ReportsStatus,io.example.echo',
      q: '  web  ',
      sort: '-lastSeenAt',
    });
    expect(q).toMatchObject({
      health: ['healthy', 'unknown'],
      agentTypes: ['fluentbit', 'otelcol'],
      versions: ['1.0', '3.2.4'],
      capabilities: { bits: 0x401n, custom: ['io.example.echo'] },
      q: 'web',
      sort: { field: 'lastSeenAt', descending: true },
    });
    expect(parseListAgentsQuery({})).toMatchObject({
      health: [],
      agentTypes: [],
      versions: [],
      capabilities: { bits: 0n, custom: [] },
      q: undefined,
      sort: { field: 'uid', descending: false },
    });
  });

  it('refuses unknown sorts and capabilities, naming the allowed values', () => {
    expect(parseAgentSort('hostName')).toEqual({ field: 'hostName', descending: false });
    expect(problemOf(() => parseAgentSort('+uid')).problem.invalidParams?.[0]).toMatchObject({
      name: 'sort',
      reason: expect.stringMatching(
        /use one of uid, lastSeenAt, firstSeenAt, hostName, serviceName, agentType, serviceVersion/,
      ),
    });
    for (const bad of ['AcceptsRestart', 'constructor', 'has space.x', `a.${'b'.repeat(300)}`]) {
      expect(problemOf(() => parseCapabilities(bad)).problem.detail).toMatch(/^capability: unknown capability/);
    }
  });

  it('parses force and top', () => {
    expect([undefined, 'false', '0', 'TRUE', '1'].map(parseForceParam)).toEqual([false, false, false, true, true]);
    expect(problemOf(() => parseForceParam('yes')).problem.detail).toMatch(/force: must be true or false/);
    expect([undefined, '1', '100'].map(parseTopParam)).toEqual([10, 1, 100]);
    for (const bad of ['0', '101', '-1', 'ten', '1e2']) expect(problemOf(() => parseTopParam(bad)).status).toBe(400);
  });

  it('escapes LIKE wildcards in free text', () => {
    expect(containsPattern('db_main')).toBe('%db\\_main%');
    expect(containsPattern('100%')).toBe('%100\\%%');
    expect(containsPattern('a\\b')).toBe('%a\\\\b%');
  });
});

describe('summaryFromRows', () => {
  it('fills zeros, sorts the top lists and computes "other"', () => {
    const s = summaryFromRows([
      { dim: 'total', k1: null, k2: null, n: 10 },
      { dim: 'status', k1: 'connected', k2: null, n: 10 },
      { dim: 'hash', k1: 'bb', k2: null, n: 3 },
      { dim: 'hash', k1: 'aa', k2: null, n: 5 },
      { dim: 'noHash', k1: null, k2: null, n: 1 },
      { dim: 'hashes', k1: null, k2: null, n: 4 },
      { dim: 'version', k1: null, k2: null, n: 4 },
      { dim: 'version', k1: 'x', k2: '1', n: 4 },
      { dim: 'versions', k1: null, k2: null, n: 3 },
    ]);
    expect(s.status).toEqual({ connected: 10, disconnected: 0, offline: 0 });
    expect(s.health).toEqual({ healthy: 0, unhealthy: 0, unknown: 0 });
    expect(s.drift).toEqual({ inSync: 0, pendingApply: 0, applyFailed: 0, effectiveDiffers: 0, noDesired: 0 });
    expect(s.configHashes).toEqual({
      top: [
        { hash: 'aa', count: 5 },
        { hash: 'bb', count: 3 },
      ],
      other: 1,
      none: 1,
      distinct: 4,
    });
    expect(s.versions).toEqual({
      top: [
        { serviceName: 'x', serviceVersion: '1', count: 4 },
        { serviceName: null, serviceVersion: null, count: 4 },
      ],
      other: 2,
      distinct: 3,
    });
  });
});
