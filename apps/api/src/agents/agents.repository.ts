import { Injectable } from '@nestjs/common';
import { Prisma, PrismaService, selectorConditions } from '@opamp/database';
import type { LabelSelector } from '@opamp/domain';
import type { AgentEventRecord, AgentRecord } from './agent.view.js';
import type { AgentSort, AgentSortField, CapabilityFilter, HealthFilter } from './agents.query.js';

export type ConnectionStateFilter = 'connected' | 'disconnected' | 'offline';

/** Where the previous page ended: its last agent's sort value (null: it had none) and uid. */
export interface AgentKeyset {
  value: string | null;
  uid: string;
}

export interface AgentListQuery {
  selector: LabelSelector;
  /** Empty: any state. */
  states: readonly ConnectionStateFilter[];
  /** Empty: any health. */
  health?: readonly HealthFilter[];
  /** Empty: any type. */
  agentTypes?: readonly string[];
  /** service.version; empty: any. */
  versions?: readonly string[];
  capabilities?: CapabilityFilter;
  /** Case-insensitive substring of service name, host name or uid. */
  q?: string;
  /** Default: uid ascending. */
  sort?: AgentSort;
  /** Exclusive keyset position (the cursor). */
  after?: AgentKeyset;
  limit: number;
}

interface SortColumn {
  sql: Prisma.Sql;
  /** SQL type the cursor value is cast to. */
  type: Prisma.Sql;
  nullable: boolean;
  /** The value of a row, as it is written into a cursor. */
  read(r: AgentRecord): string | null;
}

const SORT_COLUMNS: Record<Exclude<AgentSortField, 'uid'>, SortColumn> = {
  lastSeenAt: {
    sql: Prisma.raw('a.last_seen_at'),
    type: Prisma.raw('timestamptz'),
    nullable: false,
    read: (r) => r.lastSeenAt.toISOString(),
  },
  firstSeenAt: {
    sql: Prisma.raw('a.first_seen_at'),
    type: Prisma.raw('timestamptz'),
    nullable: false,
    read: (r) => r.firstSeenAt.toISOString(),
  },
  hostName: { sql: Prisma.raw('a.host_name'), type: Prisma.raw('text'), nullable: true, read: (r) => r.hostName },
  serviceName: {
    sql: Prisma.raw('a.service_name'),
    type: Prisma.raw('text'),
    nullable: true,
    read: (r) => r.serviceName,
  },
  agentType: { sql: Prisma.raw('a.agent_type'), type: Prisma.raw('text'), nullable: false, read: (r) => r.agentType },
  serviceVersion: {
    sql: Prisma.raw('a.service_version'),
    type: Prisma.raw('text'),
    nullable: true,
    read: (r) => r.serviceVersion,
  },
};

/** The value a cursor records for `row` under `field` (the uid itself for the uid sort). */
export function sortValueOf(row: AgentRecord, field: AgentSortField): string | null {
  return field === 'uid' ? row.uid : SORT_COLUMNS[field].read(row);
}

/** What `q` is matched against. The trigram index agents_search_trgm_idx is on this very expression. */
const SEARCH_TEXT = Prisma.sql`(COALESCE(a.service_name, '') || chr(10) || COALESCE(a.host_name, '') || chr(10) || a.uid::text)`;

/** `text` as a LIKE pattern that matches it anywhere (%, _ and \ taken literally). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** One ordered part of a sorted listing: pages read it, then the next part, until they are full. */
interface Region {
  where: Prisma.Sql[];
  order: Prisma.Sql;
}

/**
 * The parts of the listing that come after `after`, in order. Every sort is keyset-paginated on
 * (sort value, uid), which an index on (column, uid) answers as a range. A column without a value
 * (NULL) sorts as the highest value, as Postgres orders NULLs: after all others ascending, before
 * them descending. Those agents are read as a part of their own (ordered by uid), because a row
 * comparison never matches NULL.
 */
function regionsAfter(sort: AgentSort, after: AgentKeyset | undefined): Region[] {
  const dir = Prisma.raw(sort.descending ? 'DESC' : 'ASC');
  const cmp = Prisma.raw(sort.descending ? '<' : '>');
  const uidAfter = (u: string): Prisma.Sql => Prisma.sql`a.uid ${cmp} ${u}::uuid`;
  if (sort.field === 'uid') return [{ where: after ? [uidAfter(after.uid)] : [], order: Prisma.sql`a.uid ${dir}` }];
  const col = SORT_COLUMNS[sort.field];
  const values = (fromCursor: boolean): Region => ({
    where: [
      ...(col.nullable ? [Prisma.sql`${col.sql} IS NOT NULL`] : []),
      ...(fromCursor && after && after.value !== null
        ? [Prisma.sql`(${col.sql}, a.uid) ${cmp} (${after.value}::${col.type}, ${after.uid}::uuid)`]
        : []),
    ],
    order: Prisma.sql`${col.sql} ${dir}, a.uid ${dir}`,
  });
  if (!col.nullable) return [values(true)];
  const nulls = (fromCursor: boolean): Region => ({
    where: [Prisma.sql`${col.sql} IS NULL`, ...(fromCursor && after ? [uidAfter(after.uid)] : [])],
    order: Prisma.sql`a.uid ${dir}`,
  });
  if (!sort.descending) return after?.value === null ? [nulls(true)] : [values(true), nulls(false)];
  if (after === undefined) return [nulls(false), values(false)];
  return after.value === null ? [nulls(true), values(false)] : [values(true)];
}

