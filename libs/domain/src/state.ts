// The agent state model of the fleet service.
//
// An agent's state has three parts, each a protobuf message (opampcp.fleet.v1, see
// proto/opampcp/fleet/v1/state.proto) so it can be stored in Redis as-is and read by any replica:
//  - report:  what the agent reported, merged (status compression: last value of each part);
//  - core:    small server-side bookkeeping rewritten on every message (seq, last seen, link,
//             per-session "already sent" markers, one-shot commands, uid assignment);
//  - desired: what the control plane wants the agent to run (remote config).
// Labels are not here: they belong to the API (Postgres only).
//
// Functions in this library never mutate a state they are given: they build new objects and
// share unchanged sub-messages (which are never mutated in place either).
import { create } from '@bufbuild/protobuf';
import {
  AgentCoreStateSchema,
  AgentDesiredStateSchema,
  AgentReportStateSchema,
  ConnectionStatus,
  Transport,
  type AgentCoreState,
  type AgentDesiredState,
  type AgentReportState,
} from '@opamp/proto';
import { uidToHex, uidToString } from '@opamp/protocol';

export interface AgentState {
  /** The agent's instance_uid (16 bytes). */
  readonly uid: Uint8Array;
  readonly core: AgentCoreState;
  readonly report: AgentReportState;
  readonly desired: AgentDesiredState;
}

/** A state for an agent never seen before (first_seen_ms 0 until its first message is applied). */
export function emptyAgentState(uid: Uint8Array): AgentState {
  return {
    uid,
    core: create(AgentCoreStateSchema, { status: ConnectionStatus.UNSPECIFIED, transport: Transport.UNSPECIFIED }),
    report: create(AgentReportStateSchema),
    desired: create(AgentDesiredStateSchema),
  };
}

/** True once a message from the agent has been applied (control commands can create skeletons before). */
export function hasBeenSeen(state: AgentState | undefined): state is AgentState {
  return state !== undefined && state.core.firstSeenMs > 0;
}

/** Shallow copy of the core with `patch` applied (nested messages are replaced, never mutated). */
export function withCore(state: AgentState, patch: Partial<Omit<AgentCoreState, '$typeName'>>): AgentState {
  return { ...state, core: { ...state.core, ...patch } };
}

export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Plain hex of any byte string (uids, config hashes). */
export const toHex = uidToHex;

/** Canonical 8-4-4-4-12 form of a 16-byte uid (plain hex for other lengths). */
export const uidString = uidToString;

/**
 * Lenient inverse of uidString/toHex for values this service wrote itself (Redis keys, Postgres
 * rows); untrusted input goes through @opamp/protocol's validating uidFromString.
 */
export function uidFromString(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/-/g, ''), 'hex'));
}

/** The connection/transport a message arrived on, as the gateway described it in the envelope. */
export interface Arrival {
  gatewayId: string;
  connectionId: string;
  transport: Transport;
  /** Stream entry id of the inbound envelope (redelivery detection); '' when unknown. */
  entryId: string;
  /** Id of the enrollment token that admitted the connection or request ('' or absent: none). */
  enrollmentTokenId?: string;
}

export function isWebSocket(t: Transport): boolean {
  return t === Transport.WEBSOCKET;
}

/** Compares Redis stream ids ("ms-seq"); an empty id sorts first. */
export function compareStreamIds(a: string, b: string): number {
  if (a === b) return 0;
  if (!a) return -1;
  if (!b) return 1;
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}
