// JSON representation of a command (docs/commands.md). `commandId` repeats `id`: the restart and
// custom-messages routes answered `{ commandId }` before commands were stored, and still do.
import type { CommandKind, CommandState, JsonValue } from './command-outcomes.js';

/** A `commands` row as read by CommandsRepository (camelCase aliases of the columns). */
export interface CommandRecord {
  id: string;
  agentUid: string;
  kind: CommandKind;
  capability: string | null;
  type: string | null;
  parameters: JsonValue | null;
  state: CommandState;
  reason: string | null;
  result: JsonValue | null;
  bulkId: string | null;
  createdBy: string | null;
  createdAt: Date;
  sentAt: Date | null;
  completedAt: Date | null;
  deadlineAt: Date;
}

export interface CommandView {
  id: string;
  /** Same as `id`: what the agent's events and a custom command's data carry. */
  commandId: string;
  agentUid: string;
  kind: CommandKind;
  /** Custom commands: the custom capability and message type. */
  capability: string | null;
  type: string | null;
  parameters: JsonValue | null;
  state: CommandState;
  /** Why it failed or timed out. */
  reason: string | null;
  /** What the agent answered (custom commands). */
  result: JsonValue | null;
  bulkId: string | null;
  createdBy: string | null;
  createdAt: string;
  sentAt: string | null;
  completedAt: string | null;
  /** Still queued or sent at this time: timed_out. */
  deadlineAt: string;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function commandView(r: CommandRecord): CommandView {
  return {
    id: r.id,
    commandId: r.id,
    agentUid: r.agentUid,
    kind: r.kind,
    capability: r.capability,
    type: r.type,
    parameters: r.parameters,
    state: r.state,
    reason: r.reason,
    result: r.result,
    bulkId: r.bulkId,
    createdBy: r.createdBy,
    createdAt: r.createdAt.toISOString(),
    sentAt: iso(r.sentAt),
    completedAt: iso(r.completedAt),
    deadlineAt: r.deadlineAt.toISOString(),
  };
}

/** A `command_types` row. */
export interface CommandTypeRecord {
  capability: string;
  type: string;
  description: string | null;
  parametersSchema: JsonValue;
  timeoutSeconds: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface CommandTypeView {
  capability: string;
  type: string;
  description: string | null;
  parametersSchema: JsonValue;
  timeoutSeconds: number;
  createdAt: string;
  updatedAt: string;
}

export function commandTypeView(r: CommandTypeRecord): CommandTypeView {
  return {
    capability: r.capability,
    type: r.type,
    description: r.description,
    parametersSchema: r.parametersSchema,
    timeoutSeconds: r.timeoutSeconds,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}
