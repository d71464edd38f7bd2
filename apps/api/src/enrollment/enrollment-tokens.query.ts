// Validation of the enrollment-token routes' input. Shape problems (missing or unknown fields,
// wrong types, an expiry in the past) are 400; labels that break the Kubernetes label syntax are
// 422 with the same problem type as PUT /agents/{uid}/labels.
import { invalidLabels, MAX_API_LABELS, syntaxProblems } from '../agents/agent-labels.service.js';
import { isUuid, parseExpiry } from '../auth/api-keys.service.js';
import { parseLimit, singleParam } from '../common/pagination.js';
import { validationProblem, type InvalidParam } from '../common/problem.js';

export const MAX_TOKEN_NAME = 100;
const CREATE_FIELDS = ['name', 'labels', 'expiresAt', 'ttlSeconds'] as const;
const LIST_PARAMS = ['includeRevoked', 'limit', 'cursor'] as const;

export interface CreateEnrollmentTokenInput {
  name: string;
  labels: Record<string, string>;
  /** null: never expires. */
  expiresAt: Date | null;
}

export interface ListEnrollmentTokensQuery {
  includeRevoked: boolean;
  limit: number;
  cursor: string | undefined;
}

/** Body of POST /api/v1/enrollment-tokens: { name, labels?, expiresAt? | ttlSeconds? }. */
export function parseCreateEnrollmentTokenBody(body: unknown, nowMs = Date.now()): CreateEnrollmentTokenInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationProblem([
      {
        name: 'body',
        reason:
          'must be a JSON object {"name", "labels"?, "expiresAt"? | "ttlSeconds"?} sent with Content-Type: application/json',
      },
    ]);
  }
  const b = body as Record<string, unknown>;
  const problems: InvalidParam[] = Object.keys(b)
    .filter((k) => !(CREATE_FIELDS as readonly string[]).includes(k))
    .map((k) => ({ name: k, reason: `unknown field (allowed: ${CREATE_FIELDS.join(', ')})` }));

  const name = typeof b.name === 'string' ? b.name.trim() : '';
  if (name.length === 0 || name.length > MAX_TOKEN_NAME) {
    problems.push({
      name: 'name',
      reason: `is required: 1 to ${MAX_TOKEN_NAME} characters saying which agents use the token`,
    });
  }

  let entries: Array<[string, string]> = [];
  if (b.labels !== undefined && b.labels !== null) {
    if (typeof b.labels !== 'object' || Array.isArray(b.labels)) {
      problems.push({ name: 'labels', reason: 'must be an object of string values, e.g. {"env": "prod"}' });
    } else {
      const raw = Object.entries(b.labels as Record<string, unknown>);
      for (const [k, v] of raw) {
        if (typeof v !== 'string') problems.push({ name: `labels[${JSON.stringify(k)}]`, reason: 'must be a string' });
      }
      if (raw.length > MAX_API_LABELS) problems.push({ name: 'labels', reason: `at most ${MAX_API_LABELS} labels` });
      entries = raw.filter((e): e is [string, string] => typeof e[1] === 'string');
    }
  }

  const expiresAt = parseExpiry(b, nowMs, problems);
  if (problems.length > 0) throw validationProblem(problems);

  const syntax = syntaxProblems(entries);
  if (syntax.length > 0) throw invalidLabels(syntax);
  return { name, labels: Object.fromEntries(entries), expiresAt };
}

/** GET /api/v1/enrollment-tokens?includeRevoked=&limit=&cursor= */
export function parseListEnrollmentTokensQuery(query: Record<string, unknown>): ListEnrollmentTokensQuery {
  const unknown = Object.keys(query).filter((k) => !(LIST_PARAMS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw validationProblem(
      unknown.map((k) => ({ name: k, reason: `unknown parameter (allowed: ${LIST_PARAMS.join(', ')})` })),
    );
  }
  const includeRevoked = singleParam('includeRevoked', query.includeRevoked);
  if (includeRevoked !== undefined && includeRevoked !== 'true' && includeRevoked !== 'false') {
    throw validationProblem([{ name: 'includeRevoked', reason: 'must be true or false' }]);
  }
  return {
    includeRevoked: includeRevoked === 'true',
    limit: parseLimit(singleParam('limit', query.limit)),
    cursor: singleParam('cursor', query.cursor),
  };
}

/** Token ids are UUIDs (v7, so they sort by creation time). */
export const isEnrollmentTokenId = isUuid;
