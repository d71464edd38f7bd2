// PUT /api/v1/agents/{uid}/labels replaces the labels set through the API; PATCH sets some and
// removes others. Keys and values follow Kubernetes label syntax. Only the `labels` column is
// written: the fleet's write-behind upsert never touches it (apps/fleet agent.repository.ts), so
// the two never overwrite each other.
import { Injectable } from '@nestjs/common';
import { PrismaService } from '@opamp/database';
import { agentLabels } from '@opamp/domain';
import { ProblemException, agentNotFound, validationProblem, type InvalidParam } from '../common/problem.js';
import { ConfigProblemType, extendedProblem } from '../configs/config-problems.js';

/** Most labels an agent may have set through the API. */
export const MAX_API_LABELS = 64;

// Kubernetes (k8s.io/apimachinery validation): name segment ≤ 63 characters, alphanumeric at both
// ends with "-", "_" and "." inside; optional prefix: a DNS subdomain ≤ 253 characters and "/".
const NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Why `key` is not a valid Kubernetes label key, or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return 'the prefix before "/" must be a DNS subdomain (lower-case, at most 253 characters), e.g. example.com/tier';
  }
  if (!NAME.test(name)) {
    return 'the name must be 1 to 63 characters of letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  }
  return undefined;
}

/** Why `value` is not a valid Kubernetes label value, or undefined when it is. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '' || NAME.test(value)) return undefined;
  return 'must be empty or 1 to 63 characters of letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
}

/** Kubernetes label syntax problems of `entries`, one per bad key or value. */
export function syntaxProblems(entries: Array<[string, string]>): InvalidParam[] {
  const syntax: InvalidParam[] = [];
  for (const [k, v] of entries) {
    const keyProblem = labelKeyProblem(k);
    if (keyProblem) syntax.push({ name: `labels[${JSON.stringify(k)}]`, reason: `invalid key: ${keyProblem}` });
    const valueProblem = labelValueProblem(v);
    if (valueProblem)
      syntax.push({
        name: `labels[${JSON.stringify(k)}]`,
        reason: `invalid value ${JSON.stringify(v)}: ${valueProblem}`,
      });
  }
  return syntax;
}

/** The 422 problem for label syntax (same type wherever labels are set). */
export function invalidLabels(problems: InvalidParam[]): ProblemException {
  return extendedProblem({
    type: ConfigProblemType.invalidLabels,
    title: 'Invalid labels',
    status: 422,
    detail: problems.map((p) => `${p.name}: ${p.reason}`).join('; '),
    invalidParams: problems,
  });
}

export interface LabelsPatch {
  set: Record<string, string>;
  remove: string[];
}

/**
 * Body of PATCH /agents/{uid}/labels: { set?: { key: value }, remove?: [key] }. 400 for shape
 * (and a key both set and removed), 422 for label syntax.
 */
export function parseLabelsPatchBody(body: unknown): LabelsPatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationProblem([
      {
        name: 'body',
        reason:
          'must be a JSON object {"set": {"key": "value"}, "remove": ["key"]} sent with Content-Type: application/json',
      },
    ]);
  }
  const b = body as Record<string, unknown>;
  const shape: InvalidParam[] = Object.keys(b)
    .filter((k) => k !== 'set' && k !== 'remove')
    .map((k) => ({ name: k, reason: 'unknown field (allowed: set, remove)' }));
  const set = b.set ?? {};
  const remove = b.remove ?? [];
  if (typeof set !== 'object' || set === null || Array.isArray(set)) {
    shape.push({ name: 'set', reason: 'must be an object of string values' });
  }
  if (!Array.isArray(remove)) shape.push({ name: 'remove', reason: 'must be an array of label keys' });
  if (shape.length > 0) throw validationProblem(shape);
  const entries = Object.entries(set as Record<string, unknown>);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') shape.push({ name: `set[${JSON.stringify(k)}]`, reason: 'must be a string' });
  }
  (remove as unknown[]).forEach((k, i) => {
    if (typeof k !== 'string' || k === '' || k.length > 317)
      shape.push({
        name: `remove[${i}]`,
        reason: 'must be a label key (a non-empty string of at most 317 characters)',
      });
  });
  if (entries.length > MAX_API_LABELS) shape.push({ name: 'set', reason: `at most ${MAX_API_LABELS} labels` });
  const removed = [...new Set(remove as string[])];
  for (const k of removed) {
    if (Object.hasOwn(set, k))
      shape.push({ name: `remove[${JSON.stringify(k)}]`, reason: 'is also in set: set it or remove it' });
  }
  if (shape.length > 0) throw validationProblem(shape);
  const syntax = syntaxProblems(entries as Array<[string, string]>);
  if (syntax.length > 0) throw invalidLabels(syntax);
  return { set: Object.fromEntries(entries as Array<[string, string]>), remove: removed.sort() };
}

