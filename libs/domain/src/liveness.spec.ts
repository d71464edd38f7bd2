import { ConnectionStatus } from '@opamp/proto';
import { describe, expect, it } from 'vitest';
import { expectedIntervalSeconds, livenessDeadline, offlineAfterMs, onDeadline } from './liveness.js';
import { policyWith } from './policy.js';
import { processConnectionClosed } from './process.js';
import { CAPS, HTTP, POLICY, a2s, fullReport, step } from './spec-helpers.js';

describe('liveness (§3.13, case 52)', () => {
  it('interval: the offered heartbeat interval for 0x2000 agents, else 30 s; k missed intervals', () => {
    const policy = policyWith({ ...POLICY, heartbeatIntervalSeconds: 5, offlineAfterMissed: 3 });
    expect(expectedIntervalSeconds(CAPS.ReportsHeartbeat, policy)).toBe(5);
    expect(expectedIntervalSeconds(CAPS.ReportsStatus, policy)).toBe(30);
    expect(offlineAfterMs(CAPS.ReportsHeartbeat, policy)).toBe(15_000);
    expect(offlineAfterMs(CAPS.ReportsStatus, policy)).toBe(90_000);
  });

  it('case 52: a 5 s heartbeat agent stays online while messages arrive, goes offline after ~3×5 s of silence', () => {
    const policy = policyWith({ ...POLICY, heartbeatIntervalSeconds: 5 });
    const caps = CAPS.ReportsStatus | CAPS.ReportsHeartbeat;
    let s = step(undefined, fullReport(0n, caps), { policy, nowMs: 100_000 }).next;
    expect(
      step(undefined, fullReport(0n, caps), { policy, nowMs: 100_000 }).reply.connectionSettings?.opamp
        ?.heartbeatIntervalSeconds,
    ).toBe(5n);
    for (let i = 1; i <= 5; i++) {
      const now = 100_000 + i * 5_000;
      expect(onDeadline(s, now, true, policy).kind).toBe('reschedule');
      s = step(s, a2s({ sequenceNum: BigInt(i) }), { policy, nowMs: now }).next;
    }
    const last = s.core.lastSeenMs;
    expect(livenessDeadline(s, policy)).toBe(last + 15_000);
    expect(onDeadline(s, last + 14_999, true, policy)).toEqual({ kind: 'reschedule', deadlineMs: last + 15_000 });
    // heartbeat agents go offline even though their socket's gateway is alive
    const out = onDeadline(s, last + 15_000, true, policy);
    expect(out.kind).toBe('offline');
    if (out.kind !== 'offline') return;
    expect(out.state.core.status).toBe(ConnectionStatus.OFFLINE);
    expect(out.state.core.link).toBeUndefined();
    expect(out.previousLink).toMatchObject({ gatewayId: 'gw-a' });
    expect(out.events).toMatchObject([{ type: 'offline', data: { expectedIntervalSeconds: 5 } }]);
    // and is back with its next message
    const back = step(out.state, a2s({ sequenceNum: 6n }), { policy, nowMs: last + 20_000 });
    expect(back.next.core.status).toBe(ConnectionStatus.CONNECTED);
    expect(back.primary.events.map((e) => e.type)).toEqual(['connected']);
  });

  it('HTTP agents go offline after k × 30 s without a poll', () => {
    const s = step(undefined, fullReport(0n, CAPS.ReportsStatus), { arrival: HTTP, nowMs: 0 }).next;
    const s2 = { ...s, core: { ...s.core, lastSeenMs: 1_000 } };
    expect(onDeadline(s2, 1_000 + 89_999, false, POLICY).kind).toBe('reschedule');
    expect(onDeadline(s2, 1_000 + 90_000, false, POLICY).kind).toBe('offline');
  });

  it('a silent WS agent without heartbeats stays connected while its gateway is alive', () => {
    const s = step(undefined, fullReport(0n, CAPS.ReportsStatus), { nowMs: 1_000, receivedAtMs: 1_000 }).next;
    const due = 1_000 + 90_000;
    const ext = onDeadline(s, due, true, POLICY);
    expect(ext.kind).toBe('extend');
    if (ext.kind === 'extend') {
      expect(ext.deadlineMs).toBe(due + 90_000);
      expect(ext.state.core.status).toBe(ConnectionStatus.CONNECTED);
    }
    expect(onDeadline(s, due, false, POLICY).kind).toBe('offline');
  });

  it('disconnected or offline agents need no deadline', () => {
    const s = step(undefined, fullReport(0n, CAPS.ReportsStatus)).next;
    const closed = processConnectionClosed(s, { gatewayId: 'gw-a', connectionId: 'c1', code: 1000, reason: '' }, 5)!;
    expect(livenessDeadline(closed.state, POLICY)).toBe(0);
    expect(onDeadline(closed.state, 10 ** 12, true, POLICY)).toEqual({ kind: 'remove' });
  });
});
