import { Injectable } from '@nestjs/common';
import { formatLabelSelector } from '@opamp/domain';
import { ProblemException, ProblemType, agentNotFound } from '../common/problem.js';
import {
  decodeCursor,
  encodeCursor,
  parseLimit,
  queryFingerprint,
  singleParam,
  type Page,
} from '../common/pagination.js';
import {
  agentDetailView,
  agentEventView,
  agentSummaryView,
  type AgentDetailView,
  type AgentEventView,
  type AgentSummaryView,
} from './agent.view.js';
import { AgentsRepository, sortValueOf, type AgentKeyset } from './agents.repository.js';
import { formatAgentSort, isAgentUid, type ListAgentsQuery } from './agents.query.js';

/** What an agents cursor holds: the sort it belongs to and the keyset of the last agent returned. */
interface AgentCursorKey {
  s: string;
  v: string | null;
  u: string;
}

function parseCursorKey(raw: string): AgentCursorKey | undefined {
  let k: unknown;
  try {
    k = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof k !== 'object' || k === null) return undefined;
  const { s, v, u } = k as Partial<AgentCursorKey>;
  if (typeof s !== 'string' || typeof u !== 'string' || !isAgentUid(u)) return undefined;
  if (v !== null && typeof v !== 'string') return undefined;
  // Timestamps must be what the API wrote (ISO 8601 in UTC), never text that Postgres would misread.
  if (
    /^-?(lastSeenAt|firstSeenAt)$/.test(s) &&
    (v === null || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v))
  )
    return undefined;
  return { s, v: v ?? null, u };
}

@Injectable()
export class AgentsService {
  constructor(private readonly repo: AgentsRepository) {}

  async list(q: ListAgentsQuery): Promise<Page<AgentSummaryView>> {
    // The filters identify the query (a cursor replayed with other filters is refused); the sort
    // is recorded in the cursor itself, so that a change of sort gets its own clear refusal.
    const fingerprint = queryFingerprint({
      s: formatLabelSelector(q.selector),
      st: q.states,
      h: q.health,
      t: q.agentTypes,
      v: q.versions,
      cb: q.capabilities.bits.toString(),
      cc: q.capabilities.custom,
      q: q.q ?? null,
    });
    const sort = formatAgentSort(q.sort);
    let after: AgentKeyset | undefined;
    if (q.cursor !== undefined) {
      const key = parseCursorKey(decodeCursor(q.cursor, fingerprint, (k) => parseCursorKey(k) !== undefined))!;
      if (key.s !== sort) {
        const detail = `the cursor belongs to sort=${key.s}, not sort=${sort}; repeat the original sort or start without a cursor`;
        throw new ProblemException({
          type: ProblemType.invalidCursor,
          title: 'Invalid cursor',
          status: 400,
          detail,
          invalidParams: [{ name: 'cursor', reason: detail }],
        });
      }
      after = { value: key.v, uid: key.u };
    }
    const rows = await this.repo.list({ ...q, after });
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const nextCursor =
      rows.length > q.limit && last
        ? encodeCursor(
            JSON.stringify({ s: sort, v: sortValueOf(last, q.sort.field), u: last.uid } satisfies AgentCursorKey),
            fingerprint,
          )
        : null;
    return { items: page.map(agentSummaryView), nextCursor };
  }

  async get(uid: string): Promise<AgentDetailView> {
    const row = await this.repo.findByUid(uid);
    if (!row) throw agentNotFound(uid);
    return agentDetailView(row);
  }

  async events(uid: string, query: Record<string, unknown>): Promise<Page<AgentEventView>> {
    const limit = parseLimit(query.limit);
    const cursor = singleParam('cursor', query.cursor);
    const fingerprint = queryFingerprint({ events: uid });
    const before =
      cursor === undefined ? undefined : BigInt(decodeCursor(cursor, fingerprint, (k) => /^\d{1,19}$/.test(k)));
    const rows = await this.repo.events(uid, limit, before);
    // Events reference their agent (foreign key), so only an empty page needs the existence check.
    if (rows.length === 0 && !(await this.repo.exists(uid))) throw agentNotFound(uid);
    const page = rows.slice(0, limit);
    const nextCursor = rows.length > limit ? encodeCursor(page[page.length - 1]!.id.toString(), fingerprint) : null;
    return { items: page.map(agentEventView), nextCursor };
  }
}
