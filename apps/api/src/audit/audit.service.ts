// The audit log: one row per mutation through REST or GraphQL (successful, failed, or denied),
// written before the response is sent; queries with filters and CSV/JSON export.
import { Injectable, Logger } from '@nestjs/common';
import { Prisma, PrismaService } from '@opamp/database';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { counter } from '@opamp/telemetry';
import { validationProblem, type InvalidParam } from '../common/problem.js';
import {
  decodeCursor,
  encodeCursor,
  parseLimit,
  queryFingerprint,
  singleParam,
  type Page,
} from '../common/pagination.js';
import type { Principal } from '../auth/roles.js';

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditEntry {
  /** undefined: the caller could not be identified. */
  principal: Principal | undefined;
  action: string;
  resourceType?: string | null;
  resourceId?: string | null;
  interface: 'rest' | 'graphql';
  method?: string | null;
  path?: string | null;
  sourceIp?: string | null;
  userAgent?: string | null;
  outcome: AuditOutcome;
  status?: number | null;
  detail?: Record<string, unknown>;
}

export interface AuditEventView {
  id: string;
  at: string;
  actor: string;
  actorType: string;
  actorName: string | null;
  actorRole: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  interface: string;
  method: string | null;
  path: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  outcome: string;
  status: number | null;
  detail: Record<string, unknown>;
}

export interface AuditFilter {
  actor?: string;
  /** Exact action, or a prefix when it ends with "*" (e.g. "rollouts.*"). */
  action?: string;
  resourceType?: string;
  resourceId?: string;
  outcome?: AuditOutcome;
  since?: Date;
  until?: Date;
}

const auditWrites = counter('opamp_api_audit_events_total', 'Audit log entries written', ['outcome']);
const auditWriteFailures = counter(
  'opamp_api_audit_write_failures_total',
  'Audit log entries that could not be written (Postgres unavailable); the entry is logged instead',
);

const SECRET_FIELD = /token|secret|password|key$|^key|authorization/i;
const MAX_STRING = 256;
const MAX_DEPTH = 3;

/**
 * A request body as the audit log keeps it: secrets replaced by "[redacted]", long strings (file
 * contents) by their length, deep structures cut at depth 3, arrays at 20 items.
 */
export function summarizeBody(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING ? `[${value.length} characters]` : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return Array.isArray(value) ? `[${value.length} items]` : '[object]';
  if (Array.isArray(value)) {
    const out = value.slice(0, 20).map((v) => summarizeBody(v, depth + 1));
    if (value.length > 20) out.push(`[${value.length - 20} more items]`);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_FIELD.test(k) && typeof v === 'string' ? '[redacted]' : summarizeBody(v, depth + 1);
  }
  return out;
}

interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  actorType: string;
  actorRole: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  interface: string;
  method: string | null;
  path: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  outcome: string;
  status: number | null;
  detail: unknown;
}

