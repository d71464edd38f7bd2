import { create } from '@bufbuild/protobuf';
import { ConnectionStatus, ControlCommandSchema, Transport } from '@opamp/proto';
import { AgentToServerFlag, uuidv7 } from '@opamp/protocol';
import { describe, expect, it } from 'vitest';
import { onDeadline } from './liveness.js';
import { policyWith } from './policy.js';
import { processConnectionClosed, processControl, type ControlInput } from './process.js';
import {
  CAPS,
  HTTP,
  POLICY,
  UID,
  UID2,
  WS_A,
  WS_B,
  a2s,
  customMessageCommand,
  description,
  desiredConfigCommand,
  fullReport,
  restartCommand,
  step,
} from './spec-helpers.js';
import { uidString, type AgentState } from './state.js';

const types = (events: { type: string }[]): string[] => events.map((e) => e.type);

function control(prev: AgentState | undefined, command: ControlInput['command'], linkAlive = true, policy = POLICY) {
  return processControl({ uid: prev?.uid ?? UID, prev, command, nowMs: 2_000_000, linkAlive, policy });
}

describe('processAgentToServer: first contact, heartbeats, persistence', () => {
  it('first message: first_seen + connected events, row persisted, route and deadline set', () => {
    const r = step(undefined, fullReport(0n, CAPS.ReportsStatus), { receivedAtMs: 999_000 });
    expect(r.outcome).toBe('normal');
    expect(types(r.primary.events)).toEqual(['first_seen', 'connected']);
    expect(r.primary.events[0]!.agentUid).toBe(uidString(UID));
    expect(r.primary.persist).toBe(true);
    expect(r.primary.reportChanged).toBe(true);
    expect(r.primary.route).toEqual({
      kind: 'set',
      link: expect.objectContaining({ gatewayId: 'gw-a', connectionId: 'c1' }),
    });
    expect(r.primary.deadlineMs).toBe(999_000 + 3 * 30_000);
    expect(r.next.core.status).toBe(ConnectionStatus.CONNECTED);
    expect(r.next.core.firstSeenMs).toBe(999_000);
    expect(r.next.core.lastSeq).toBe(0n);
    expect(r.reply.instanceUid).toEqual(UID);
    expect(r.reply.capabilities).toBe(0x27n);
  });

  it('first contact with a full report records only first_seen (with a summary) and connected', () => {
    const caps = CAPS.ReportsStatus | CAPS.ReportsHealth | CAPS.ReportsEffectiveConfig | CAPS.ReportsRemoteConfig;
    const r = step(undefined, fullReport(0n, caps, { health: { healthy: false } }));
    expect(types(r.primary.events)).toEqual(['first_seen', 'connected']);
    expect(r.primary.events[0]!.data).toMatchObject({
      healthy: false,
      agentType: 'otelcol',
      capabilities: ['ReportsStatus', 'ReportsEffectiveConfig', 'ReportsHealth', 'ReportsRemoteConfig'],
    });
  });

  it('a heartbeat writes no row: no events, not dirty, report untouched', () => {
    const s0 = step(undefined, fullReport(0n, CAPS.ReportsStatus | CAPS.ReportsHeartbeat)).next;
    const r = step(s0, a2s({ sequenceNum: 1n, capabilities: CAPS.ReportsStatus | CAPS.ReportsHeartbeat }), {
      nowMs: 1_010_000,
    });
    expect(r.primary.events).toEqual([]);
    expect(r.primary.persist).toBe(false);
    expect(r.primary.reportChanged).toBe(false);
    expect(r.next.core.lastSeenMs).toBe(1_010_000);
    expect(r.primary.deadlineMs).toBe(1_010_000 + 3 * 30_000);
    expect(r.reply.connectionSettings).toBeUndefined(); // offered in the first reply of the session
  });

  it('lastSeen reaches Postgres at most every lastSeenPersistMs', () => {
    const policy = policyWith({ ...POLICY, lastSeenPersistMs: 60_000 });
    let s = step(undefined, fullReport(0n, CAPS.ReportsStatus), { policy, nowMs: 1_000_000 }).next;
    const dirty: boolean[] = [];
    for (let i = 1; i <= 8; i++) {
      const r = step(s, a2s({ sequenceNum: BigInt(i) }), { policy, nowMs: 1_000_000 + i * 15_000 });
      dirty.push(r.primary.persist);
      s = r.next;
    }
    expect(dirty).toEqual([false, false, false, true, false, false, false, true]);
  });

  it('a status change persists and records change events', () => {
    const caps = CAPS.ReportsStatus | CAPS.ReportsHealth | CAPS.ReportsEffectiveConfig | CAPS.ReportsRemoteConfig;
    const s0 = step(undefined, fullReport(0n, caps)).next;
    const r = step(
      s0,
      a2s({
        sequenceNum: 1n,
        capabilities: caps | CAPS.AcceptsRemoteConfig,
        agentDescription: description('fluent-bit'),
        health: { healthy: false, lastError: 'boom' },
        effectiveConfig: {},
        remoteConfigStatus: { status: 3, errorMessage: 'bad' },
      }),
    );
    expect(r.primary.persist).toBe(true);
    expect(types(r.primary.events).sort()).toEqual(
      [
        'capabilities_changed',
        'description_changed',
        'effective_config_changed',
        'health_changed',
        'remote_config_status_changed',
      ].sort(),
    );
    const caps_ = r.primary.events.find((e) => e.type === 'capabilities_changed')!;
    expect(caps_.data).toMatchObject({ added: ['AcceptsRemoteConfig'], removed: [] });
    expect(r.primary.events.find((e) => e.type === 'description_changed')!.data.agentType).toBe('fluentbit');
    expect(r.primary.events.find((e) => e.type === 'remote_config_status_changed')!.data).toMatchObject({
      status: 'FAILED',
      errorMessage: 'bad',
    });
  });

  it('health_changed only when healthy flips', () => {
    const caps = CAPS.ReportsStatus | CAPS.ReportsHealth;
    const s0 = step(undefined, fullReport(0n, caps)).next;
    const same = step(s0, a2s({ sequenceNum: 1n, health: { healthy: true, status: 'still fine' } }));
    expect(types(same.primary.events)).toEqual([]);
    expect(same.primary.persist).toBe(true); // health column changed
    const flip = step(same.next, a2s({ sequenceNum: 2n, health: { healthy: false } }));
    expect(types(flip.primary.events)).toEqual(['health_changed']);
  });

  it('health_changed with restarted when the health start time changes (a new agent process)', () => {
    const caps = CAPS.ReportsStatus | CAPS.ReportsHealth;
    const started = 1_700_000_000_000n * 1_000_000n;
    const s0 = step(undefined, fullReport(0n, caps, { health: { healthy: true, startTimeUnixNano: started } })).next;
    const same = step(s0, a2s({ sequenceNum: 1n, health: { healthy: true, startTimeUnixNano: started } }));
    expect(types(same.primary.events)).toEqual([]);
    const later = started + 5_000n * 1_000_000n;
    const restarted = step(same.next, a2s({ sequenceNum: 2n, health: { healthy: true, startTimeUnixNano: later } }));
    expect(types(restarted.primary.events)).toEqual(['health_changed']);
    expect(restarted.primary.events[0]!.data).toMatchObject({
      healthy: true,
      restarted: true,
      startTimeMs: 1_700_000_005_000,
    });
    // A flip carries the start time too, without `restarted`.
    const flip = step(restarted.next, a2s({ sequenceNum: 3n, health: { healthy: false, startTimeUnixNano: later } }));
    expect(flip.primary.events[0]!.data).toMatchObject({ healthy: false, startTimeMs: 1_700_000_005_000 });
    expect(flip.primary.events[0]!.data.restarted).toBeUndefined();
  });

  it('case 49: the same message twice gets two replies and is applied idempotently', () => {
    const s0 = step(undefined, fullReport(0n, CAPS.ReportsStatus | CAPS.ReportsHealth)).next;
    const msg = a2s({ sequenceNum: 1n, health: { healthy: false } });
    const r1 = step(s0, msg);
    const r2 = step(r1.next, msg);
    expect(r1.reply.instanceUid).toEqual(UID);
    expect(r2.reply.instanceUid).toEqual(UID);
    expect(types(r2.primary.events)).toEqual([]);
    expect(r2.next.report).toEqual(r1.next.report);
  });

  it('case 11 and 15: HTTP polls with contiguous seq: plain acks, never ReportFullState, no route', () => {
    let s = step(undefined, fullReport(0n, CAPS.ReportsStatus), { arrival: HTTP }).next;
    for (let i = 1n; i <= 3n; i++) {
      const r = step(s, a2s({ sequenceNum: i, capabilities: CAPS.ReportsStatus }), {
        arrival: { ...HTTP, connectionId: `h${i}` },
      });
      expect(r.reply.flags).toBe(0n);
      expect(r.primary.route).toEqual({ kind: 'keep' });
      expect(r.primary.events).toEqual([]);
      s = r.next;
    }
    expect(s.core.link).toBeUndefined();
    expect(s.core.transport).toBe(Transport.HTTP);
  });

  it('case 14: agent_disconnect → ack and disconnected at once (route removed, no deadline)', () => {
    const s0 = step(undefined, fullReport(0n, CAPS.ReportsStatus)).next;
    const r = step(s0, a2s({ sequenceNum: 1n, agentDisconnect: {} }));
    expect(r.reply.errorResponse).toBeUndefined();
    expect(r.reply.capabilities).toBe(0x27n);
    expect(r.next.core.status).toBe(ConnectionStatus.DISCONNECTED);
    expect(r.primary.route).toEqual({ kind: 'delete' });
    expect(r.primary.deadlineMs).toBe(0);
    expect(types(r.primary.events)).toEqual(['disconnected']);
    expect(r.primary.persist).toBe(true);
    // and comes back
    const back = step(r.next, a2s({ sequenceNum: 2n }));
    expect(types(back.primary.events)).toEqual(['connected']);
  });

  it('case 26: reconnect after a drop with contiguous seq keeps the state and asks nothing', () => {
    const caps = CAPS.ReportsStatus | CAPS.ReportsHealth;
    const s0 = step(undefined, fullReport(0n, caps)).next;
    const closed = processConnectionClosed(
      s0,
      { gatewayId: 'gw-a', connectionId: 'c1', code: 1006, reason: '' },
      1_000_500,
    )!;
    const r = step(closed.state, a2s({ sequenceNum: 1n, capabilities: caps }), {
      arrival: { ...WS_A, connectionId: 'c2' },
    });
    expect(r.reply.flags).toBe(0n);
    expect(r.next.report.health?.healthy).toBe(true);
    expect(types(r.primary.events)).toEqual(['connected']);
  });

  it('a new session resets the per-session offers (connection settings, custom capabilities)', () => {
    const policy = policyWith({ ...POLICY, serverCustomCapabilities: ['com.example.pause'] });
    const caps = CAPS.ReportsStatus | CAPS.ReportsHeartbeat;
    const r0 = step(undefined, fullReport(0n, caps), { policy });
    expect(r0.reply.connectionSettings).toBeDefined();
    expect(r0.reply.customCapabilities).toBeDefined();
    const r1 = step(r0.next, a2s({ sequenceNum: 1n }), { policy });
    expect(r1.reply.connectionSettings).toBeUndefined();
    expect(r1.reply.customCapabilities).toBeUndefined();
    const r2 = step(r1.next, a2s({ sequenceNum: 2n }), { policy, arrival: { ...WS_A, connectionId: 'c2' } });
    expect(r2.reply.connectionSettings).toBeDefined();
    expect(r2.reply.customCapabilities).toBeDefined();
    // agent restart over the same transport (seq goes back) is a new session too
    const r3 = step(r2.next, fullReport(0n, caps), { policy, arrival: { ...WS_A, connectionId: 'c2' } });
    expect(r3.reply.connectionSettings).toBeDefined();
  });

  it('case 45: custom messages for capabilities the server does not support: ack, no side effect', () => {
    const s0 = step(undefined, fullReport(0n, CAPS.ReportsStatus)).next;
    const r = step(
      s0,
      a2s({
        sequenceNum: 1n,
        customMessage: { capability: 'com.example.unknown', type: 'x', data: new Uint8Array(3) },
      }),
    );
    expect(r.reply.errorResponse).toBeUndefined();
    expect(r.primary.events).toEqual([]);
    const policy = policyWith({ ...POLICY, serverCustomCapabilities: ['com.example.pause'] });
    const known = step(
      s0,
      a2s({
        sequenceNum: 1n,
        customMessage: { capability: 'com.example.pause', type: 'ok', data: new Uint8Array([1, 2]) },
      }),
      { policy },
    );
    expect(known.primary.events).toMatchObject([
      { type: 'custom_message_received', data: { capability: 'com.example.pause', type: 'ok', size: 2, data: 'AQI=' } },
    ]);
    const big = step(
      s0,
      a2s({
        sequenceNum: 1n,
        customMessage: { capability: 'com.example.pause', type: 'ok', data: new Uint8Array(5000) },
      }),
      { policy },
    );
    expect(big.primary.events[0]!.data.data).toBeUndefined();
    expect(big.primary.events[0]!.data.size).toBe(5000);
  });
});

