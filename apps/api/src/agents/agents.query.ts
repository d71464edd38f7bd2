// Validation of path, query and body input of the agents routes. Every failure is a 400 problem
// whose detail names the parameter and says what is wrong.
import { AGENT_TYPES, LabelSelectorError, parseLabelSelector, type LabelSelector } from '@opamp/domain';
import { AgentCapability, type AgentCapabilityName } from '@opamp/protocol';
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

/** Values of a list parameter: `p=a,b` or repeated `p=a&p=b`, trimmed, empty parts dropped. */
function listParam(raw: unknown): string[] {
  if (raw === undefined) return [];
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (typeof v === 'string' ? v.split(',') : [String(v)]));
  return parts.map((s) => s.trim()).filter((s) => s !== '');
}

/** Sorted, deduplicated values of a list parameter, each one of `allowed`. */
function enumList<T extends string>(name: string, raw: unknown, allowed: readonly T[], what: string): T[] {
  const out = new Set<T>();
  for (const v of listParam(raw)) {
    if (!(allowed as readonly string[]).includes(v)) {
      throw validationProblem([
        { name, reason: `unknown ${what} "${clip(v)}"; use ${allowed.join(', ')} (comma-separated for several)` },
      ]);
    }
    out.add(v as T);
  }
  return [...out].sort();
}

const clip = (v: string): string => (v.length > 64 ? `${v.slice(0, 64)}…` : v);
const MAX_TEXT = 256;

export const HEALTH_FILTERS = ['healthy', 'unhealthy', 'unknown'] as const;
export type HealthFilter = (typeof HEALTH_FILTERS)[number];

export const AGENT_SORT_FIELDS = [
  'uid',
  'lastSeenAt',
  'firstSeenAt',
  'hostName',
  'serviceName',
  'agentType',
  'serviceVersion',
] as const;
export type AgentSortField = (typeof AGENT_SORT_FIELDS)[number];

export interface AgentSort {
  field: AgentSortField;
  descending: boolean;
}

/** The `sort` parameter as it is written (`-lastSeenAt`): part of every cursor. */
export function formatAgentSort(sort: AgentSort): string {
  return `${sort.descending ? '-' : ''}${sort.field}`;
}

/** `sort=field` or `sort=-field` (descending); default uid. */
export function parseAgentSort(raw: unknown): AgentSort {
  const text = singleParam('sort', raw)?.trim();
  if (text === undefined || text === '') return { field: 'uid', descending: false };
  const descending = text.startsWith('-');
  const field = descending ? text.slice(1) : text;
  if (!(AGENT_SORT_FIELDS as readonly string[]).includes(field)) {
    throw validationProblem([
      {
        name: 'sort',
        reason: `unknown sort "${clip(text)}"; use one of ${AGENT_SORT_FIELDS.join(', ')}, with a "-" prefix for descending (e.g. -lastSeenAt)`,
      },
    ]);
  }
  return { field: field as AgentSortField, descending };
}

export interface CapabilityFilter {
  /** AgentCapabilities bits that must all be set (0n: none required). */
  bits: bigint;
  /** Custom capabilities (reverse-DNS names) that must all be declared. */
  custom: string[];
}

const CAPABILITY_NAMES = Object.keys(AgentCapability) as AgentCapabilityName[];

/**
 * `capability=AcceptsRestartCommand,io.opampcp.simulator.echo`: agents that have every listed
 * capability. A name of AgentCapabilities is a bit of the capabilities field; a custom capability
 * is written in reverse-DNS form (it contains a "."), as OpAMP asks of custom capabilities.
 */
export function parseCapabilities(raw: unknown): CapabilityFilter {
  let bits = 0n;
  const custom = new Set<string>();
  for (const v of listParam(raw)) {
    if (Object.hasOwn(AgentCapability, v)) {
      bits |= AgentCapability[v as AgentCapabilityName];
    } else if (v.includes('.') && v.length <= MAX_TEXT && !/\s/.test(v)) {
      custom.add(v);
    } else {
      throw validationProblem([
        {
          name: 'capability',
          reason:
            `unknown capability "${clip(v)}"; use an AgentCapabilities name (${CAPABILITY_NAMES.join(', ')}) ` +
            'or a custom capability in reverse-DNS form without spaces (e.g. io.opentelemetry.echo, at most 256 characters)',
        },
      ]);
    }
  }
  return { bits, custom: [...custom].sort() };
}

/** Free text: trimmed, at most 256 characters; undefined when empty. */
export function parseSearchText(raw: unknown): string | undefined {
  const text = singleParam('q', raw)?.trim();
  if (text === undefined || text === '') return undefined;
  if (text.length > MAX_TEXT)
    throw validationProblem([{ name: 'q', reason: `must be at most ${MAX_TEXT} characters` }]);
  return text;
}

function textList(name: string, raw: unknown): string[] {
  const values = [...new Set(listParam(raw))].sort();
  for (const v of values) {
    if (v.length > MAX_TEXT)
      throw validationProblem([{ name, reason: `values must be at most ${MAX_TEXT} characters` }]);
  }
  return values;
}

export interface ListAgentsQuery {
  selector: LabelSelector;
  states: ConnectionStateFilter[];
  /** Empty: any. Several: any of them. */
  health: HealthFilter[];
  agentTypes: string[];
  /** service.version values (any of them). */
  versions: string[];
  capabilities: CapabilityFilter;
  /** Case-insensitive substring of service name, host name or uid. */
  q: string | undefined;
  sort: AgentSort;
  limit: number;
  cursor: string | undefined;
}

export function parseListAgentsQuery(q: Record<string, unknown>): ListAgentsQuery {
  return {
    selector: parseSelector(q.selector),
    states: parseStates(q.status),
    health: enumList('health', q.health, HEALTH_FILTERS, 'health'),
    agentTypes: enumList('agentType', q.agentType, AGENT_TYPES, 'agent type'),
    versions: textList('version', q.version),
    capabilities: parseCapabilities(q.capability),
    q: parseSearchText(q.q),
    sort: parseAgentSort(q.sort),
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

/** `force=true|false` (also 1/0); absent: false. */
export function parseForceParam(raw: unknown): boolean {
  const v = singleParam('force', raw)?.trim().toLowerCase();
  if (v === undefined || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw validationProblem([{ name: 'force', reason: `must be true or false, got ${JSON.stringify(clip(v))}` }]);
}

/** GET /fleet/summary ?selector &top. */
export function parseFleetSummaryQuery(q: Record<string, unknown>): { selector: LabelSelector; top: number } {
  return { selector: parseSelector(q.selector), top: parseTopParam(q.top) };
}

/** `top` of the fleet summary: how many versions and config hashes to list, 1–100 (default 10). */
export function parseTopParam(raw: unknown): number {
  const v = singleParam('top', raw)?.trim();
  if (v === undefined || v === '') return 10;
  const n = /^\d{1,3}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 100)) {
    throw validationProblem([
      { name: 'top', reason: `must be an integer between 1 and 100, got ${JSON.stringify(clip(v))}` },
    ]);
  }
  return n;
}
