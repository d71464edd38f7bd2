import { describe, expect, it } from 'vitest';
import { event, type AgentEvent } from '@opamp/domain';
import {
  COMMAND_STATES,
  TERMINAL_STATES,
  canTransition,
  commandSignals,
  parseAgentEvent,
  parseCommandReply,
} from './command-outcomes.js';

const AGENT = '0192e3a4-5b6c-7d8e-9f01-23456789abcd';
const CMD = '0192e3a4-0000-7000-8000-00000000c0de';
const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
const at = 1_700_000_000_000;

function custom(data: unknown, extra: Partial<AgentEvent['data']> = {}): AgentEvent {
  const text = data === undefined ? undefined : b64(data);
  return event(AGENT, 'custom_message_received', at, {
    capability: 'com.example.fb',
    type: 'flush',
    size: text ? Buffer.from(text, 'base64').length : 0,
    ...(text ? { data: text } : {}),
    ...extra,
  });
}

describe('command state transitions', () => {
  it('move forward only; terminal states never change', () => {
    expect(canTransition('queued', 'sent')).toBe(true);
    expect(canTransition('queued', 'succeeded')).toBe(true);
    expect(canTransition('sent', 'failed')).toBe(true);
    expect(canTransition('sent', 'queued')).toBe(false);
    expect(canTransition('sent', 'sent')).toBe(false);
    for (const t of TERMINAL_STATES) for (const to of COMMAND_STATES) expect(canTransition(t, to)).toBe(false);
  });
});

describe('parseCommandReply (the reply convention)', () => {
  it('JSON with commandId and no error: succeeded, the whole JSON as the result', () => {
    const reply = { commandId: CMD.toUpperCase(), status: 'succeeded', result: { flushed: 3 } };
    expect(parseCommandReply(b64(reply), 10)).toEqual({
      commandId: CMD,
      outcome: 'succeeded',
      result: reply,
      reason: null,
    });
  });

  it('status "failed" or an error: failed, with the error message as the reason', () => {
    expect(parseCommandReply(b64({ commandId: CMD, status: 'failed' }), 10)).toMatchObject({
      outcome: 'failed',
      reason: 'the agent reported status "failed"',
    });
    expect(parseCommandReply(b64({ commandId: CMD, error: 'no such input' }), 10)).toMatchObject({
      outcome: 'failed',
      reason: 'no such input',
    });
    expect(parseCommandReply(b64({ commandId: CMD, error: { code: 'x', message: 'disk full' } }), 10)).toMatchObject({
      outcome: 'failed',
      reason: 'disk full',
      result: { commandId: CMD, error: { code: 'x', message: 'disk full' } },
    });
    expect(parseCommandReply(b64({ commandId: CMD, error: { code: 42 } }), 10).reason).toBe('{"code":42}');
    expect(parseCommandReply(b64({ commandId: CMD, error: null }), 10).outcome).toBe('succeeded');
  });

  it('without a commandId, or not JSON at all: no id (matched by capability and type), succeeded', () => {
    expect(parseCommandReply(b64({ ok: true }), 10)).toEqual({
      commandId: undefined,
      outcome: 'succeeded',
      result: { ok: true },
      reason: null,
    });
    expect(parseCommandReply(b64('pong'), 4)).toEqual({
      commandId: undefined,
      outcome: 'succeeded',
      result: { data: b64('pong') },
      reason: null,
    });
    expect(parseCommandReply(b64([1, 2]), 5)).toMatchObject({ commandId: undefined, result: [1, 2] });
    expect(parseCommandReply(Buffer.from([0xff, 0xfe]).toString('base64'), 2).result).toEqual({ data: '//4=' });
  });

  it('a reply too large for the fleet to record: succeeded, content unknown (said in the reason)', () => {
    expect(parseCommandReply(undefined, 10_000)).toEqual({
      commandId: undefined,
      outcome: 'succeeded',
      result: null,
      reason: expect.stringContaining('10000 bytes'),
    });
    expect(parseCommandReply(undefined, 0)).toMatchObject({ result: null, reason: null });
  });
});

describe('commandSignals', () => {
  it('command_sent → sent, command_rejected → rejected with the reason', () => {
    expect(commandSignals(event(AGENT, 'command_sent', at, { command: 'restart', commandId: CMD }))).toEqual([
      { kind: 'sent', agentUid: AGENT, commandId: CMD, at: new Date(at) },
    ]);
    expect(
      commandSignals(
        event(AGENT, 'command_rejected', at, { command: 'custom_message', commandId: CMD, reason: 'full' }),
      ),
    ).toEqual([{ kind: 'rejected', agentUid: AGENT, commandId: CMD, reason: 'full', at: new Date(at) }]);
    // Events of commands the api did not issue (no id) carry nothing.
    expect(commandSignals(event(AGENT, 'command_sent', at, { command: 'restart', commandId: '' }))).toEqual([]);
  });

  it('custom_message_received → a reply of that capability and type', () => {
    const [s] = commandSignals(custom({ commandId: CMD, status: 'failed', error: 'nope' }));
    expect(s).toMatchObject({
      kind: 'reply',
      agentUid: AGENT,
      capability: 'com.example.fb',
      type: 'flush',
      commandId: CMD,
      outcome: 'failed',
      reason: 'nope',
    });
  });

  it('connected → a new process after the event; health_changed → after its start time', () => {
    expect(commandSignals(event(AGENT, 'connected', at, { transport: 'ws' }))).toEqual([
      { kind: 'newProcess', agentUid: AGENT, startedAfter: new Date(at), at: new Date(at) },
    ]);
    expect(
      commandSignals(event(AGENT, 'health_changed', at, { healthy: true, startTimeMs: at - 500, restarted: true })),
    ).toEqual([{ kind: 'newProcess', agentUid: AGENT, startedAfter: new Date(at - 500), at: new Date(at) }]);
    // An older fleet's health_changed without a start time says nothing about restarts.
    expect(commandSignals(event(AGENT, 'health_changed', at, { healthy: false }))).toEqual([]);
  });

  it('other events carry nothing', () => {
    for (const type of ['first_seen', 'disconnected', 'offline', 'remote_config_offered'] as const) {
      expect(commandSignals(event(AGENT, type, at, {}))).toEqual([]);
    }
  });
});

describe('parseAgentEvent', () => {
  it('reads the JSON the fleet queues, and refuses anything else', () => {
    const e = { ...event(AGENT, 'connected', at, { transport: 'ws' }), key: CMD };
    expect(parseAgentEvent(JSON.stringify(e))).toEqual(e);
    expect(parseAgentEvent('{')).toBeUndefined();
    expect(parseAgentEvent('[]')).toBeUndefined();
    expect(parseAgentEvent(JSON.stringify({ ...e, type: 'nonsense' }))).toBeUndefined();
    expect(parseAgentEvent(JSON.stringify({ ...e, atMs: 'x' }))).toBeUndefined();
    expect(parseAgentEvent(JSON.stringify({ ...e, data: null }))).toBeUndefined();
  });
});
