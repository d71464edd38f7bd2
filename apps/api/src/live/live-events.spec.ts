import { parseLabelSelector } from '@opamp/domain';
import { describe, expect, it } from 'vitest';
import {
  compareEntryIds,
  matchesFilter,
  parseLiveEventId,
  parseStreamEntry,
  type LiveEvent,
  type LiveFilter,
} from './live-events.js';

const UID = '0192e3a4-5b6c-7d8e-9f01-23456789abcd';
const ROLLOUT = '0192e3a4-5b6c-7d8e-9f01-000000000001';

const agentEntry = parseStreamEntry('agent', '1700000000000-0', [
  'event',
  JSON.stringify({ agentUid: UID, type: 'connected', atMs: 1_700_000_000_000, data: { transport: 'ws' }, key: 'k1' }),
])!;
const rolloutEntry = parseStreamEntry('rollout', '1700000000001-3', [
  'event',
  JSON.stringify({
    rolloutId: ROLLOUT,
    step: 4,
    at: '2026-11-25T10:00:00.000Z',
    type: 'wave_passed',
    state: 'running',
    stage: 0,
    wave: 1,
  }),
])!;
const commandEntry = parseStreamEntry('command', '1700000000002-0', [
  'event',
  JSON.stringify({ commandId: 'c1', agentUid: UID, kind: 'restart', state: 'sent', at: '2026-11-25T10:00:00.000Z' }),
])!;

const filter = (f: Partial<LiveFilter>): LiveFilter => ({ types: new Set(['agent', 'rollout', 'command']), ...f });

describe('live events', () => {
  it('parses the three streams into events with resumable ids', () => {
    expect(agentEntry).toEqual({
      type: 'agent',
      id: 'agent:1700000000000-0',
      entryId: '1700000000000-0',
      payload: {
        agentUid: UID,
        type: 'connected',
        at: '2023-11-14T22:13:20.000Z',
        data: { transport: 'ws' },
        key: 'k1',
      },
    });
    expect(rolloutEntry.payload).toEqual({
      rolloutId: ROLLOUT,
      step: 4,
      at: '2026-11-25T10:00:00.000Z',
      type: 'wave_passed',
      state: 'running',
      stage: 0,
      wave: 1,
      counts: null,
      reason: null,
    });
    expect(commandEntry.payload).toEqual({
      commandId: 'c1',
      agentUid: UID,
      kind: 'restart',
      state: 'sent',
      reason: null,
      bulkId: null,
      at: '2026-11-25T10:00:00.000Z',
    });
  });

  it('skips entries that are not well-formed events', () => {
    expect(parseStreamEntry('agent', '1-0', ['event', '{not json'])).toBeUndefined();
    expect(parseStreamEntry('agent', '1-0', ['other', '{}'])).toBeUndefined();
    expect(parseStreamEntry('rollout', '1-0', ['event', JSON.stringify({ rolloutId: 'x' })])).toBeUndefined();
    expect(parseStreamEntry('command', '1-0', ['event', JSON.stringify({ commandId: 'c' })])).toBeUndefined();
  });

  it('reads back its ids and orders stream entry ids numerically', () => {
    expect(parseLiveEventId('rollout:1700000000001-3')).toEqual({ type: 'rollout', entryId: '1700000000001-3' });
    for (const bad of ['rollout', 'nope:1-0', 'agent:1', 'agent:1-0-0', 'agent:-1-0', ''])
      expect(parseLiveEventId(bad)).toBeUndefined();
    expect(compareEntryIds('9-0', '10-0')).toBeLessThan(0);
    expect(compareEntryIds('10-2', '10-10')).toBeLessThan(0);
    expect(compareEntryIds('10-2', '10-2')).toBe(0);
    expect(compareEntryIds('11-0', '10-99')).toBeGreaterThan(0);
  });

  it('filters by type, rollout, agent and label selector', () => {
    const none = (): undefined => undefined;
    const all: LiveEvent[] = [agentEntry, rolloutEntry, commandEntry];
    const pass = (f: LiveFilter, labels: (uid: string) => Record<string, string> | undefined = none) =>
      all.filter((e) => matchesFilter(e, f, labels)).map((e) => e.type);

    expect(pass(filter({}))).toEqual(['agent', 'rollout', 'command']);
    expect(pass(filter({ types: new Set(['rollout']) }))).toEqual(['rollout']);
    expect(pass(filter({ rolloutId: '0192e3a4-5b6c-7d8e-9f01-999999999999' }))).toEqual(['agent', 'command']);
    expect(pass(filter({ agentUid: UID.toUpperCase().toLowerCase() }))).toEqual(['agent', 'rollout', 'command']);
    expect(pass(filter({ agentUid: '0192e3a4-5b6c-7d8e-9f01-aaaaaaaaaaaa' }))).toEqual(['rollout']);

    const selector = parseLabelSelector('env=prod');
    expect(pass(filter({ selector }), () => ({ env: 'prod' }))).toEqual(['agent', 'rollout', 'command']);
    expect(pass(filter({ selector }), () => ({ env: 'dev' }))).toEqual(['rollout']);
    // An agent not stored yet has no known labels: a selector does not match it.
    expect(pass(filter({ selector }))).toEqual(['rollout']);
  });
});
