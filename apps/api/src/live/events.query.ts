// Input of GET /api/v1/events (SSE): which events, filtered how, resumed from where. Every
// failure is a 400 problem naming the parameter.
import { isAgentUid, parseSelector } from '../agents/agents.query.js';
import { singleParam } from '../common/pagination.js';
import { validationProblem } from '../common/problem.js';
import { isRolloutId } from '../rollouts/rollouts.query.js';
import {
  LIVE_TYPES,
  isLiveType,
  parseLiveEventId,
  type LiveEventId,
  type LiveFilter,
  type LiveType,
} from './live-events.js';

/** `types=agent,rollout` (or repeated); default: every type. */
export function parseLiveTypes(raw: unknown): Set<LiveType> {
  if (raw === undefined) return new Set(LIVE_TYPES);
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (typeof v === 'string' ? v.split(',') : [String(v)]));
  const out = new Set<LiveType>();
  for (const p of parts.map((s) => s.trim()).filter((s) => s !== '')) {
    if (!isLiveType(p)) {
      throw validationProblem([
        { name: 'types', reason: `unknown event type "${p}"; use ${LIVE_TYPES.join(', ')} (comma-separated)` },
      ]);
    }
    out.add(p);
  }
  if (out.size === 0)
    throw validationProblem([{ name: 'types', reason: `name at least one of ${LIVE_TYPES.join(', ')}` }]);
  return out;
}

/** GET /api/v1/events?types=&rollout=&agent=&selector= */
export function parseEventsQuery(q: Record<string, unknown>): LiveFilter {
  const types = parseLiveTypes(q.types);
  const rollout = singleParam('rollout', q.rollout);
  const agent = singleParam('agent', q.agent);
  const problems: Array<{ name: string; reason: string }> = [];
  if (rollout !== undefined && !isRolloutId(rollout)) {
    problems.push({ name: 'rollout', reason: 'must be a rollout id (a UUID)' });
  }
  if (agent !== undefined && !isAgentUid(agent)) {
    problems.push({ name: 'agent', reason: 'must be an agent uid in canonical 8-4-4-4-12 hex form' });
  }
  if (problems.length > 0) throw validationProblem(problems);
  const selector = parseSelector(q.selector);
  return {
    types,
    ...(rollout !== undefined ? { rolloutId: rollout.toLowerCase() } : {}),
    ...(agent !== undefined ? { agentUid: agent.toLowerCase() } : {}),
    ...(selector.length > 0 ? { selector } : {}),
  };
}

/** The Last-Event-ID header (or `lastEventId` query parameter): where to resume; undefined: live only. */
export function parseLastEventId(header: string | undefined, query: unknown): LiveEventId | undefined {
  const raw = header ?? singleParam('lastEventId', query);
  if (raw === undefined || raw.trim() === '') return undefined;
  const id = parseLiveEventId(raw.trim());
  if (!id) {
    throw validationProblem([
      {
        name: 'Last-Event-ID',
        reason: `must be the id of an event this stream sent, e.g. "rollout:1732000000000-0", got ${JSON.stringify(raw.slice(0, 80))}`,
      },
    ]);
  }
  return id;
}
