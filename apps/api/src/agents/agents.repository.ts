import { Injectable } from '@nestjs/common';
import { Prisma, PrismaService, selectorConditions } from '@opamp/database';
import type { LabelSelector } from '@opamp/domain';
import type { AgentEventRecord, AgentRecord } from './agent.view.js';

export type ConnectionStateFilter = 'connected' | 'disconnected' | 'offline';

export interface AgentListQuery {
  selector: LabelSelector;
  /** Empty: any state. */
  states: readonly ConnectionStateFilter[];
  /** Exclusive lower bound of uid (the cursor). */
  afterUid?: string;
  limit: number;
}

const AGENT_COLUMNS = Prisma.sql`
  a.uid::text AS "uid", a.agent_type AS "agentType", a.service_name AS "serviceName",
  a.service_version AS "serviceVersion", a.host_name AS "hostName", a.os_type AS "osType",
  a.description, a.capabilities, a.health, a.healthy, a.effective_config AS "effectiveConfig",
  a.remote_config_status AS "remoteConfigStatus", a.custom_capabilities AS "customCapabilities",
  a.labels, a.connection_state::text AS "connectionState", a.transport, a.sequence_num AS "sequenceNum",
  a.first_seen_at AS "firstSeenAt", a.last_seen_at AS "lastSeenAt", a.disconnected_at AS "disconnectedAt",
  a.replaced_by_uid::text AS "replacedByUid", a.updated_at AS "updatedAt"`;

/** Reads of the `agents` and `agent_events` tables. Every query is parameterised. */
@Injectable()
export class AgentsRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * One page of agents ordered by uid, filtered in Postgres. Fetches `limit + 1` rows so the
   * caller knows whether another page exists. Agents whose uid was reassigned (replaced_by_uid)
   * are superseded by their new row and left out.
   */
  async list(q: AgentListQuery): Promise<AgentRecord[]> {
    const where: Prisma.Sql[] = [Prisma.sql`a.replaced_by_uid IS NULL`, ...selectorConditions(q.selector)];
    if (q.states.length > 0) {
      where.push(
        Prisma.sql`a.connection_state IN (${Prisma.join(q.states.map((s) => Prisma.sql`${s}::agent_connection_state`))})`,
      );
    }
    if (q.afterUid !== undefined) where.push(Prisma.sql`a.uid > ${q.afterUid}::uuid`);
    return this.prisma.$queryRaw<AgentRecord[]>`
      SELECT ${AGENT_COLUMNS}
      FROM agents a
      WHERE ${Prisma.join(where, ' AND ')}
      ORDER BY a.uid
      LIMIT ${q.limit + 1}::int`;
  }

  async findByUid(uid: string): Promise<AgentRecord | undefined> {
    const rows = await this.prisma.$queryRaw<
      AgentRecord[]
    >`SELECT ${AGENT_COLUMNS} FROM agents a WHERE a.uid = ${uid}::uuid`;
    return rows[0];
  }

  /** What the command endpoints need to decide 404 / 409. */
  async findCommandTarget(uid: string): Promise<{ capabilities: bigint; customCapabilities: string[] } | undefined> {
    const rows = await this.prisma.$queryRaw<Array<{ capabilities: bigint; customCapabilities: string[] | null }>>`
      SELECT a.capabilities, a.custom_capabilities AS "customCapabilities" FROM agents a WHERE a.uid = ${uid}::uuid`;
    const row = rows[0];
    return row ? { capabilities: row.capabilities, customCapabilities: row.customCapabilities ?? [] } : undefined;
  }

  async exists(uid: string): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<unknown[]>`SELECT 1 FROM agents WHERE uid = ${uid}::uuid`;
    return rows.length > 0;
  }

  /** Events of one agent, newest first, `limit + 1` rows starting below `beforeId`. */
  async events(uid: string, limit: number, beforeId?: bigint): Promise<AgentEventRecord[]> {
    const before = beforeId === undefined ? Prisma.empty : Prisma.sql`AND e.id < ${beforeId.toString()}::bigint`;
    return this.prisma.$queryRaw<AgentEventRecord[]>`
      SELECT e.id, e.type, e.at, e.data
      FROM agent_events e
      WHERE e.agent_uid = ${uid}::uuid ${before}
      ORDER BY e.id DESC
      LIMIT ${limit + 1}::int`;
  }
}
