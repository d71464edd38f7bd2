// Validation of the rollouts routes' input (shape only; the store checks meaning). Every failure
// is a 400 problem naming the parameter or body field and saying what is wrong.
import type { RolloutStateName } from '@opamp/domain';
import { MAX_REASON_LENGTH, ROLLOUT_STATES } from '@opamp/rollouts';
import { parseLimit, singleParam } from '../common/pagination.js';
import { validationProblem, type InvalidParam } from '../common/problem.js';

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_CONFIG_REF_LENGTH = 253;
const CREATE_FIELDS = ['config', 'version', 'selector', 'strategy', 'dryRun'] as const;

export interface CreateRolloutBody {
  /** Config name or id. */
  config: string;
  version: number;
  selector: string;
  strategy?: unknown;
  dryRun: boolean;
}

function requireObject(body: unknown, shape: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationProblem([
      { name: 'body', reason: `must be a JSON object ${shape} sent with Content-Type: application/json` },
    ]);
  }
  return body as Record<string, unknown>;
}

/** Body of POST /api/v1/rollouts: { config, version, selector, strategy?, dryRun? }. */
export function parseCreateRolloutBody(body: unknown): CreateRolloutBody {
  const b = requireObject(body, '{"config", "version", "selector", "strategy"?, "dryRun"?}');
  const problems: InvalidParam[] = [];
  for (const key of Object.keys(b)) {
    if (!(CREATE_FIELDS as readonly string[]).includes(key)) {
      problems.push({ name: key, reason: `unknown field (allowed: ${CREATE_FIELDS.join(', ')})` });
    }
  }
  const { config, version, selector, strategy, dryRun } = b;
  if (typeof config !== 'string' || config.trim() === '') {
    problems.push({ name: 'config', reason: 'is required: the name (or id) of the config to roll out' });
  } else if (config.length > MAX_CONFIG_REF_LENGTH) {
    problems.push({ name: 'config', reason: `must be at most ${MAX_CONFIG_REF_LENGTH} characters` });
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 2_147_483_647) {
    problems.push({
      name: 'version',
      reason: `is required: the version number to roll out (a whole number from 1), got ${JSON.stringify(version) ?? 'nothing'}`,
    });
  }
  if (typeof selector !== 'string') {
    problems.push({
      name: 'selector',
      reason: 'is required: a label selector such as "env=prod,region in (eu,us)" ("" selects every agent)',
    });
  }
  if (dryRun !== undefined && typeof dryRun !== 'boolean') {
    problems.push({ name: 'dryRun', reason: 'must be true or false' });
  }
  if (problems.length > 0) throw validationProblem(problems);
  return {
    config: config as string,
    version: version as number,
    selector: selector as string,
    strategy: strategy ?? undefined,
    dryRun: dryRun === true,
  };
}

/** Optional body of the control routes: { reason? }. An empty body is fine. */
export function parseControlBody(body: unknown): { reason?: string } {
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) return {};
  const b = requireObject(body, '{"reason"?}');
  const problems: InvalidParam[] = [];
  for (const key of Object.keys(b)) {
    if (key !== 'reason') problems.push({ name: key, reason: 'unknown field (allowed: reason)' });
  }
  const reason = b.reason;
  if (reason !== undefined && (typeof reason !== 'string' || reason.trim() === '')) {
    problems.push({ name: 'reason', reason: 'must be a non-empty string' });
  } else if (typeof reason === 'string' && reason.length > MAX_REASON_LENGTH) {
    problems.push({ name: 'reason', reason: `must be at most ${MAX_REASON_LENGTH} characters` });
  }
  if (problems.length > 0) throw validationProblem(problems);
  return reason === undefined ? {} : { reason: reason as string };
}

export interface ListRolloutsQuery {
  states: RolloutStateName[];
  config: string | undefined;
  limit: number;
  cursor: string | undefined;
}

/** `state=running,paused` or repeated `state=` parameters. */
export function parseRolloutStates(raw: unknown): RolloutStateName[] {
  if (raw === undefined) return [];
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (typeof v === 'string' ? v.split(',') : [String(v)]));
  const out = new Set<RolloutStateName>();
  for (const p of parts.map((s) => s.trim()).filter((s) => s !== '')) {
    if (!(ROLLOUT_STATES as readonly string[]).includes(p)) {
      throw validationProblem([
        {
          name: 'state',
          reason: `unknown rollout state "${p}"; use ${ROLLOUT_STATES.join(', ')} (comma-separated for several)`,
        },
      ]);
    }
    out.add(p as RolloutStateName);
  }
  return [...out].sort();
}

/** GET /api/v1/rollouts?state=&config=&limit=&cursor= */
export function parseListRolloutsQuery(q: Record<string, unknown>): ListRolloutsQuery {
  const config = singleParam('config', q.config);
  if (config !== undefined && (config.trim() === '' || config.length > MAX_CONFIG_REF_LENGTH)) {
    throw validationProblem([
      { name: 'config', reason: `must be a config name or id (1 to ${MAX_CONFIG_REF_LENGTH} characters)` },
    ]);
  }
  return {
    states: parseRolloutStates(q.state),
    config,
    limit: parseLimit(q.limit),
    cursor: singleParam('cursor', q.cursor),
  };
}

/** Rollout ids are UUIDs; anything else cannot name a rollout. */
export function isRolloutId(raw: string): boolean {
  return CANONICAL_UUID.test(raw);
}

/** Cursor key of the rollout listing: `<created_at ISO>|<id>`. */
export function rolloutCursorKey(createdAt: Date, id: string): string {
  return `${createdAt.toISOString()}|${id}`;
}

export function parseRolloutCursorKey(key: string): { createdAt: Date; id: string } | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9a-f-]{36})$/i.exec(key);
  if (!m || !isRolloutId(m[2]!)) return undefined;
  const createdAt = new Date(m[1]!);
  return Number.isNaN(createdAt.getTime()) ? undefined : { createdAt, id: m[2]!.toLowerCase() };
}
