import { Injectable } from '@nestjs/common';
import { Prisma, PrismaService, selectorToSql } from '@opamp/database';
import type { LabelSelector } from '@opamp/domain';
import { AgentCapability } from '@opamp/protocol';
import type { CommandKind, CommandSignal, CommandState, JsonValue } from './command-outcomes.js';
import type { CommandRecord, CommandTypeRecord } from './command.view.js';
import { isUuid } from './commands.query.js';

const COLUMNS = Prisma.sql`
  c.id::text AS id, c.agent_uid::text AS "agentUid", c.kind, c.capability, c.type, c.parameters,
  c.state::text AS state, c.reason, c.result, c.bulk_id::text AS "bulkId", c.created_by AS "createdBy",
  c.created_at AS "createdAt", c.sent_at AS "sentAt", c.completed_at AS "completedAt", c.deadline_at AS "deadlineAt"`;

const TYPE_COLUMNS = Prisma.sql`
  t.capability, t.type, t.description, t.parameters_schema AS "parametersSchema",
  t.timeout_seconds AS "timeoutSeconds", t.created_at AS "createdAt", t.updated_at AS "updatedAt"`;

const RESTART_BIT = Number(AgentCapability.AcceptsRestartCommand);

/** Which agents can take a command: they declare AcceptsRestartCommand, or the custom capability. */
export type Eligibility = { kind: 'restart' } | { kind: 'custom'; capability: string };

function eligibleSql(e: Eligibility): Prisma.Sql {
  return e.kind === 'restart'
    ? Prisma.sql`(a.capabilities & ${RESTART_BIT}::bigint) <> 0`
    : Prisma.sql`${e.capability}::text = ANY(a.custom_capabilities)`;
}

const jsonParam = (v: JsonValue | null | undefined): string | null =>
  v === undefined || v === null ? null : JSON.stringify(v);

export interface NewCommand {
  id: string;
  agentUid: string;
  kind: CommandKind;
  capability: string | null;
  type: string | null;
  parameters: JsonValue | null;
  createdBy: string | null;
  timeoutSeconds: number;
}

export interface CommandFilter {
  agentUid?: string;
  states: readonly CommandState[];
  kind?: CommandKind;
  bulkId?: string;
  /** Exclusive upper bound of id (the cursor): newest first. */
  beforeId?: string;
  limit: number;
}