describe('RequestInstanceUid (§3.2, case 32)', () => {
  const requestUid = (seq: bigint, extra = {}) =>
    fullReport(seq, CAPS.ReportsStatus, { flags: AgentToServerFlag.RequestInstanceUid, ...extra });

  it('assigns a UUIDv7 new_instance_uid; the temporary uid leaves no row and the new one continues the agent', () => {
    const r = step(undefined, requestUid(0n), { newUid: () => uuidv7(1_700_000_000_000), receivedAtMs: 999_000 });
    expect(r.outcome).toBe('uid_assigned');
    const newUid = r.reply.agentIdentification!.newInstanceUid;
    expect(newUid.length).toBe(16);
    expect(newUid[6]! >> 4).toBe(7);
    expect(newUid[8]! >> 6).toBe(0b10);
    expect(r.reply.instanceUid).toEqual(UID);
    expect(r.reply.remoteConfig).toBeUndefined();
    // the temporary uid: no Postgres row, no events, its hot state expires
    expect(r.primary.persist).toBe(false);
    expect(r.primary.events).toEqual([]);
    expect(r.primary.ephemeral).toBe(true);
    expect(r.next.core.assignedUid).toEqual(newUid);
    // the new uid: full state copy, every event recorded under it
    const second = r.secondary!;
    expect(second.state.uid).toEqual(newUid);
    expect(second.persist).toBe(true);
    expect(second.state.report.description).toBeDefined();
    expect(second.state.core.assignedFromUid).toEqual(UID);
    expect(second.state.core.lastSeq).toBe(0n);
    expect(types(second.events)).toEqual(['first_seen', 'connected', 'uid_assigned']);
    expect(second.events.every((e) => e.agentUid === uidString(newUid))).toBe(true);
    // no link (and no route) until the agent speaks as the new uid: then the session continues
    expect(second.route).toEqual({ kind: 'keep' });
    expect(second.state.core.link).toBeUndefined();
    expect(second.deadlineMs).toBe(999_000 + 90_000);

    // next message under the new uid, still carrying the flag: no second new uid, no full-state ask
    const next = step(
      second.state,
      a2s({ instanceUid: newUid, sequenceNum: 1n, flags: AgentToServerFlag.RequestInstanceUid }),
    );
    expect(next.reply.agentIdentification).toBeUndefined();
    expect(next.reply.flags).toBe(0n);
    expect(next.reply.instanceUid).toEqual(newUid);
    expect(next.primary.events).toEqual([]); // not a new connection
    expect(next.primary.route).toEqual({ kind: 'set', link: expect.objectContaining({ connectionId: 'c1' }) });
    expect(next.reply.connectionSettings).toBeUndefined();
  });

  it('a new uid that never speaks goes offline at its deadline (no link to keep it alive)', () => {
    const r = step(undefined, requestUid(0n), { receivedAtMs: 1_000 });
    const n = r.secondary!.state;
    expect(onDeadline(n, 1_000 + 90_000, true, POLICY).kind).toBe('offline');
  });

  it('a repeated request from the old uid gets the same new uid without touching the new state', () => {
    const r = step(undefined, requestUid(0n));
    const again = step(r.next, requestUid(1n));
    expect(again.reply.agentIdentification?.newInstanceUid).toEqual(r.reply.agentIdentification?.newInstanceUid);
    expect(again.secondary).toBeUndefined();
  });

  it('a known agent that asks for a new uid keeps its row with replaced_by_uid', () => {
    const s0 = step(undefined, fullReport(0n, CAPS.ReportsStatus)).next;
    const r = step(s0, requestUid(1n));
    const newUid = r.reply.agentIdentification!.newInstanceUid;
    expect(r.primary.persist).toBe(true);
    expect(r.next.core.replacedByUid).toEqual(newUid);
    expect(r.next.core.status).toBe(ConnectionStatus.DISCONNECTED);
    expect(r.primary.route).toEqual({ kind: 'delete' });
    expect(types(r.primary.events)).toEqual(['uid_assigned']);
    expect(types(r.secondary!.events)).toEqual(['uid_assigned', 'connected']);
  });
});

