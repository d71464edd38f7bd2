// GET /api/v1/fleet/summary: counts over the whole fleet (or the agents a selector matches) in
// one SQL statement. One pass over `agents` joined to `agent_desired_configs` (which Postgres may
// split over parallel workers) counts the agents per combination of connection status, health,
// agent type, service version, effective config hash and drift category; the few combinations
// are then summed per dimension.
//
// Drift compares, per agent, three hashes: the desired config (agent_desired_configs.hash), the
// config the agent last reported about (remote_config_status.lastRemoteConfigHash, with its
// status) and the config it runs (effective_config.hash). Each agent is in exactly one category:
//
//   noDesired         no desired config is set for the agent (nothing to drift from)
//   pendingApply      the agent has not (yet) reported APPLIED for the desired hash: it reported
//                     about another hash, or APPLYING / UNSET for this one; an agent that reports
//                     no remote config status at all counts here until its effective config is
//                     the desired one
//   applyFailed       the agent reported FAILED for the desired hash
//   effectiveDiffers  the agent reported APPLIED for the desired hash, but the effective config it
//                     reports has another hash (it rewrote or merged the config it was given)
//   inSync            APPLIED for the desired hash, and the effective config is that config (or
//                     the agent does not report an effective config); also an agent without
//                     remote config status whose effective config is the desired one
import { Injectable } from '@nestjs/common';
import { Prisma, PrismaService, selectorConditions } from '@opamp/database';
import type { LabelSelector } from '@opamp/domain';

export const DRIFT_CATEGORIES = ['inSync', 'pendingApply', 'applyFailed', 'effectiveDiffers', 'noDesired'] as const;
export type DriftCategory = (typeof DRIFT_CATEGORIES)[number];

const STATUSES = ['connected', 'disconnected', 'offline'] as const;
const HEALTH = ['healthy', 'unhealthy', 'unknown'] as const;

export interface FleetSummary {
  /** Agents counted (superseded uids left out). */
  total: number;
  status: Record<(typeof STATUSES)[number], number>;
  health: Record<(typeof HEALTH)[number], number>;
  agentTypes: Record<string, number>;
  versions: {
    /** The most common (service.name, service.version) pairs, most common first. */
    top: Array<{ serviceName: string | null; serviceVersion: string | null; count: number }>;
    /** Agents of every other pair. */
    other: number;
    /** Distinct pairs. */
    distinct: number;
  };
  configHashes: {
    /** The most common effective config hashes, most common first. */
    top: Array<{ hash: string; count: number }>;
    other: number;
    /** Agents that reported no effective config. */
    none: number;
    distinct: number;
  };
  drift: Record<DriftCategory, number>;
  generatedAt: string;
}

export interface FleetSummaryQuery {
  selector: LabelSelector;
  /** How many versions and config hashes to list before "other". */
  top: number;
}

interface Row {
  dim: string;
  k1: string | null;
  k2: string | null;
  n: number;
}

/** The drift category (see the top of this file) from the desired (d.hash), reported (x.rh, x.rs) and effective (x.eh) hashes. */
const DRIFT_SQL = Prisma.sql`CASE
  WHEN d.hash IS NULL OR d.hash = '' THEN 'noDesired'
  WHEN COALESCE(x.rh, '') = '' THEN CASE WHEN x.eh = d.hash THEN 'inSync' ELSE 'pendingApply' END
  WHEN x.rh <> d.hash THEN 'pendingApply'
  WHEN x.rs = 'FAILED' THEN 'applyFailed'
  WHEN x.rs IS DISTINCT FROM 'APPLIED' THEN 'pendingApply'
  WHEN x.eh IS NOT NULL AND x.eh <> d.hash THEN 'effectiveDiffers'
  ELSE 'inSync'
END`;

@Injectable()
export class FleetSummaryService {
  constructor(private readonly prisma: PrismaService) {}

