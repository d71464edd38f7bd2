import { Injectable } from '@nestjs/common';
import { PrismaService } from '@opamp/database';
import type { AgentEvent, AgentRow, StoredAgentRow } from '@opamp/domain';

/**
 * Postgres access of the fleet: batch writes only (one statement per table per batch) plus the
 * fallback read when an agent's hot state is gone.
 *
 * Upsert rules: every reported/derived column takes the new value; `labels` is never touched
 * (API-owned) except on INSERT: a row that replaces another uid (uid reassignment) inherits that
 * row's labels, otherwise a row of an agent that enrolled with a token takes the token's labels;
 * `first_seen_at` keeps the earliest value; `enrollment_token_id` keeps the first token recorded.
 */
const UPSERT_AGENTS = `
INSERT INTO agents AS a (
  uid, agent_type, service_name, service_version, host_name, os_type, description, capabilities,
  health, healthy, effective_config, remote_config_status, custom_capabilities, labels,
  connection_state, transport, sequence_num, first_seen_at, last_seen_at, disconnected_at,
  replaced_by_uid, enrollment_token_id, updated_at)
SELECT
  r.uid, r.agent_type, r.service_name, r.service_version, r.host_name, r.os_type, r.description, r.capabilities,
  r.health, r.healthy, r.effective_config, r.remote_config_status, COALESCE(r.custom_capabilities, ARRAY[]::text[]),
  COALESCE(
    (SELECT p.labels FROM agents p WHERE p.uid = r.replaces_uid),
    (SELECT t.labels FROM enrollment_tokens t WHERE t.id = r.enrollment_token_id),
    '{}'::jsonb),
  r.connection_state, r.transport, r.sequence_num, r.first_seen_at, r.last_seen_at, r.disconnected_at,
  r.replaced_by_uid, r.enrollment_token_id, now()
FROM jsonb_to_recordset($1::jsonb) AS r(
  uid uuid, agent_type text, service_name text, service_version text, host_name text, os_type text,
  description jsonb, capabilities bigint, health jsonb, healthy boolean, effective_config jsonb,
  remote_config_status jsonb, custom_capabilities text[], connection_state agent_connection_state,
  transport text, sequence_num bigint, first_seen_at timestamptz, last_seen_at timestamptz,
  disconnected_at timestamptz, replaced_by_uid uuid, replaces_uid uuid, enrollment_token_id uuid)
ON CONFLICT (uid) DO UPDATE SET
  agent_type = EXCLUDED.agent_type,
  service_name = EXCLUDED.service_name,
  service_version = EXCLUDED.service_version,
  host_name = EXCLUDED.host_name,
  os_type = EXCLUDED.os_type,
  description = EXCLUDED.description,
  capabilities = EXCLUDED.capabilities,
  health = EXCLUDED.health,
  healthy = EXCLUDED.healthy,
  effective_config = EXCLUDED.effective_config,
  remote_config_status = EXCLUDED.remote_config_status,
  custom_capabilities = EXCLUDED.custom_capabilities,
  connection_state = EXCLUDED.connection_state,
  transport = EXCLUDED.transport,
  sequence_num = EXCLUDED.sequence_num,
  first_seen_at = LEAST(a.first_seen_at, EXCLUDED.first_seen_at),
  last_seen_at = EXCLUDED.last_seen_at,
  disconnected_at = EXCLUDED.disconnected_at,
  replaced_by_uid = EXCLUDED.replaced_by_uid,
  enrollment_token_id = COALESCE(a.enrollment_token_id, EXCLUDED.enrollment_token_id),
  updated_at = now()`;

/**
 * Events of agents that no longer exist (deleted through the API) are dropped, not an error. An
 * event whose key is already stored (the same queued event flushed again: the commit of an earlier
 * flush succeeded but its clean-up in Redis did not happen) is skipped, so each event is stored
 * once. Events without a key (queued by an older fleet) are always inserted.
 */
const INSERT_EVENTS = `
INSERT INTO agent_events (agent_uid, key, type, at, data)
SELECT e.agent_uid, e.key, e.type, e.at, COALESCE(e.data, '{}'::jsonb)
FROM jsonb_to_recordset($1::jsonb) AS e(agent_uid uuid, key uuid, type text, at timestamptz, data jsonb, ord int)
WHERE EXISTS (SELECT 1 FROM agents x WHERE x.uid = e.agent_uid)
ORDER BY e.ord
ON CONFLICT (agent_uid, key) DO NOTHING`;

/** Canonical uuid text: anything else in a queued event's key is treated as no key (never a failing batch). */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const SELECT_AGENTS = `
SELECT uid::text AS uid, description, capabilities::text AS capabilities, health, effective_config,
       remote_config_status, custom_capabilities, connection_state::text AS connection_state, transport,
       sequence_num::text AS sequence_num, first_seen_at, last_seen_at, disconnected_at,
       replaced_by_uid::text AS replaced_by_uid, enrollment_token_id::text AS enrollment_token_id
FROM agents
WHERE uid IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)`;

export interface FlushResult {
  agents: number;
  /** Event rows inserted (events already stored under their key are not counted). */
  events: number;
}

@Injectable()
export class AgentRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * Upserts the rows and appends the events in one transaction (rows first: events reference them).
   * Idempotent for events with a key: flushing the same events again adds no row.
   */
  async flush(rows: AgentRow[], events: AgentEvent[]): Promise<FlushResult> {
    if (rows.length === 0 && events.length === 0) return { agents: 0, events: 0 };
    const eventRecords = events.map((e, ord) => ({
      agent_uid: e.agentUid,
      key: typeof e.key === 'string' && UUID_RE.test(e.key) ? e.key : null,
      type: e.type,
      at: new Date(e.atMs).toISOString(),
      data: e.data,
      ord,
    }));
    const statements = [];
    if (rows.length > 0) statements.push(this.prisma.$executeRawUnsafe(UPSERT_AGENTS, JSON.stringify(rows)));
    if (eventRecords.length > 0)
      statements.push(this.prisma.$executeRawUnsafe(INSERT_EVENTS, JSON.stringify(eventRecords)));
    const counts = await this.prisma.$transaction(statements);
    return {
      agents: rows.length > 0 ? Number(counts[0]) : 0,
      events: eventRecords.length > 0 ? Number(counts[counts.length - 1]) : 0,
    };
  }

  /** The rows of these uids (canonical strings); missing uids are simply absent. */
  async findMany(uids: string[]): Promise<StoredAgentRow[]> {
    if (uids.length === 0) return [];
    return this.prisma.$queryRawUnsafe<StoredAgentRow[]>(SELECT_AGENTS, JSON.stringify(uids));
  }
}