describe('duplicate uid policy (§3.14, case 29)', () => {
  const s0 = () => step(undefined, fullReport(0n, CAPS.ReportsStatus)).next;

  it('same identity on a second live connection = reconnect: close the old one with 1008, switch to the new one', () => {
    const r = step(s0(), a2s({ sequenceNum: 1n }), { arrival: WS_B, recordedLinkAlive: true });
    expect(r.outcome).toBe('reconnect');
    expect(r.closeLink).toEqual({
      link: expect.objectContaining({ gatewayId: 'gw-a', connectionId: 'c1' }),
      code: 1008,
      reason: 'replaced by a newer connection',
    });
    expect(r.next.core.link).toMatchObject({ gatewayId: 'gw-b', connectionId: 'c9' });
    expect(r.primary.route).toEqual({ kind: 'set', link: expect.objectContaining({ gatewayId: 'gw-b' }) });
    expect(types(r.primary.events)).toEqual(['duplicate_detected', 'connected']);
    expect(r.reply.agentIdentification).toBeUndefined();
  });

  it('different identifying attributes on a second live connection = clone: new uid for the clone, original untouched', () => {
    const original = s0();
    const cloneMsg = fullReport(0n, CAPS.ReportsStatus, {
      agentDescription: description('otelcol-contrib', { 'service.instance.id': 'other' }),
    });
    const r = step(original, cloneMsg, { arrival: WS_B, recordedLinkAlive: true });
    expect(r.outcome).toBe('clone');
    expect(r.closeLink).toBeUndefined();
    const newUid = r.reply.agentIdentification!.newInstanceUid;
    expect(newUid.length).toBe(16);
    expect(r.reply.instanceUid).toEqual(UID);
    expect(r.next.core.link).toEqual(original.core.link);
    expect(r.next.report).toBe(original.report);
    expect(types(r.primary.events)).toEqual(['duplicate_detected']);
    expect(r.secondary!.state.uid).toEqual(newUid);
    expect(r.secondary!.state.core.link).toBeUndefined();
    expect(r.secondary!.route).toEqual({ kind: 'keep' });
    expect(types(r.secondary!.events)).toEqual(['first_seen', 'connected', 'uid_assigned']);
    // the clone asks again on the same connection before switching: same uid
    const again = step(r.next, cloneMsg, { arrival: WS_B, recordedLinkAlive: true });
    expect(again.reply.agentIdentification!.newInstanceUid).toEqual(newUid);
    expect(again.secondary).toBeUndefined();
    // a compressed message from the clone's connection (no description) is still the clone's
    const compressed = step(again.next, a2s({ sequenceNum: 1n }), { arrival: WS_B, recordedLinkAlive: true });
    expect(compressed.outcome).toBe('clone');
    expect(compressed.closeLink).toBeUndefined();
    expect(compressed.reply.agentIdentification!.newInstanceUid).toEqual(newUid);
    expect(compressed.next.core.link).toEqual(original.core.link);
    expect(compressed.next.core.lastSeq).toBe(original.core.lastSeq);
  });

  it('no duplicate when the recorded gateway is dead, over HTTP, or after a disconnect', () => {
    const dead = step(s0(), a2s({ sequenceNum: 1n }), { arrival: WS_B, recordedLinkAlive: false });
    expect(dead.outcome).toBe('normal');
    expect(dead.closeLink).toBeUndefined();
    const http = step(s0(), a2s({ sequenceNum: 1n }), { arrival: HTTP, recordedLinkAlive: true });
    expect(http.outcome).toBe('normal');
    expect(http.primary.route).toEqual({ kind: 'delete' });
    const closed = processConnectionClosed(s0(), { gatewayId: 'gw-a', connectionId: 'c1', code: 1000, reason: '' }, 1)!;
    expect(step(closed.state, a2s({ sequenceNum: 1n }), { arrival: WS_B }).outcome).toBe('normal');
  });
});

