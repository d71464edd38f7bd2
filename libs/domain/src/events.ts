// Agent history events (table agent_events). Appended by the fleet, written in batches.
import type { JsonValue } from './description.js';

export type AgentEventType =
  | 'first_seen'
  | 'connected'
  | 'disconnected'
  | 'offline'
  | 'description_changed'
  | 'health_changed'
  | 'effective_config_changed'
  | 'remote_config_status_changed'
  | 'remote_config_offered'
  | 'capabilities_changed'
  | 'uid_assigned'
  | 'duplicate_detected'
  | 'custom_message_received'
  | 'command_sent'
  | 'command_rejected';

export interface AgentEvent {
  /** Canonical uid string of the agent the event belongs to. */
  agentUid: string;
  type: AgentEventType;
  atMs: number;
  data: { [key: string]: JsonValue };
  /**
   * Identity of the event (a canonical UUIDv7 string), set by the fleet when it queues the event
   * for the write-behind and stored in the queued JSON, so that writing the same queued event
   * again (a flush whose commit succeeded but whose clean-up did not) inserts no second row
   * (unique agent_events (agent_uid, key)). Absent on events queued by an older fleet.
   */
  key?: string;
}

export function event(agentUid: string, type: AgentEventType, atMs: number, data: AgentEvent['data'] = {}): AgentEvent {
  return { agentUid, type, atMs, data };
}
