// PUT /api/v1/agents/{uid}/labels: replaces the labels set through the API. Keys and values follow
// Kubernetes label syntax. Only the `labels` column is written: the fleet's write-behind upsert
// never touches it (apps/fleet agent.repository.ts), so the two never overwrite each other.
import { Injectable } from '@nestjs/common';
import { PrismaService } from '@opamp/database';
import { agentLabels } from '@opamp/domain';
import { agentNotFound, validationProblem, type InvalidParam } from '../common/problem.js';
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

  const syntax: InvalidParam[] = [];
  for (const [k, v] of entries as Array<[string, string]>) {
    const keyProblem = labelKeyProblem(k);
    if (keyProblem) syntax.push({ name: `labels[${JSON.stringify(k)}]`, reason: `invalid key: ${keyProblem}` });
    const valueProblem = labelValueProblem(v);
    if (valueProblem)
      syntax.push({
        name: `labels[${JSON.stringify(k)}]`,
        reason: `invalid value ${JSON.stringify(v)}: ${valueProblem}`,
      });
  }
  if (syntax.length > 0) {
    throw extendedProblem({
      type: ConfigProblemType.invalidLabels,
      title: 'Invalid labels',
      status: 422,
      detail: syntax.map((p) => `${p.name}: ${p.reason}`).join('; '),
      invalidParams: syntax,
    });
  }
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
    const d = (row.description ?? {}) as {
      identifying?: Record<string, unknown>;
      nonIdentifying?: Record<string, unknown>;
    };
    const merged = agentLabels({ identifying: d.identifying, nonIdentifying: d.nonIdentifying, labels: row.labels });
    return { uid, labels: row.labels, mergedLabels: { ...merged } };
  }
}
