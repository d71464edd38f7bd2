// Validation of the configs routes' input (shape only; the services check meaning and content).
// Every failure is a 400 problem naming the parameter or body field and saying what is wrong.
import {
  CONFIG_LIMITS,
  CONFIG_NAME_PATTERN,
  isAgentType,
  isConfigName,
  type AgentType,
  type ConfigFileInput,
} from '@opamp/domain';
import { parseLimit, singleParam } from '../common/pagination.js';
import { ProblemException, ProblemType, validationProblem, type InvalidParam } from '../common/problem.js';

const MAX_VERSION = 2_147_483_647;

function requireObject(body: unknown, shape: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationProblem([
      { name: 'body', reason: `must be a JSON object ${shape} sent with Content-Type: application/json` },
    ]);
  }
  return body as Record<string, unknown>;
}

function unknownFields(b: Record<string, unknown>, allowed: readonly string[], prefix = ''): InvalidParam[] {
  return Object.keys(b)
    .filter((k) => !allowed.includes(k))
    .map((k) => ({ name: `${prefix}${k}`, reason: `unknown field (allowed: ${allowed.join(', ')})` }));
}

/** The `{name}` path parameter. */
export function parseConfigName(raw: string): string {
  if (!CONFIG_NAME_PATTERN.test(raw)) {
    throw new ProblemException({
      type: ProblemType.validation,
      title: 'Invalid config name',
      status: 400,
      detail: `"${raw.length > 64 ? `${raw.slice(0, 64)}…` : raw}" is not a config name: names are 1 to 63 characters of a-z, 0-9, ".", "_" and "-", starting and ending with a letter or digit.`,
      invalidParams: [{ name: 'name', reason: 'must match [a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?' }],
    });
  }
  return raw;
}

/** A `{version}` path parameter: a whole number from 1. */
export function parseVersionParam(name: string, raw: string): number {
  const n = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_VERSION) {
    throw validationProblem([
      { name, reason: `must be a version number (a whole number from 1), got ${JSON.stringify(raw)}` },
    ]);
  }
  return n;
}

export interface CreateConfigBody {
  name: string;
  agentType: AgentType;
  description?: string;
}

/** Body of POST /api/v1/configs: { name, agentType, description? }. */
export function parseCreateConfigBody(body: unknown): CreateConfigBody {
  const b = requireObject(body, '{"name", "agentType", "description"?}');
  const problems = unknownFields(b, ['name', 'agentType', 'description']);
  if (!isConfigName(b.name)) {
    problems.push({
      name: 'name',
      reason:
        'is required: 1 to 63 characters of a-z, 0-9, ".", "_" and "-", starting and ending with a letter or digit',
    });
  }
  if (!isAgentType(b.agentType)) {
    problems.push({ name: 'agentType', reason: 'is required: one of fluentbit, fluentd, otelcol, generic' });
  }
  if (b.description !== undefined && b.description !== null) {
    if (typeof b.description !== 'string') problems.push({ name: 'description', reason: 'must be a string' });
    else if (b.description.length > CONFIG_LIMITS.maxDescriptionLength) {
      problems.push({
        name: 'description',
        reason: `must be at most ${CONFIG_LIMITS.maxDescriptionLength} characters`,
      });
    }
  }
  if (problems.length > 0) throw validationProblem(problems);
  return {
    name: b.name as string,
    agentType: b.agentType as AgentType,
    ...(typeof b.description === 'string' ? { description: b.description } : {}),
  };
}

/** Body of POST /api/v1/configs/{name}/versions: { files: [{ name, contentType, content, encoding? }] }. */
export function parseVersionBody(body: unknown): ConfigFileInput[] {
  const b = requireObject(body, '{"files": [{"name", "contentType", "content", "encoding"?}]}');
  const problems = unknownFields(b, ['files']);
  if (!Array.isArray(b.files)) {
    problems.push({ name: 'files', reason: 'is required: a list of {name, contentType, content, encoding?}' });
    throw validationProblem(problems);
  }
  // The count limit is checked here too, before looking at thousands of entries.
  if (b.files.length > CONFIG_LIMITS.maxFiles * 4) {
    throw validationProblem([{ name: 'files', reason: `too many files (at most ${CONFIG_LIMITS.maxFiles})` }]);
  }
  const files: ConfigFileInput[] = [];
  b.files.forEach((raw: unknown, i) => {
    const at = `files[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push({ name: at, reason: 'must be an object {name, contentType, content, encoding?}' });
      return;
    }
    const f = raw as Record<string, unknown>;
    const before = problems.length;
    problems.push(...unknownFields(f, ['name', 'contentType', 'content', 'encoding'], `${at}.`));
    for (const key of ['name', 'contentType', 'content'] as const) {
      if (typeof f[key] !== 'string')
        problems.push({ name: `${at}.${key}`, reason: 'is required and must be a string' });
    }
    if (f.encoding !== undefined && f.encoding !== 'utf8' && f.encoding !== 'base64') {
      problems.push({ name: `${at}.encoding`, reason: 'must be "utf8" (default) or "base64"' });
    }
    if (problems.length === before) {
      files.push({
        name: f.name as string,
        contentType: f.contentType as string,
        content: f.content as string,
        ...(f.encoding !== undefined ? { encoding: f.encoding as 'utf8' | 'base64' } : {}),
      });
    }
  });
  if (problems.length > 0) throw validationProblem(problems);
  return files;
}

export interface ListConfigsParams {
  agentType?: AgentType;
  limit: number;
  cursor?: string;
}

export function parseListConfigsQuery(q: Record<string, unknown>): ListConfigsParams {
  const agentType = singleParam('agentType', q.agentType);
  if (agentType !== undefined && !isAgentType(agentType)) {
    throw validationProblem([{ name: 'agentType', reason: 'must be one of fluentbit, fluentd, otelcol, generic' }]);
  }
  return {
    ...(agentType !== undefined ? { agentType: agentType as AgentType } : {}),
    limit: parseLimit(q.limit),
    cursor: singleParam('cursor', q.cursor),
  };
}

export interface AssignConfigBody {
  config: string;
  version: number;
  clearQuarantine: boolean;
}

/** Body of PUT /api/v1/agents/{uid}/config: { config, version, clearQuarantine? }. */
export function parseAssignConfigBody(body: unknown): AssignConfigBody {
  const b = requireObject(body, '{"config", "version", "clearQuarantine"?}');
  const problems = unknownFields(b, ['config', 'version', 'clearQuarantine']);
  if (!isConfigName(b.config)) problems.push({ name: 'config', reason: 'is required: the name of a config' });
  if (typeof b.version !== 'number' || !Number.isInteger(b.version) || b.version < 1 || b.version > MAX_VERSION) {
    problems.push({ name: 'version', reason: 'is required: a version number (a whole number from 1)' });
  }
  if (b.clearQuarantine !== undefined && typeof b.clearQuarantine !== 'boolean') {
    problems.push({ name: 'clearQuarantine', reason: 'must be true or false' });
  }
  if (problems.length > 0) throw validationProblem(problems);
  return { config: b.config as string, version: b.version as number, clearQuarantine: b.clearQuarantine === true };
}