/** Body of PUT /agents/{uid}/labels: { labels: { key: value } }. 400 for shape, 422 for syntax. */
export function parseLabelsBody(body: unknown): Record<string, string> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationProblem([
      {
        name: 'body',
        reason: 'must be a JSON object {"labels": {"key": "value"}} sent with Content-Type: application/json',
      },
    ]);
  }
  const b = body as Record<string, unknown>;
  const shape: InvalidParam[] = Object.keys(b)
    .filter((k) => k !== 'labels')
    .map((k) => ({ name: k, reason: 'unknown field (allowed: labels)' }));
  const labels = b.labels;
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    shape.push({ name: 'labels', reason: 'is required: an object of string values ({} removes every label)' });
    throw validationProblem(shape);
  }
  const entries = Object.entries(labels as Record<string, unknown>);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') shape.push({ name: `labels[${JSON.stringify(k)}]`, reason: 'must be a string' });
  }
  if (entries.length > MAX_API_LABELS) shape.push({ name: 'labels', reason: `at most ${MAX_API_LABELS} labels` });
  if (shape.length > 0) throw validationProblem(shape);

  const syntax = syntaxProblems(entries as Array<[string, string]>);
  if (syntax.length > 0) throw invalidLabels(syntax);
  return Object.fromEntries(entries as Array<[string, string]>);
}

export interface AgentLabelsView {
  uid: string;
  /** The labels set through the API (what was just stored). */
  labels: Record<string, string>;
  /**
   * What selectors match against: identifying attributes, overlaid by non-identifying
   * attributes, overlaid by the API labels.
   */
  mergedLabels: Record<string, string>;
}

function labelsView(uid: string, row: { labels: Record<string, string>; description: unknown }): AgentLabelsView {
  const d = (row.description ?? {}) as {
    identifying?: Record<string, unknown>;
    nonIdentifying?: Record<string, unknown>;
  };
  const merged = agentLabels({ identifying: d.identifying, nonIdentifying: d.nonIdentifying, labels: row.labels });
  return { uid, labels: row.labels, mergedLabels: { ...merged } };
}

@Injectable()
export class AgentLabelsService {
  constructor(private readonly prisma: PrismaService) {}

  async replace(uid: string, labels: Record<string, string>): Promise<AgentLabelsView> {
    // updated_at is left alone: it tracks the agent's own reports (rollout gates compare it).
    const rows = await this.prisma.$queryRaw<Array<{ labels: Record<string, string>; description: unknown }>>`
      UPDATE agents SET labels = ${JSON.stringify(labels)}::jsonb
      WHERE uid = ${uid}::uuid
      RETURNING labels, description`;
    const row = rows[0];
    if (!row) throw agentNotFound(uid);
    return labelsView(uid, row);
  }

  /**
   * Sets and removes some API labels in one statement (concurrent patches of other keys are not
   * lost). Refused (422) when the agent would end up with more than MAX_API_LABELS labels.
   */
  async patch(uid: string, patch: LabelsPatch): Promise<AgentLabelsView> {
    const rows = await this.prisma.$queryRaw<
      Array<{ labels: Record<string, string>; description: unknown; count: number; updated: boolean }>
    >`
      WITH cur AS (
        SELECT a.uid, (a.labels - ${patch.remove}::text[]) || ${JSON.stringify(patch.set)}::jsonb AS next
        FROM agents a WHERE a.uid = ${uid}::uuid
        FOR UPDATE
      ), upd AS (
        UPDATE agents a SET labels = cur.next
        FROM cur
        WHERE a.uid = cur.uid AND (SELECT count(*) FROM jsonb_object_keys(cur.next)) <= ${MAX_API_LABELS}::int
        RETURNING a.labels, a.description
      )
      SELECT COALESCE(upd.labels, cur.next) AS labels, upd.description,
             (SELECT count(*) FROM jsonb_object_keys(cur.next))::int AS count, upd.labels IS NOT NULL AS updated
      FROM cur LEFT JOIN upd ON true`;
    const row = rows[0];
    if (!row) throw agentNotFound(uid);
    if (!row.updated) {
      throw invalidLabels([
        {
          name: 'set',
          reason: `the agent would have ${row.count} labels; at most ${MAX_API_LABELS} may be set through the API (remove some)`,
        },
      ]);
    }
    return labelsView(uid, row);
  }
}