  async summary(q: FleetSummaryQuery): Promise<FleetSummary> {
    const where = [Prisma.sql`a.replaced_by_uid IS NULL`, ...selectorConditions(q.selector)];
    const rows = await this.prisma.$queryRaw<Row[]>`
      WITH c AS MATERIALIZED (
        SELECT agent_type, service_name, service_version, status, health, effective_hash, drift, count(*)::int AS n
        FROM (
          SELECT a.agent_type, a.service_name, a.service_version, a.connection_state::text AS status,
                 CASE WHEN a.healthy THEN 'healthy' WHEN NOT a.healthy THEN 'unhealthy' ELSE 'unknown' END AS health,
                 x.eh AS effective_hash,
                 ${DRIFT_SQL} AS drift
          FROM agents a
          LEFT JOIN agent_desired_configs d ON d.agent_uid = a.uid
          CROSS JOIN LATERAL (
            SELECT a.effective_config ->> 'hash' AS eh,
                   a.remote_config_status ->> 'lastRemoteConfigHash' AS rh,
                   a.remote_config_status ->> 'status' AS rs
          ) x
          WHERE ${Prisma.join(where, ' AND ')}
        ) per_agent
        GROUP BY 1, 2, 3, 4, 5, 6, 7
      ),
      versions AS (SELECT service_name, service_version, sum(n)::int AS n FROM c GROUP BY 1, 2),
      hashes AS (SELECT effective_hash, sum(n)::int AS n FROM c WHERE effective_hash IS NOT NULL GROUP BY 1)
      SELECT 'total' AS dim, NULL::text AS k1, NULL::text AS k2, COALESCE(sum(n), 0)::int AS n FROM c
      UNION ALL SELECT 'status', status, NULL, sum(n)::int FROM c GROUP BY status
      UNION ALL SELECT 'health', health, NULL, sum(n)::int FROM c GROUP BY health
      UNION ALL SELECT 'type', agent_type, NULL, sum(n)::int FROM c GROUP BY agent_type
      UNION ALL SELECT 'drift', drift, NULL, sum(n)::int FROM c GROUP BY drift
      UNION ALL SELECT 'noHash', NULL, NULL, COALESCE(sum(n), 0)::int FROM c WHERE effective_hash IS NULL
      UNION ALL (SELECT 'version', service_name, service_version, n FROM versions
                 ORDER BY n DESC, service_name NULLS LAST, service_version NULLS LAST LIMIT ${q.top}::int)
      UNION ALL SELECT 'versions', NULL, NULL, count(*)::int FROM versions
      UNION ALL (SELECT 'hash', effective_hash, NULL, n FROM hashes ORDER BY n DESC, effective_hash LIMIT ${q.top}::int)
      UNION ALL SELECT 'hashes', NULL, NULL, count(*)::int FROM hashes`;
    return summaryFromRows(rows);
  }
}

/** Assembles the summary from the (dim, k1, k2, n) rows of the statement above. */
export function summaryFromRows(rows: readonly Row[]): FleetSummary {
  const zero = <K extends string>(keys: readonly K[]): Record<K, number> =>
    Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  const out: FleetSummary = {
    total: 0,
    status: zero(STATUSES),
    health: zero(HEALTH),
    agentTypes: {},
    versions: { top: [], other: 0, distinct: 0 },
    configHashes: { top: [], other: 0, none: 0, distinct: 0 },
    drift: zero(DRIFT_CATEGORIES),
    generatedAt: new Date().toISOString(),
  };
  for (const r of rows) {
    const n = Number(r.n);
    switch (r.dim) {
      case 'total':
        out.total = n;
        break;
      case 'status':
        out.status[r.k1 as (typeof STATUSES)[number]] = n;
        break;
      case 'health':
        out.health[r.k1 as (typeof HEALTH)[number]] = n;
        break;
      case 'type':
        out.agentTypes[r.k1 ?? ''] = n;
        break;
      case 'drift':
        out.drift[r.k1 as DriftCategory] = n;
        break;
      case 'noHash':
        out.configHashes.none = n;
        break;
      case 'version':
        out.versions.top.push({ serviceName: r.k1, serviceVersion: r.k2, count: n });
        break;
      case 'versions':
        out.versions.distinct = n;
        break;
      case 'hash':
        out.configHashes.top.push({ hash: r.k1 ?? '', count: n });
        break;
      case 'hashes':
        out.configHashes.distinct = n;
        break;
    }
  }
  // UNION ALL keeps each branch's order in practice but does not promise it: sort again.
  out.versions.top.sort(
    (a, b) =>
      b.count - a.count ||
      (a.serviceName ?? '\uffff').localeCompare(b.serviceName ?? '\uffff') ||
      (a.serviceVersion ?? '\uffff').localeCompare(b.serviceVersion ?? '\uffff'),
  );
  out.configHashes.top.sort((a, b) => b.count - a.count || a.hash.localeCompare(b.hash));
  out.versions.other = out.total - out.versions.top.reduce((s, v) => s + v.count, 0);
  out.configHashes.other = out.total - out.configHashes.none - out.configHashes.top.reduce((s, h) => s + h.count, 0);
  return out;
}
