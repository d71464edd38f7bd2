// Liveness (checklist §3.13 [REC], case 52). The spec leaves it to the server; our rules:
//  - connected → deadline = lastSeen + k × interval, where interval is the heartbeat interval we
//    offer (FLEET_HEARTBEAT_INTERVAL_SECONDS) for agents with ReportsHeartbeat 0x2000, else 30 s
//    (also the default HTTP poll interval); k = FLEET_OFFLINE_AFTER_MISSED.
//  - at the deadline:
//      * an agent that promised heartbeats (0x2000) or polls over HTTP goes offline;
//      * a WebSocket agent without 0x2000 may legitimately stay silent on a live socket, so while
//        the gateway holding its connection is alive the deadline is pushed forward (the gateway
//        reports the close, or its own death makes the connection dead); otherwise offline.
//  - agent_disconnect and WS close → disconnected at once (no deadline).
import { ConnectionStatus, type AgentLink } from '@opamp/proto';
import { AgentCapability, hasCapability } from '@opamp/protocol';
import { event, type AgentEvent } from './events.js';
import type { FleetPolicy } from './policy.js';
import { uidString, withCore, type AgentState } from './state.js';

/** Seconds between the messages we expect from this agent. */
export function expectedIntervalSeconds(caps: bigint, policy: FleetPolicy): number {
  return hasCapability(caps, AgentCapability.ReportsHeartbeat)
    ? policy.heartbeatIntervalSeconds
    : policy.defaultIntervalSeconds;
}

/** How long silence is tolerated before the agent counts as offline (ms). */
export function offlineAfterMs(caps: bigint, policy: FleetPolicy): number {
  return policy.offlineAfterMissed * expectedIntervalSeconds(caps, policy) * 1000;
}

/** The deadline for a connected agent (ms since epoch), or 0 when it needs none. */
export function livenessDeadline(state: AgentState, policy: FleetPolicy): number {
  if (state.core.status !== ConnectionStatus.CONNECTED) return 0;
  return state.core.lastSeenMs + offlineAfterMs(state.report.capabilities, policy);
}

export type DeadlineOutcome =
  /** Not connected (any more): drop the deadline entry. */
  | { kind: 'remove' }
  /** A later message moved the deadline: re-schedule it. */
  | { kind: 'reschedule'; deadlineMs: number }
  /** Silent WS agent on a live connection: keep it connected, check again later. */
  | { kind: 'extend'; state: AgentState; deadlineMs: number; link: AgentLink }
  /** Offline now. */
  | { kind: 'offline'; state: AgentState; events: AgentEvent[]; previousLink: AgentLink | undefined };

/**
 * What to do when an agent's deadline entry comes due. `linkAlive`: the gateway holding the
 * agent's recorded WS connection is alive (ignored when there is no link).
 */
export function onDeadline(state: AgentState, nowMs: number, linkAlive: boolean, policy: FleetPolicy): DeadlineOutcome {
  if (state.core.status !== ConnectionStatus.CONNECTED) return { kind: 'remove' };
  const due = livenessDeadline(state, policy);
  if (due > nowMs) return { kind: 'reschedule', deadlineMs: due };
  const link = state.core.link;
  const caps = state.report.capabilities;
  if (link && linkAlive && !hasCapability(caps, AgentCapability.ReportsHeartbeat)) {
    const deadlineMs = nowMs + offlineAfterMs(caps, policy);
    return { kind: 'extend', state: withCore(state, { deadlineMs }), deadlineMs, link };
  }
  const next = withCore(state, {
    status: ConnectionStatus.OFFLINE,
    link: undefined,
    disconnectedAtMs: nowMs,
    deadlineMs: 0,
  });
  return {
    kind: 'offline',
    state: next,
    previousLink: link,
    events: [
      event(uidString(state.uid), 'offline', nowMs, {
        lastSeenMs: state.core.lastSeenMs,
        silentForMs: nowMs - state.core.lastSeenMs,
        expectedIntervalSeconds: expectedIntervalSeconds(caps, policy),
      }),
    ],
  };
}