describe('redelivery of an applied envelope', () => {
  it('same stream entry again: reply again, no double effects', () => {
    const arrival = { ...WS_A, entryId: '1700000000000-5' };
    const s0 = step(undefined, fullReport(0n, CAPS.ReportsStatus | CAPS.ReportsHealth), {
      arrival: { ...WS_A, entryId: '1700000000000-1' },
    }).next;
    const compressed = a2s({ sequenceNum: 3n, health: { healthy: false } });
    const r1 = step(s0, compressed, { arrival });
    expect(r1.reply.flags).toBe(1n); // gap
    const r2 = step(r1.next, compressed, { arrival });
    expect(r2.outcome).toBe('redelivery');
    expect(r2.reply.flags).toBe(1n);
    expect(r2.primary.events).toEqual([]);
    expect(r2.primary.persist).toBe(false);
    expect(r2.next).toBe(r1.next);
    // an older entry is a redelivery too; a newer one is processed
    expect(step(r1.next, compressed, { arrival: { ...arrival, entryId: '1700000000000-4' } }).outcome).toBe(
      'redelivery',
    );
    expect(
      step(r1.next, a2s({ sequenceNum: 4n }), { arrival: { ...arrival, entryId: '1700000000001-0' } }).outcome,
    ).toBe('normal');
  });

  it('a redelivered RequestInstanceUid gets the same new uid', () => {
    const arrival = { ...WS_A, entryId: '5-0' };
    const r1 = step(undefined, fullReport(0n, CAPS.ReportsStatus, { flags: 1n }), { arrival });
    const r2 = step(r1.next, fullReport(0n, CAPS.ReportsStatus, { flags: 1n }), { arrival });
    expect(r2.outcome).toBe('redelivery');
    expect(r2.reply.agentIdentification?.newInstanceUid).toEqual(r1.reply.agentIdentification?.newInstanceUid);
  });
});

