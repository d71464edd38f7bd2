// Validation of path, query and body input of the agents routes. Every failure is a 400 problem
// whose detail names the parameter and says what is wrong.
import { LabelSelectorError, parseLabelSelector, type LabelSelector } from '@opamp/domain';
import { ProblemException, ProblemType, validationProblem } from '../common/problem.js';
import { parseLimit, singleParam } from '../common/pagination.js';
import type { ConnectionStateFilter } from './agents.repository.js';

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STATES: readonly ConnectionStateFilter[] = ['connected', 'disconnected', 'offline'];

/** True for a uid in canonical 8-4-4-4-12 form (any case). */
export function isAgentUid(raw: string): boolean {
  return CANONICAL_UUID.test(raw);
}

/** The agent uid path parameter in canonical 8-4-4-4-12 form (any case); returned lower-case. */
export function parseAgentUid(raw: string): string {
  if (!isAgentUid(raw)) {
    throw new ProblemException({
      type: ProblemType.invalidUid,
      title: 'Invalid agent uid',
      status: 400,
      detail: `"${raw.length > 64 ? `${raw.slice(0, 64)}…` : raw}" is not an agent uid: use the canonical UUID form, e.g. 0192e3a4-5b6c-7d8e-9f01-23456789abcd.`,
      invalidParams: [{ name: 'uid', reason: 'must be a UUID in canonical 8-4-4-4-12 hex form' }],
    });
  }
  return raw.toLowerCase();
}

export function parseSelector(raw: unknown): LabelSelector {
  const text = singleParam('selector', raw);
  if (text === undefined) return [];
  try {
    return parseLabelSelector(text);
  } catch (err) {
    if (err instanceof LabelSelectorError) {
      const reason = `${err.message} (at character ${err.position + 1})`;
      throw validationProblem([{ name: 'selector', reason }], ProblemType.invalidSelector, 'Invalid label selector');
    }
    throw err;
  }
}

/** `status=connected,offline` or repeated `status=` parameters. */
export function parseStates(raw: unknown): ConnectionStateFilter[] {
  if (raw === undefined) return [];
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (typeof v === 'string' ? v.split(',') : [String(v)]));
  const out = new Set<ConnectionStateFilter>();
  for (const p of parts.map((s) => s.trim()).filter((s) => s !== '')) {
    if (!(STATES as readonly string[]).includes(p)) {
      throw validationProblem([
        {
          name: 'status',
          reason: `unknown connection state "${p}"; use ${STATES.join(', ')} (comma-separated for several)`,
        },
      ]);
    }
    out.add(p as ConnectionStateFilter);
  }
  return [...out].sort();
}

export interface ListAgentsQuery {
  selector: LabelSelector;
  states: ConnectionStateFilter[];
  limit: number;
  cursor: string | undefined;
}

export function parseListAgentsQuery(q: Record<string, unknown>): ListAgentsQuery {
  return {
    selector: parseSelector(q.selector),
    states: parseStates(q.status),
    limit: parseLimit(q.limit),
    cursor: singleParam('cursor', q.cursor),
  };
}

export interface CustomMessageInput {
  capability: string;
  type: string;
  data: Uint8Array;
}

const MAX_CUSTOM_DATA_BYTES = 1024 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Body of POST /agents/{uid}/custom-messages: { capability, type, data (base64) }. */
export function parseCustomMessageBody(body: unknown): CustomMessageInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationProblem([
      {
        name: 'body',
        reason: 'must be a JSON object {"capability", "type", "data"} sent with Content-Type: application/json',
      },
    ]);
  }
  const b = body as Record<string, unknown>;
  const problems: Array<{ name: string; reason: string }> = [];
  for (const key of Object.keys(b)) {
    if (!['capability', 'type', 'data'].includes(key))
      problems.push({ name: key, reason: 'unknown field (allowed: capability, type, data)' });
  }
  const text = (name: 'capability' | 'type'): string => {
    const v = b[name];
    if (typeof v !== 'string' || v.trim() === '') {
      problems.push({ name, reason: 'is required and must be a non-empty string' });
      return '';
    }
    if (v.length > 256) problems.push({ name, reason: 'must be at most 256 characters' });
    return v;
  };
  const capability = text('capability');
  const type = text('type');
  let data = new Uint8Array(0);
  const rawData = b.data ?? '';
  if (typeof rawData !== 'string' || !BASE64.test(rawData)) {
    problems.push({ name: 'data', reason: 'must be a standard base64 string (padding included)' });
  } else {
    data = Uint8Array.from(Buffer.from(rawData, 'base64'));
    if (data.length > MAX_CUSTOM_DATA_BYTES)
      problems.push({ name: 'data', reason: `must decode to at most ${MAX_CUSTOM_DATA_BYTES} bytes` });
  }
  if (problems.length > 0) throw validationProblem(problems);
  return { capability, type, data };
}
