import { Injectable } from '@nestjs/common';
import { formatLabelSelector } from '@opamp/domain';
import { agentNotFound } from '../common/problem.js';
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
import { AgentsRepository } from './agents.repository.js';
import { isAgentUid, type ListAgentsQuery } from './agents.query.js';

@Injectable()
export class AgentsService {
  constructor(private readonly repo: AgentsRepository) {}

  async list(q: ListAgentsQuery): Promise<Page<AgentSummaryView>> {
    const fingerprint = queryFingerprint({ s: formatLabelSelector(q.selector), st: q.states });
    const afterUid = q.cursor === undefined ? undefined : decodeCursor(q.cursor, fingerprint, isAgentUid);
    const rows = await this.repo.list({ selector: q.selector, states: q.states, afterUid, limit: q.limit });
    const page = rows.slice(0, q.limit);
    const nextCursor = rows.length > q.limit ? encodeCursor(page[page.length - 1]!.uid, fingerprint) : null;
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