function view(r: AuditRow): AuditEventView {
  const detail = (r.detail && typeof r.detail === 'object' ? r.detail : {}) as Record<string, unknown>;
  return {
    id: r.id,
    at: r.at.toISOString(),
    actor: r.actor,
    actorType: r.actorType,
    actorName: typeof detail.actorName === 'string' ? detail.actorName : null,
    actorRole: r.actorRole,
    action: r.action,
    resourceType: r.resourceType,
    resourceId: r.resourceId,
    interface: r.interface,
    method: r.method,
    path: r.path,
    sourceIp: r.sourceIp,
    userAgent: r.userAgent,
    outcome: r.outcome,
    status: r.status,
    detail,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FILTERS = ['actor', 'action', 'resourceType', 'resourceId', 'outcome', 'since', 'until'] as const;
const OUTCOMES: readonly AuditOutcome[] = ['success', 'failure', 'denied'];

/** The filters of GET /audit and /audit/export; `extra` names the other allowed parameters. */
export function parseAuditFilter(query: Record<string, unknown>, extra: readonly string[]): AuditFilter {
  const allowed = [...FILTERS, ...extra];
  const problems: InvalidParam[] = Object.keys(query)
    .filter((k) => !allowed.includes(k))
    .map((k) => ({ name: k, reason: `unknown parameter (allowed: ${allowed.join(', ')})` }));
  const filter: AuditFilter = {};
  for (const name of ['actor', 'action', 'resourceType', 'resourceId'] as const) {
    const v = singleParam(name, query[name]);
    if (v === undefined) continue;
    if (v.length === 0 || v.length > 200) problems.push({ name, reason: 'must be 1 to 200 characters' });
    else filter[name] = v;
  }
  const outcome = singleParam('outcome', query.outcome);
  if (outcome !== undefined) {
    if ((OUTCOMES as readonly string[]).includes(outcome)) filter.outcome = outcome as AuditOutcome;
    else problems.push({ name: 'outcome', reason: `must be one of ${OUTCOMES.join(', ')}` });
  }
  for (const name of ['since', 'until'] as const) {
    const v = singleParam(name, query[name]);
    if (v === undefined) continue;
    const t = Date.parse(v);
    if (!Number.isFinite(t))
      problems.push({ name, reason: 'must be an ISO 8601 date-time, e.g. 2026-11-22T10:00:00Z' });
    else filter[name] = new Date(t);
  }
  if (filter.since && filter.until && filter.since > filter.until) {
    problems.push({ name: 'until', reason: 'must not be before since' });
  }
  if (problems.length > 0) throw validationProblem(problems);
  return filter;
}

@Injectable()
export class AuditService {
  private readonly logger = new Logger('Audit');

  constructor(private readonly prisma: PrismaService) {}

  /**
   * Writes one entry. Never throws: when Postgres refuses, the entry goes to the log (and a
   * metric counts it) so the caller's response is not turned into an error after the fact.
   */
  async record(entry: AuditEntry): Promise<void> {
    const p = entry.principal;
    const detail = { ...(entry.detail ?? {}), ...(p ? { actorName: p.name } : {}) };
    const data = {
      id: uidToString(uuidv7()),
      actor: p?.id ?? 'anonymous',
      actorType: p?.type ?? 'anonymous',
      actorRole: p?.role ?? null,
      action: entry.action,
      resourceType: entry.resourceType ?? null,
      resourceId: entry.resourceId ?? null,
      interface: entry.interface,
      method: entry.method ?? null,
      path: entry.path ?? null,
      sourceIp: entry.sourceIp ?? null,
      userAgent: entry.userAgent?.slice(0, 512) ?? null,
      outcome: entry.outcome,
      status: entry.status ?? null,
      detail: detail as Prisma.InputJsonValue,
    };
    try {
      await this.prisma.auditEvent.create({ data });
      auditWrites.inc({ outcome: entry.outcome });
    } catch (err) {
      auditWriteFailures.inc();
      this.logger.error(`audit entry not stored (${(err as Error).message}): ${JSON.stringify(data)}`);
    }
  }

  private where(f: AuditFilter, beforeId?: string): Prisma.AuditEventWhereInput {
    return {
      ...(f.actor ? { actor: f.actor } : {}),
      ...(f.action
        ? f.action.endsWith('*')
          ? { action: { startsWith: f.action.slice(0, -1) } }
          : { action: f.action }
        : {}),
      ...(f.resourceType ? { resourceType: f.resourceType } : {}),
      ...(f.resourceId ? { resourceId: f.resourceId } : {}),
      ...(f.outcome ? { outcome: f.outcome } : {}),
      ...(f.since || f.until
        ? { at: { ...(f.since ? { gte: f.since } : {}), ...(f.until ? { lte: f.until } : {}) } }
        : {}),
      ...(beforeId ? { id: { lt: beforeId } } : {}),
    };
  }

  /** Newest first (ids are UUIDv7, so id order is time order). */
  async list(query: Record<string, unknown>): Promise<Page<AuditEventView>> {
    const filter = parseAuditFilter(query, ['limit', 'cursor']);
    const limit = parseLimit(singleParam('limit', query.limit));
    const fingerprint = queryFingerprint(['audit', filter]);
    const raw = singleParam('cursor', query.cursor);
    const before = raw ? decodeCursor(raw, fingerprint, (k) => UUID.test(k)) : undefined;
    const rows = (await this.prisma.auditEvent.findMany({
      where: this.where(filter, before),
      orderBy: { id: 'desc' },
      take: limit + 1,
    })) as AuditRow[];
    const page = rows.slice(0, limit);
    return {
      items: page.map(view),
      nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id, fingerprint) : null,
    };
  }

  /** Every matching entry, newest first, in batches (for the export). */
  async *scan(filter: AuditFilter, batch = 1000): AsyncGenerator<AuditEventView> {
    let before: string | undefined;
    for (;;) {
      const rows = (await this.prisma.auditEvent.findMany({
        where: this.where(filter, before),
        orderBy: { id: 'desc' },
        take: batch,
      })) as AuditRow[];
      for (const r of rows) yield view(r);
      if (rows.length < batch) return;
      before = rows[rows.length - 1]!.id;
    }
  }
}

/** Every field of an audit entry, in the order of the CSV export's columns and the GraphQL type. */
export const AUDIT_EVENT_FIELDS = [
  'id',
  'at',
  'actor',
  'actorType',
  'actorName',
  'actorRole',
  'action',
  'resourceType',
  'resourceId',
  'interface',
  'method',
  'path',
  'sourceIp',
  'userAgent',
  'outcome',
  'status',
  'detail',
] as const satisfies ReadonlyArray<keyof AuditEventView>;

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  // A leading =, +, - or @ would be a formula in a spreadsheet: prefix it with a quote.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvRow(e: AuditEventView): string {
  return AUDIT_EVENT_FIELDS.map((c) => csvField(e[c])).join(',') + '\r\n';
}