/** Every read and write of `commands` and `command_types`. Every query is parameterised. */
@Injectable()
export class CommandsRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** What the command routes need to decide 404 / 409. */
  async findTarget(uid: string): Promise<{ capabilities: bigint; customCapabilities: string[] } | undefined> {
    const rows = await this.prisma.$queryRaw<Array<{ capabilities: bigint; customCapabilities: string[] | null }>>`
      SELECT a.capabilities, a.custom_capabilities AS "customCapabilities" FROM agents a WHERE a.uid = ${uid}::uuid`;
    const row = rows[0];
    return row ? { capabilities: row.capabilities, customCapabilities: row.customCapabilities ?? [] } : undefined;
  }

  // ------------------------------------------------------------------------------ commands

  async insert(c: NewCommand): Promise<CommandRecord> {
    const rows = await this.prisma.$queryRaw<CommandRecord[]>`
      INSERT INTO commands AS c (id, agent_uid, kind, capability, type, parameters, state, created_by, created_at, deadline_at)
      VALUES (${c.id}::uuid, ${c.agentUid}::uuid, ${c.kind}, ${c.capability}, ${c.type}, ${jsonParam(c.parameters)}::jsonb,
              'queued', ${c.createdBy}, now(), now() + ${c.timeoutSeconds}::int * interval '1 second')
      RETURNING ${COLUMNS}`;
    return rows[0]!;
  }

  /** One row per (id, agent) pair, all of one bulk, in one statement. */
  async insertBulk(
    bulkId: string,
    ids: readonly string[],
    agentUids: readonly string[],
    c: Omit<NewCommand, 'id' | 'agentUid'>,
  ): Promise<number> {
    if (ids.length === 0) return 0;
    return this.prisma.$executeRaw`
      INSERT INTO commands (id, agent_uid, kind, capability, type, parameters, state, bulk_id, created_by, created_at, deadline_at)
      SELECT u.id, u.agent_uid, ${c.kind}, ${c.capability}, ${c.type}, ${jsonParam(c.parameters)}::jsonb, 'queued',
             ${bulkId}::uuid, ${c.createdBy}, now(), now() + ${c.timeoutSeconds}::int * interval '1 second'
      FROM unnest(${[...ids]}::uuid[], ${[...agentUids]}::uuid[]) AS u(id, agent_uid)`;
  }

  async get(id: string): Promise<CommandRecord | undefined> {
    const rows = await this.prisma.$queryRaw<
      CommandRecord[]
    >`SELECT ${COLUMNS} FROM commands c WHERE c.id = ${id}::uuid`;
    return rows[0];
  }

  /** `limit + 1` rows, newest first (ids are UUIDv7, so id order is creation order). */
  async list(f: CommandFilter): Promise<CommandRecord[]> {
    const where: Prisma.Sql[] = [Prisma.sql`TRUE`];
    if (f.agentUid) where.push(Prisma.sql`c.agent_uid = ${f.agentUid}::uuid`);
    if (f.bulkId) where.push(Prisma.sql`c.bulk_id = ${f.bulkId}::uuid`);
    if (f.kind) where.push(Prisma.sql`c.kind = ${f.kind}`);
    if (f.states.length > 0) {
      where.push(Prisma.sql`c.state IN (${Prisma.join(f.states.map((s) => Prisma.sql`${s}::command_state`))})`);
    }
    if (f.beforeId) where.push(Prisma.sql`c.id < ${f.beforeId}::uuid`);
    return this.prisma.$queryRaw<CommandRecord[]>`
      SELECT ${COLUMNS} FROM commands c WHERE ${Prisma.join(where, ' AND ')}
      ORDER BY c.id DESC LIMIT ${f.limit + 1}::int`;
  }

  /** Commands whose control envelope never reached the bus: failed at once (still queued only). */
  async failUnpublished(ids: readonly string[], reason: string): Promise<CommandRecord[]> {
    if (ids.length === 0) return [];
    return this.prisma.$queryRaw<CommandRecord[]>`
      UPDATE commands c SET state = 'failed', reason = ${reason}, completed_at = now()
      WHERE c.id = ANY(${[...ids]}::uuid[]) AND c.state = 'queued'
      RETURNING ${COLUMNS}`;
  }

  /**
   * Of `agentUids`, those with a command still queued or sent: one query for a whole batch of
   * agent events, so that a reconnect storm (a `connected` event per agent) costs one round trip
   * per batch rather than one UPDATE per event.
   */
  async agentsWithOpenCommands(agentUids: readonly string[]): Promise<Set<string>> {
    if (agentUids.length === 0) return new Set();
    const rows = await this.prisma.$queryRaw<Array<{ uid: string }>>`
      SELECT DISTINCT c.agent_uid::text AS uid FROM commands c
      WHERE c.agent_uid = ANY(${[...agentUids]}::uuid[]) AND c.state IN ('queued', 'sent')`;
    return new Set(rows.map((r) => r.uid));
  }

  /**
   * Applies one signal of the agent-events stream with a guarded UPDATE: only forward
   * transitions, never out of a terminal state. Returns the rows it changed (usually none).
   */
  async apply(s: CommandSignal): Promise<CommandRecord[]> {
    const at = s.at.toISOString();
    switch (s.kind) {
      case 'sent':
        if (!isUuid(s.commandId)) return [];
        return this.prisma.$queryRaw<CommandRecord[]>`
          UPDATE commands c SET state = 'sent', sent_at = ${at}::timestamptz
          WHERE c.id = ${s.commandId}::uuid AND c.agent_uid = ${s.agentUid}::uuid AND c.state = 'queued'
          RETURNING ${COLUMNS}`;
      case 'rejected':
        if (!isUuid(s.commandId)) return [];
        return this.prisma.$queryRaw<CommandRecord[]>`
          UPDATE commands c SET state = 'failed', reason = ${s.reason}, completed_at = ${at}::timestamptz
          WHERE c.id = ${s.commandId}::uuid AND c.agent_uid = ${s.agentUid}::uuid AND c.state IN ('queued', 'sent')
          RETURNING ${COLUMNS}`;
      case 'reply': {
        const set = Prisma.sql`
          state = ${s.outcome}::command_state, result = ${jsonParam(s.result)}::jsonb, reason = ${s.reason},
          completed_at = ${at}::timestamptz, sent_at = COALESCE(c.sent_at, ${at}::timestamptz)`;
        if (s.commandId !== undefined) {
          // The reply names its command: that command of this agent and capability, queued or sent
          // (its command_sent may still be on its way through another api replica).
          if (!isUuid(s.commandId)) return [];
          return this.prisma.$queryRaw<CommandRecord[]>`
            UPDATE commands c SET ${set}
            WHERE c.id = ${s.commandId}::uuid AND c.agent_uid = ${s.agentUid}::uuid AND c.kind = 'custom'
              AND c.capability = ${s.capability} AND c.state IN ('queued', 'sent')
            RETURNING ${COLUMNS}`;
        }
        // No id: the oldest command of this agent, capability and type that went out.
        return this.prisma.$queryRaw<CommandRecord[]>`
          UPDATE commands c SET ${set}
          WHERE c.id = (
            SELECT o.id FROM commands o
            WHERE o.agent_uid = ${s.agentUid}::uuid AND o.kind = 'custom' AND o.capability = ${s.capability}
              AND o.type = ${s.type} AND o.state = 'sent'
            ORDER BY o.sent_at, o.id LIMIT 1 FOR UPDATE SKIP LOCKED)
            AND c.state = 'sent'
          RETURNING ${COLUMNS}`;
      }
      case 'newProcess':
        return this.prisma.$queryRaw<CommandRecord[]>`
          UPDATE commands c SET state = 'succeeded', completed_at = ${at}::timestamptz
          WHERE c.agent_uid = ${s.agentUid}::uuid AND c.kind = 'restart' AND c.state = 'sent'
            AND c.sent_at < ${s.startedAfter.toISOString()}::timestamptz
          RETURNING ${COLUMNS}`;
    }
  }

  /**
   * Marks up to `limit` commands past their deadline timed_out. Safe with several api replicas:
   * a row is locked by one UPDATE (SKIP LOCKED), and the state guard is re-checked on the row.
   */
  async timeOutExpired(limit: number): Promise<CommandRecord[]> {
    return this.prisma.$queryRaw<CommandRecord[]>`
      UPDATE commands c SET state = 'timed_out', completed_at = now(),
        reason = CASE
          WHEN c.state = 'queued' THEN 'not delivered before the deadline (the agent did not connect, or the fleet did not deliver it)'
          WHEN c.kind = 'restart' THEN 'the agent was not seen with a new process before the deadline'
          ELSE 'the agent did not reply before the deadline'
        END
      WHERE c.id IN (
        SELECT e.id FROM commands e
        WHERE e.state IN ('queued', 'sent') AND e.deadline_at < now()
        ORDER BY e.deadline_at LIMIT ${limit}::int FOR UPDATE SKIP LOCKED)
        AND c.state IN ('queued', 'sent')
      RETURNING ${COLUMNS}`;
  }

  // ------------------------------------------------------------------------------ bulk targeting

  /** How many agents the selector matches, and how many of them can take the command. */
  async countTargets(selector: LabelSelector, e: Eligibility): Promise<{ matched: number; eligible: number }> {
    const rows = await this.prisma.$queryRaw<Array<{ matched: number; eligible: number }>>`
      SELECT count(*)::int AS matched, (count(*) FILTER (WHERE ${eligibleSql(e)}))::int AS eligible
      FROM agents a WHERE a.replaced_by_uid IS NULL AND ${selectorToSql(selector)}`;
    return rows[0] ?? { matched: 0, eligible: 0 };
  }

  /** Up to `limit` eligible agents of the selector, by uid. */
  async eligibleTargets(selector: LabelSelector, e: Eligibility, limit: number): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<Array<{ uid: string }>>`
      SELECT a.uid::text AS uid FROM agents a
      WHERE a.replaced_by_uid IS NULL AND ${selectorToSql(selector)} AND ${eligibleSql(e)}
      ORDER BY a.uid LIMIT ${limit}::int`;
    return rows.map((r) => r.uid);
  }

  // ------------------------------------------------------------------------------ command types

  async findType(capability: string, type: string): Promise<CommandTypeRecord | undefined> {
    const rows = await this.prisma.$queryRaw<CommandTypeRecord[]>`
      SELECT ${TYPE_COLUMNS} FROM command_types t WHERE t.capability = ${capability} AND t.type = ${type}`;
    return rows[0];
  }

  async listTypes(capability?: string): Promise<CommandTypeRecord[]> {
    const where = capability === undefined ? Prisma.sql`TRUE` : Prisma.sql`t.capability = ${capability}`;
    return this.prisma.$queryRaw<CommandTypeRecord[]>`
      SELECT ${TYPE_COLUMNS} FROM command_types t WHERE ${where} ORDER BY t.capability, t.type`;
  }

  async typeNames(capability: string): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<Array<{ type: string }>>`
      SELECT t.type FROM command_types t WHERE t.capability = ${capability} ORDER BY t.type`;
    return rows.map((r) => r.type);
  }

  /** Creates or replaces a command type; `created` tells which. */
  async upsertType(
    capability: string,
    type: string,
    input: { description: string | null; parametersSchema: JsonValue; timeoutSeconds: number },
  ): Promise<{ record: CommandTypeRecord; created: boolean }> {
    const rows = await this.prisma.$queryRaw<Array<CommandTypeRecord & { created: boolean }>>`
      INSERT INTO command_types AS t (capability, type, description, parameters_schema, timeout_seconds, created_at, updated_at)
      VALUES (${capability}, ${type}, ${input.description}, ${JSON.stringify(input.parametersSchema)}::jsonb,
              ${input.timeoutSeconds}::int, now(), now())
      ON CONFLICT (capability, type) DO UPDATE SET
        description = EXCLUDED.description, parameters_schema = EXCLUDED.parameters_schema,
        timeout_seconds = EXCLUDED.timeout_seconds, updated_at = now()
      RETURNING ${TYPE_COLUMNS}, (xmax = 0) AS created`;
    const { created, ...record } = rows[0]!;
    return { record, created };
  }

  async deleteType(capability: string, type: string): Promise<CommandTypeRecord | undefined> {
    const rows = await this.prisma.$queryRaw<CommandTypeRecord[]>`
      DELETE FROM command_types AS t WHERE t.capability = ${capability} AND t.type = ${type}
      RETURNING ${TYPE_COLUMNS}`;
    return rows[0];
  }
}
