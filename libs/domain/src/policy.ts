// Server-side settings the decisions depend on (built once from the fleet's environment).
import { SERVER_CAPABILITIES } from '@opamp/protocol';

export interface FleetPolicy {
  /** ServerToAgent.capabilities advertised in every non-error reply. */
  serverCapabilities: bigint;
  /** heartbeat_interval_seconds offered to agents with ReportsHeartbeat (0x2000). */
  heartbeatIntervalSeconds: number;
  /** An agent is offline after this many missed intervals (k in k × interval). */
  offlineAfterMissed: number;
  /** Interval assumed for agents without ReportsHeartbeat; also the default HTTP poll interval. */
  defaultIntervalSeconds: number;
  /** OpAMPConnectionSettings.destination_endpoint offered with the heartbeat interval (ws[s]:// form). */
  opampPublicUrl: string;
  /** The server's CustomCapabilities (sent once per session when non-empty). */
  serverCustomCapabilities: readonly string[];
  /** lastSeen is written to Postgres at most this often per agent (ms); heartbeats write no row. */
  lastSeenPersistMs: number;
  /** Bound of the per-agent queue of custom messages waiting for an HTTP poll. */
  maxPendingCustomMessages: number;
  /** Custom message data up to this size is kept (base64) in the custom_message_received event. */
  maxEventDataBytes: number;
}

export const DEFAULT_POLICY: FleetPolicy = Object.freeze({
  serverCapabilities: SERVER_CAPABILITIES,
  heartbeatIntervalSeconds: 30,
  offlineAfterMissed: 3,
  defaultIntervalSeconds: 30,
  opampPublicUrl: 'ws://localhost:4320/v1/opamp',
  serverCustomCapabilities: [],
  lastSeenPersistMs: 300_000,
  maxPendingCustomMessages: 16,
  maxEventDataBytes: 4096,
});

export function policyWith(patch: Partial<FleetPolicy>): FleetPolicy {
  return { ...DEFAULT_POLICY, ...patch };
}
