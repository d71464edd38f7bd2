import { describe, expect, it } from 'vitest';
import { ProblemException } from '../common/problem.js';
import {
  parseBulkBody,
  parseCommandTypeBody,
  parseCommandTypePath,
  parseListCommandsQuery,
  parseSendCommandBody,
} from './commands.query.js';

function problemNames(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProblemException);
    return ((err as ProblemException).problem.invalidParams ?? []).map((p) => p.name).sort();
  }
  throw new Error('expected a problem');
}

describe('parseSendCommandBody', () => {
  it('takes capability, type and parameters (default {})', () => {
    expect(parseSendCommandBody({ capability: 'com.example.fb', type: 'flush' })).toEqual({
      capability: 'com.example.fb',
      type: 'flush',
      parameters: {},
    });
    expect(parseSendCommandBody({ capability: 'c.d/v1', type: 'a:b', parameters: [1] }).parameters).toEqual([1]);
  });

  it('names every bad field', () => {
    expect(problemNames(() => parseSendCommandBody({ capability: 'no spaces', type: '', x: 1 }))).toEqual([
      'capability',
      'type',
      'x',
    ]);
    expect(problemNames(() => parseSendCommandBody('x'))).toEqual(['body']);
    const big = { capability: 'c', type: 't', parameters: { s: 'x'.repeat(70_000) } };
    expect(problemNames(() => parseSendCommandBody(big))).toEqual(['parameters']);
  });
});

describe('parseBulkBody', () => {
  it('restart and custom commands, dry run or not', () => {
    const r = parseBulkBody({ selector: 'env=prod', command: { kind: 'restart' }, dryRun: true });
    expect(r).toMatchObject({ selectorText: 'env=prod', command: { kind: 'restart' }, dryRun: true });
    const c = parseBulkBody({ selector: '', command: { kind: 'custom', capability: 'c', type: 't' } });
    expect(c).toMatchObject({ selector: [], dryRun: false, command: { kind: 'custom', parameters: {} } });
  });

  it('refuses a missing selector or command, unknown kinds and fields', () => {
    expect(problemNames(() => parseBulkBody({}))).toEqual(['command', 'selector']);
    expect(problemNames(() => parseBulkBody({ selector: 'a', command: { kind: 'reboot' } }))).toEqual(['command.kind']);
    expect(
      problemNames(() => parseBulkBody({ selector: 'a', command: { kind: 'restart', type: 'x' }, dryRun: 'yes' })),
    ).toEqual(['command.type', 'dryRun']);
    expect(problemNames(() => parseBulkBody({ selector: 'a', command: { kind: 'custom', type: 't' } }))).toEqual([
      'command.capability',
    ]);
    expect(problemNames(() => parseBulkBody({ selector: 'env in (', command: { kind: 'restart' } }))).toEqual([
      'selector',
    ]);
  });
});

describe('parseListCommandsQuery', () => {
  it('filters by agent, states, kind and bulk', () => {
    const uid = '0192E3A4-5B6C-7D8E-9F01-23456789ABCD';
    expect(parseListCommandsQuery({ agent: uid, state: ['sent,queued', 'sent'], kind: 'custom' })).toMatchObject({
      agentUid: uid.toLowerCase(),
      states: ['queued', 'sent'],
      kind: 'custom',
      bulkId: undefined,
      limit: 50,
    });
  });

  it('names bad filters', () => {
    expect(problemNames(() => parseListCommandsQuery({ agent: 'x', bulkId: 'y', state: 'done', kind: 'k' }))).toEqual([
      'agent',
      'bulkId',
      'kind',
      'state',
    ]);
  });
});

describe('command types input', () => {
  it('path: capability and type names', () => {
    expect(parseCommandTypePath('com.example.fb', 'flush')).toEqual({ capability: 'com.example.fb', type: 'flush' });
    expect(problemNames(() => parseCommandTypePath('a b', '-x'))).toEqual(['capability', 'type']);
  });

  it('body: schema required, timeout 1..86400 (default 60)', () => {
    expect(parseCommandTypeBody({ parametersSchema: { type: 'object' } })).toEqual({
      description: null,
      parametersSchema: { type: 'object' },
      timeoutSeconds: 60,
    });
    expect(problemNames(() => parseCommandTypeBody({ timeoutSeconds: 0, description: 3 }))).toEqual([
      'description',
      'parametersSchema',
      'timeoutSeconds',
    ]);
  });
});
