// What agent events mean for commands (docs/commands.md, "Lifecycle"). Pure: the tracker turns
// each event of the agent-events stream into signals here, and the repository applies them with
// guarded UPDATEs (forward transitions only; terminal states never change).
import type { AgentEvent, AgentEventType } from '@opamp/domain';

export const COMMAND_STATES = ['queued', 'sent', 'succeeded', 'failed', 'timed_out'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];

export const COMMAND_KINDS = ['restart', 'custom'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

export const TERMINAL_STATES: readonly CommandState[] = ['succeeded', 'failed', 'timed_out'];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The states a command may move to from `from` (forward only). */
export function allowedTransitions(from: CommandState): readonly CommandState[] {
  switch (from) {
    case 'queued':
      return ['sent', 'succeeded', 'failed', 'timed_out'];
    case 'sent':
      return ['succeeded', 'failed', 'timed_out'];
    default:
      return [];
  }
}

export function canTransition(from: CommandState, to: CommandState): boolean {
  return allowedTransitions(from).includes(to);
}

/** An agent event's meaning for the commands of that agent. */
export type CommandSignal =
  /** The fleet delivered the command (push on a live WS, or in the reply to the agent's message). */
  | { kind: 'sent'; agentUid: string; commandId: string; at: Date }
  /** The fleet refused or dropped the command. */
  | { kind: 'rejected'; agentUid: string; commandId: string; reason: string; at: Date }
  /** The agent sent a custom message: the reply to a custom command, by id or by capability and type. */
  | {
      kind: 'reply';
      agentUid: string;
      capability: string;
      type: string;
      /** The `commandId` the reply names; undefined: match the agent's oldest sent command of that type. */
      commandId: string | undefined;
      outcome: 'succeeded' | 'failed';
      result: JsonValue | null;
      reason: string | null;
      at: Date;
    }
  /**
   * The agent runs a process started after `startedAfter`: a restart command sent before that
   * moment has taken effect.
   */
  | { kind: 'newProcess'; agentUid: string; startedAfter: Date; at: Date };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

const EVENT_TYPES: ReadonlySet<string> = new Set<AgentEventType>([
  'first_seen',
  'connected',
  'disconnected',
  'offline',
  'description_changed',
  'health_changed',
  'effective_config_changed',
  'remote_config_status_changed',
  'remote_config_offered',
  'capabilities_changed',
  'uid_assigned',
  'duplicate_detected',
  'custom_message_received',
  'command_sent',
  'command_rejected',
]);

/** The `event` field of an agent-events stream entry; undefined when it is not an agent event. */
export function parseAgentEvent(text: string): AgentEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const e = v as Partial<AgentEvent>;
  if (typeof e.agentUid !== 'string' || typeof e.type !== 'string' || !EVENT_TYPES.has(e.type)) return undefined;
  if (typeof e.atMs !== 'number' || !Number.isFinite(e.atMs)) return undefined;
  if (typeof e.data !== 'object' || e.data === null || Array.isArray(e.data)) return undefined;
  return e as AgentEvent;
}

/** What a custom command's reply says (docs/commands.md, "The reply convention"). */
export interface CommandReply {
  commandId: string | undefined;
  outcome: 'succeeded' | 'failed';
  /** The parsed JSON; `{ data: <base64> }` when the data is not JSON; null when the fleet did not record it. */
  result: JsonValue | null;
  reason: string | null;
}

const MAX_REASON_CHARS = 1000;

function clip(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}…` : text;
}

function errorText(error: JsonValue): string {
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null && !Array.isArray(error) && typeof error.message === 'string') {
    return error.message;
  }
  return JSON.stringify(error);
}

/**
 * Reads a custom message the agent sent. `dataBase64` is absent when the message was larger than
 * the fleet records in events (`size` bytes): then nothing but "the agent answered" is known.
 */
export function parseCommandReply(dataBase64: string | undefined, size: number): CommandReply {
  if (dataBase64 === undefined) {
    return size > 0
      ? {
          commandId: undefined,
          outcome: 'succeeded',
          result: null,
          reason: `the reply (${size} bytes) is larger than the fleet records, so its content is unknown`,
        }
      : { commandId: undefined, outcome: 'succeeded', result: null, reason: null };
  }
  const bytes = Buffer.from(dataBase64, 'base64');
  let parsed: JsonValue;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as JsonValue;
  } catch {
    return {
      commandId: undefined,
      outcome: 'succeeded',
      result: bytes.length > 0 ? { data: dataBase64 } : null,
      reason: null,
    };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { commandId: undefined, outcome: 'succeeded', result: parsed, reason: null };
  }
  const commandId = str(parsed.commandId)?.toLowerCase();
  const hasError = parsed.error !== undefined && parsed.error !== null && parsed.error !== false;
  if (hasError) {
    return { commandId, outcome: 'failed', result: parsed, reason: clip(errorText(parsed.error!)) };
  }
  if (parsed.status === 'failed') {
    return { commandId, outcome: 'failed', result: parsed, reason: 'the agent reported status "failed"' };
  }
  return { commandId, outcome: 'succeeded', result: parsed, reason: null };
}

/** The signals one agent event carries for commands (most events carry none). */
export function commandSignals(e: AgentEvent): CommandSignal[] {
  const at = new Date(e.atMs);
  const d = e.data;
  const agentUid = e.agentUid.toLowerCase();
  switch (e.type) {
    case 'command_sent': {
      const commandId = str(d.commandId);
      return commandId ? [{ kind: 'sent', agentUid, commandId: commandId.toLowerCase(), at }] : [];
    }
    case 'command_rejected': {
      const commandId = str(d.commandId);
      if (!commandId) return [];
      const reason = str(d.reason) ?? 'rejected by the fleet';
      return [{ kind: 'rejected', agentUid, commandId: commandId.toLowerCase(), reason: clip(reason), at }];
    }
    case 'custom_message_received': {
      const capability = str(d.capability);
      if (!capability) return [];
      const size = typeof d.size === 'number' ? d.size : 0;
      const reply = parseCommandReply(str(d.data), size);
      return [{ kind: 'reply', agentUid, capability, type: typeof d.type === 'string' ? d.type : '', ...reply, at }];
    }
    case 'connected':
      // A new connection after the restart command went out: the agent came back.
      return [{ kind: 'newProcess', agentUid, startedAfter: at, at }];
    case 'health_changed': {
      // The health start time is when the agent's process started (same connection possible: a
      // supervisor restarting its agent).
      const started = d.startTimeMs;
      return typeof started === 'number' && Number.isFinite(started) && started > 0
        ? [{ kind: 'newProcess', agentUid, startedAfter: new Date(started), at }]
        : [];
    }
    default:
      return [];
  }
}

/** One command's state change, as published on the command-events stream. */
export interface CommandEvent {
  commandId: string;
  agentUid: string;
  kind: CommandKind;
  state: CommandState;
  reason?: string;
  bulkId?: string;
  /** ISO 8601 time of the change. */
  at: string;
}