const AGENT_COLUMNS = Prisma.sql`
  a.uid::text AS "uid", a.agent_type AS "agentType", a.service_name AS "serviceName",
  a.service_version AS "serviceVersion", a.host_name AS "hostName", a.os_type AS "osType",
  a.description, a.capabilities, a.health, a.healthy, a.effective_config AS "effectiveConfig",
  a.remote_config_status AS "remoteConfigStatus", a.custom_capabilities AS "customCapabilities",
  a.labels, a.connection_state::text AS "connectionState", a.transport, a.sequence_num AS "sequenceNum",
  a.first_seen_at AS "firstSeenAt", a.last_seen_at AS "lastSeenAt", a.disconnected_at AS "disconnectedAt",
  a.replaced_by_uid::text AS "replacedByUid", a.updated_at AS "updatedAt",
  a.enrollment_token_id::text AS "enrollmentTokenId"`;

/** The WHERE conditions (ANDed) of an agent listing, without the keyset position. */
export function listFilters(q: Omit<AgentListQuery, 'limit' | 'after' | 'sort'>): Prisma.Sql[] {
  const where: Prisma.Sql[] = [Prisma.sql`a.replaced_by_uid IS NULL`, ...selectorConditions(q.selector)];
  if (q.states.length > 0) {
    where.push(
      Prisma.sql`a.connection_state IN (${Prisma.join(q.states.map((s) => Prisma.sql`${s}::agent_connection_state`))})`,
    );
  }
  if (q.health && q.health.length > 0) {
    const healthSql = { healthy: 'a.healthy IS TRUE', unhealthy: 'a.healthy IS FALSE', unknown: 'a.healthy IS NULL' };
    where.push(
      Prisma.sql`(${Prisma.join(
        q.health.map((h) => Prisma.raw(healthSql[h])),
        ' OR ',
      )})`,
    );
  }
  if (q.agentTypes && q.agentTypes.length > 0) {
    where.push(Prisma.sql`a.agent_type IN (${Prisma.join(q.agentTypes.map((t) => Prisma.sql`${t}::text`))})`);
  }
  if (q.versions && q.versions.length > 0) {
    where.push(Prisma.sql`a.service_version IN (${Prisma.join(q.versions.map((v) => Prisma.sql`${v}::text`))})`);
  }
  const caps = q.capabilities;
  if (caps && caps.bits !== 0n) {
    const bits = caps.bits.toString();
    // COALESCE(…, false): the same rows, but estimated at 50 % rather than 0.5 % (an expression
    // without statistics); capability bits are mostly common, and with the low estimate Postgres
    // sorts every match instead of reading the first page in uid order (100 ms vs 3 ms at 100,000).
    where.push(Prisma.sql`COALESCE((a.capabilities & ${bits}::bigint) = ${bits}::bigint, false)`);
  }
  if (caps && caps.custom.length > 0) {
    where.push(
      Prisma.sql`a.custom_capabilities @> ARRAY[${Prisma.join(caps.custom.map((c) => Prisma.sql`${c}::text`))}]::text[]`,
    );
  }
  if (q.q !== undefined) where.push(Prisma.sql`${SEARCH_TEXT} ILIKE ${containsPattern(q.q)}::text`);
  return where;
}

/** Reads of the `agents` and `agent_events` tables. Every query is parameterised. */
@Injectable()
export class AgentsRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * One page of agents in the requested order (default: uid), filtered in Postgres. Fetches
   * `limit + 1` rows so the caller knows whether another page exists. Agents whose uid was
   * reassigned (replaced_by_uid) are superseded by their new row and left out.
   */
  async list(q: AgentListQuery): Promise<AgentRecord[]> {
    const filters = listFilters(q);
    const rows: AgentRecord[] = [];
    for (const region of regionsAfter(q.sort ?? { field: 'uid', descending: false }, q.after)) {
      const want = q.limit + 1 - rows.length;
      if (want <= 0) break;
      const where = [...filters, ...region.where];
      rows.push(
        ...(await this.prisma.$queryRaw<AgentRecord[]>`
          SELECT ${AGENT_COLUMNS}
          FROM agents a
          WHERE ${Prisma.join(where, ' AND ')}
          ORDER BY ${region.order}
          LIMIT ${want}::int`),
      );
    }
    return rows;
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