describe('processConnectionClosed', () => {
  it('only the current connection marks the agent disconnected (a late close after a reconnect is ignored)', () => {
    const s0 = step(undefined, fullReport(0n, CAPS.ReportsStatus)).next;
    const moved = step(s0, a2s({ sequenceNum: 1n }), {
      arrival: { ...WS_A, connectionId: 'c2' },
      recordedLinkAlive: false,
    }).next;
    expect(
      processConnectionClosed(moved, { gatewayId: 'gw-a', connectionId: 'c1', code: 1006, reason: '' }, 5),
    ).toBeUndefined();
    const w = processConnectionClosed(moved, { gatewayId: 'gw-a', connectionId: 'c2', code: 1000, reason: 'bye' }, 5)!;
    expect(w.state.core.status).toBe(ConnectionStatus.DISCONNECTED);
    expect(w.route).toEqual({ kind: 'delete' });
    expect(w.deadlineMs).toBe(0);
    expect(w.events).toMatchObject([{ type: 'disconnected', data: { code: 1000, closeReason: 'bye' } }]);
    expect(
      processConnectionClosed(undefined, { gatewayId: 'gw-a', connectionId: 'c2', code: 1000, reason: '' }, 5),
    ).toBeUndefined();
  });
});

describe('processControl', () => {
  const RESTARTABLE = CAPS.ReportsStatus | CAPS.AcceptsRestartCommand;

  it('case 41: restart refused without 0x400 (command_rejected, nothing sent)', () => {
    const s = step(undefined, fullReport(0n, CAPS.ReportsStatus)).next;
    const r = control(s, restartCommand('r1'));
    expect(r.rejected).toMatch(/0x400/);
    expect(r.push).toBeUndefined();
    expect(r.write?.events).toMatchObject([
      { type: 'command_rejected', data: { command: 'restart', commandId: 'r1' } },
    ]);
    expect(r.write?.state.core.restartPending).toBe(false);
    expect(control(undefined, restartCommand()).rejected).toBe('unknown agent');
  });

  it('case 41: restart for a live WS agent is pushed at once: only uid, capabilities, command', () => {
    const s = step(undefined, fullReport(0n, RESTARTABLE)).next;
    const r = control(s, restartCommand('r2'));
    expect(r.push?.link).toMatchObject({ gatewayId: 'gw-a', connectionId: 'c1' });
    const m = r.push!.message;
    expect(m.command).toBeDefined();
    expect(m.capabilities).toBe(0x27n);
    expect(m.remoteConfig ?? m.connectionSettings ?? m.agentIdentification ?? m.customMessage).toBeUndefined();
    expect(m.flags).toBe(0n);
    expect(r.write?.state.core.restartPending).toBe(false);
    expect(types(r.write!.events)).toEqual(['command_sent']);
  });

  it('case 41: over HTTP the restart goes out exactly once, on the next poll', () => {
    let s = step(undefined, fullReport(0n, RESTARTABLE), { arrival: HTTP }).next;
    const c = control(s, restartCommand('r3'));
    expect(c.push).toBeUndefined();
    s = c.write!.state;
    expect(s.core.restartPending).toBe(true);
    const poll1 = step(s, a2s({ sequenceNum: 1n }), { arrival: HTTP });
    expect(poll1.reply.command).toBeDefined();
    expect(types(poll1.primary.events)).toEqual(['command_sent']);
    const poll2 = step(poll1.next, a2s({ sequenceNum: 2n }), { arrival: HTTP });
    expect(poll2.reply.command).toBeUndefined();
  });

  it('a restart for a WS agent whose gateway is gone waits for its next message', () => {
    const s = step(undefined, fullReport(0n, RESTARTABLE)).next;
    const r = control(s, restartCommand(), false);
    expect(r.push).toBeUndefined();
    expect(r.write?.state.core.restartPending).toBe(true);
  });

  it('case 12 and 27: desired config: pushed to a live WS agent, delivered on the next HTTP poll, then not again once APPLIED', () => {
    const caps = CAPS.ReportsStatus | CAPS.AcceptsRemoteConfig | CAPS.ReportsRemoteConfig;
    const ws = step(undefined, fullReport(0n, caps)).next;
    const pushed = control(ws, desiredConfigCommand({ 'fluent-bit.conf': '[INPUT]' }));
    expect(pushed.push?.message.remoteConfig?.configHash.length).toBe(32);
    expect(pushed.write?.desiredChanged).toBe(true);
    expect(types(pushed.write!.events)).toEqual(['remote_config_offered']);

    let http = step(undefined, fullReport(0n, caps), { arrival: HTTP }).next;
    const stored = control(http, desiredConfigCommand({ 'fluent-bit.conf': '[INPUT]' }));
    expect(stored.push).toBeUndefined();
    http = stored.write!.state;
    const hash = http.desired.config!.configHash;
    const poll = step(http, a2s({ sequenceNum: 1n }), { arrival: HTTP });
    expect(poll.reply.remoteConfig?.configHash).toEqual(hash);
    const applying = step(
      poll.next,
      a2s({ sequenceNum: 2n, remoteConfigStatus: { lastRemoteConfigHash: hash, status: 2 } }),
      { arrival: HTTP },
    );
    expect(applying.reply.remoteConfig).toBeUndefined();
    const applied = step(
      applying.next,
      a2s({ sequenceNum: 3n, remoteConfigStatus: { lastRemoteConfigHash: hash, status: 1 } }),
      { arrival: HTTP },
    );
    expect(applied.reply.remoteConfig).toBeUndefined();
    expect(step(applied.next, a2s({ sequenceNum: 4n }), { arrival: HTTP }).reply.remoteConfig).toBeUndefined();
  });

  it('desired config for an agent not seen yet waits in a skeleton state (no row, no events)', () => {
    const r = control(undefined, desiredConfigCommand({ a: '1' }));
    expect(r.rejected).toBeUndefined();
    expect(r.write?.persist).toBe(false);
    expect(r.write?.state.core.firstSeenMs).toBe(0);
    const first = step(r.write!.state, fullReport(0n, CAPS.ReportsStatus | CAPS.AcceptsRemoteConfig));
    expect(types(first.primary.events)).toContain('first_seen');
    expect(first.reply.remoteConfig).toBeDefined();
  });

  it('clearing the desired config (empty hash) stops offers; a bad config map is rejected', () => {
    const caps = CAPS.ReportsStatus | CAPS.AcceptsRemoteConfig;
    const s = control(step(undefined, fullReport(0n, caps), { arrival: HTTP }).next, desiredConfigCommand({ a: '1' }))
      .write!.state;
    const cleared = control(s, desiredConfigCommand(undefined)).write!.state;
    expect(cleared.desired.config).toBeUndefined();
    expect(step(cleared, a2s({ sequenceNum: 1n }), { arrival: HTTP }).reply.remoteConfig).toBeUndefined();
    const bad = create(ControlCommandSchema, {
      command: {
        case: 'desiredConfig',
        value: { configHash: new Uint8Array([1]), configMap: new Uint8Array([0x0a, 0x05]) },
      },
    });
    expect(control(s, bad).rejected).toMatch(/does not decode/);
  });

  it('quarantine: a hash reported FAILED is never offered again until a command clears it (offered once then)', () => {
    const caps = CAPS.ReportsStatus | CAPS.AcceptsRemoteConfig | CAPS.ReportsRemoteConfig;
    const v1 = desiredConfigCommand({ 'fluent-bit.conf': '[INPUT]\n    Name dummy' });
    const v2 = desiredConfigCommand({ 'fluent-bit.conf': '[INPUT]\n    Name cpu' });
    const dc = (c: typeof v1) => (c.command.case === 'desiredConfig' ? c.command.value : undefined)!;
    const h1 = dc(v1).configHash;
    const h2 = dc(v2).configHash;

    // v1 applied, then v2 offered and FAILED: the agent falls back and reports v1 APPLIED again.
    let s = step(undefined, fullReport(0n, caps, { remoteConfigStatus: { lastRemoteConfigHash: h1, status: 1 } }), {
      arrival: HTTP,
    }).next;
    s = control(s, v2).write!.state;
    const offered = step(s, a2s({ sequenceNum: 1n }), { arrival: HTTP });
    expect(offered.reply.remoteConfig?.configHash).toEqual(h2);
    const failed = step(
      offered.next,
      a2s({
        sequenceNum: 2n,
        remoteConfigStatus: { lastRemoteConfigHash: h2, status: 3, errorMessage: 'parse error' },
      }),
      { arrival: HTTP },
    );
    expect(failed.primary.desiredChanged).toBe(true);
    expect(failed.next.desired.quarantinedHashes).toEqual([h2]);
    const fellBack = step(
      failed.next,
      a2s({ sequenceNum: 3n, remoteConfigStatus: { lastRemoteConfigHash: h1, status: 1 } }),
      { arrival: HTTP },
    );
    // Reported hash differs from the desired one, but the desired one is quarantined: no loop.
    expect(fellBack.reply.remoteConfig).toBeUndefined();
    expect(step(fellBack.next, a2s({ sequenceNum: 4n }), { arrival: HTTP }).reply.remoteConfig).toBeUndefined();

    // Setting v2 again (e.g. a rollout of the same version) does not lift the quarantine.
    const again = control(fellBack.next, v2).write!.state;
    expect(step(again, a2s({ sequenceNum: 5n }), { arrival: HTTP }).reply.remoteConfig).toBeUndefined();

    // A person clears it: offered exactly once more.
    const clear = create(ControlCommandSchema, {
      commandId: 'c',
      command: { case: 'desiredConfig', value: { ...dc(v2), clearQuarantine: true } },
    });
    const cleared = control(again, clear).write!.state;
    expect(cleared.desired.quarantinedHashes).toEqual([]);
    const retry = step(cleared, a2s({ sequenceNum: 6n }), { arrival: HTTP });
    expect(retry.reply.remoteConfig?.configHash).toEqual(h2);
    expect(step(retry.next, a2s({ sequenceNum: 7n }), { arrival: HTTP }).reply.remoteConfig).toBeDefined(); // reported h1 ≠ h2, not quarantined any more
    const failedAgain = step(
      retry.next,
      a2s({ sequenceNum: 7n, remoteConfigStatus: { lastRemoteConfigHash: h2, status: 3 } }),
      { arrival: HTTP },
    );
    expect(failedAgain.next.desired.quarantinedHashes).toEqual([h2]);
    expect(step(failedAgain.next, a2s({ sequenceNum: 8n }), { arrival: HTTP }).reply.remoteConfig).toBeUndefined();
  });

  it('custom message: refused for undeclared capabilities, pushed on WS, queued (bounded) for HTTP', () => {
    const caps = CAPS.ReportsStatus;
    const declared = { customCapabilities: { capabilities: ['com.example.pause'] } };
    const ws = step(undefined, fullReport(0n, caps, declared)).next;
    expect(control(ws, customMessageCommand('com.example.other')).rejected).toMatch(/does not declare/);
    const pushed = control(ws, customMessageCommand('com.example.pause', 'pause', 'now'));
    expect(pushed.push?.message.customMessage).toMatchObject({ capability: 'com.example.pause', type: 'pause' });

    const policy = policyWith({ ...POLICY, maxPendingCustomMessages: 2 });
    let http = step(undefined, fullReport(0n, caps, declared), { arrival: HTTP }).next;
    for (const t of ['a', 'b', 'c'])
      http = control(http, customMessageCommand('com.example.pause', t), true, policy).write!.state;
    expect(http.core.pendingCustomMessages.map((m) => m.type)).toEqual(['b', 'c']);
    const p1 = step(http, a2s({ sequenceNum: 1n }), { arrival: HTTP });
    expect(p1.reply.customMessage?.type).toBe('b');
    const p2 = step(p1.next, a2s({ sequenceNum: 2n }), { arrival: HTTP });
    expect(p2.reply.customMessage?.type).toBe('c');
    expect(step(p2.next, a2s({ sequenceNum: 3n }), { arrival: HTTP }).reply.customMessage).toBeUndefined();
  });
});

// UID2 is a second agent used to make sure the uid in events follows the state.
describe('events carry the agent uid', () => {
  it('uses the uid of the message', () => {
    const r = step(undefined, fullReport(0n, CAPS.ReportsStatus, { instanceUid: UID2 }));
    expect(r.primary.events.every((e) => e.agentUid === uidString(UID2))).toBe(true);
  });
});
