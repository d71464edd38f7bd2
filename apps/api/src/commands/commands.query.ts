// Validation of path, query and body input of the commands routes. Every failure is a 400
// problem naming each offending parameter.
import { formatLabelSelector, type LabelSelector } from '@opamp/domain';
import { ProblemException, validationProblem, type InvalidParam } from '../common/problem.js';
import { parseLimit, singleParam } from '../common/pagination.js';
import { parseSelector } from '../agents/agents.query.js';
import {
  COMMAND_KINDS,
  COMMAND_STATES,
  type CommandKind,
  type CommandState,
  type JsonValue,
} from './command-outcomes.js';

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Reverse-FQDN, optionally with a /version (the fleet's FLEET_CUSTOM_CAPABILITIES accepts the same). */
const CAPABILITY = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/;
const TYPE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
const MAX_NAME_CHARS = 128;
const MAX_CAPABILITY_CHARS = 256;
/** Serialized parameters (they travel in a CustomMessage and wait in the agent's hot state). */
export const MAX_PARAMETERS_BYTES = 64 * 1024;
export const MAX_SCHEMA_BYTES = 64 * 1024;
const MAX_DESCRIPTION_CHARS = 2000;
const MAX_TIMEOUT_SECONDS = 86_400;

export function isUuid(raw: string): boolean {
  return CANONICAL_UUID.test(raw);
}

/** A command id path parameter (canonical UUID); returned lower-case. */
export function parseCommandId(raw: string, name = 'id'): string {
  if (!isUuid(raw)) {
    throw validationProblem([{ name, reason: 'must be a command id: a UUID in canonical 8-4-4-4-12 hex form' }]);
  }
  return raw.toLowerCase();
}

export function capabilityProblem(name: string, v: unknown): InvalidParam | undefined {
  if (typeof v !== 'string' || v === '') return { name, reason: 'is required and must be a non-empty string' };
  if (v.length > MAX_CAPABILITY_CHARS) return { name, reason: `must be at most ${MAX_CAPABILITY_CHARS} characters` };
  if (!CAPABILITY.test(v)) {
    return { name, reason: 'must be a reverse-FQDN name such as com.example.fluentbit (optionally /version)' };
  }
  return undefined;
}

export function typeProblem(name: string, v: unknown): InvalidParam | undefined {
  if (typeof v !== 'string' || v === '') return { name, reason: 'is required and must be a non-empty string' };
  if (v.length > MAX_NAME_CHARS) return { name, reason: `must be at most ${MAX_NAME_CHARS} characters` };
  if (!TYPE.test(v)) return { name, reason: 'may hold letters, digits and _ . : - (starting with a letter or digit)' };
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function requireObject(body: unknown, shape: string): Record<string, unknown> {
  if (!isObject(body)) {
    throw validationProblem([
      { name: 'body', reason: `must be a JSON object ${shape} sent with Content-Type: application/json` },
    ]);
  }
  return body;
}

function unknownFields(b: Record<string, unknown>, allowed: readonly string[], prefix = ''): InvalidParam[] {
  return Object.keys(b)
    .filter((k) => !allowed.includes(k))
    .map((k) => ({ name: `${prefix}${k}`, reason: `unknown field (allowed: ${allowed.join(', ')})` }));
}

function parametersProblem(name: string, v: unknown): InvalidParam | undefined {
  const size = Buffer.byteLength(JSON.stringify(v ?? {}));
  return size > MAX_PARAMETERS_BYTES
    ? { name, reason: `must serialize to at most ${MAX_PARAMETERS_BYTES} bytes of JSON, got ${size}` }
    : undefined;
}

export interface CustomCommandInput {
  capability: string;
  type: string;
  /** Defaults to {} when the request leaves it out. */
  parameters: JsonValue;
}

function customCommandFields(b: Record<string, unknown>, prefix: string, problems: InvalidParam[]): CustomCommandInput {
  const p = [
    capabilityProblem(`${prefix}capability`, b.capability),
    typeProblem(`${prefix}type`, b.type),
    parametersProblem(`${prefix}parameters`, b.parameters),
  ];
  problems.push(...p.filter((x): x is InvalidParam => x !== undefined));
  return {
    capability: String(b.capability ?? ''),
    type: String(b.type ?? ''),
    parameters: (b.parameters ?? {}) as JsonValue,
  };
}

/** Body of POST /agents/{uid}/commands: { capability, type, parameters }. */
export function parseSendCommandBody(body: unknown): CustomCommandInput {
  const b = requireObject(body, '{"capability", "type", "parameters"}');
  const problems = unknownFields(b, ['capability', 'type', 'parameters']);
  const input = customCommandFields(b, '', problems);
  if (problems.length > 0) throw validationProblem(problems);
  return input;
}

export type BulkCommand = { kind: 'restart' } | ({ kind: 'custom' } & CustomCommandInput);

export interface BulkInput {
  selector: LabelSelector;
  /** The selector in its canonical text form (logs, audit). */
  selectorText: string;
  command: BulkCommand;
  dryRun: boolean;
}

/** Body of POST /commands/bulk: { selector, command: {kind:'restart'} | {kind:'custom', ...}, dryRun? }. */
export function parseBulkBody(body: unknown): BulkInput {
  const b = requireObject(body, '{"selector", "command", "dryRun"}');
  const problems = unknownFields(b, ['selector', 'command', 'dryRun']);
  if (typeof b.selector !== 'string') {
    problems.push({
      name: 'selector',
      reason: 'is required: a label selector such as "env=prod,tier in (edge)" ("" addresses every agent)',
    });
  }
  if (b.dryRun !== undefined && typeof b.dryRun !== 'boolean') {
    problems.push({ name: 'dryRun', reason: 'must be true or false' });
  }
  let command: BulkCommand | undefined;
  const c = b.command;
  if (!isObject(c)) {
    problems.push({
      name: 'command',
      reason: 'is required: {"kind":"restart"} or {"kind":"custom", "capability", "type", "parameters"}',
    });
  } else if (c.kind === 'restart') {
    problems.push(...unknownFields(c, ['kind'], 'command.'));
    command = { kind: 'restart' };
  } else if (c.kind === 'custom') {
    problems.push(...unknownFields(c, ['kind', 'capability', 'type', 'parameters'], 'command.'));
    command = { kind: 'custom', ...customCommandFields(c, 'command.', problems) };
  } else {
    problems.push({ name: 'command.kind', reason: `must be one of ${COMMAND_KINDS.join(', ')}` });
  }
  if (problems.length > 0 || command === undefined) throw validationProblem(problems);
  // Selector syntax errors are a problem of their own (type invalid-label-selector).
  const selector = parseSelector(b.selector);
  return { selector, selectorText: formatLabelSelector(selector), command, dryRun: b.dryRun === true };
}

export interface ListCommandsQuery {
  agentUid: string | undefined;
  states: CommandState[];
  kind: CommandKind | undefined;
  bulkId: string | undefined;
  limit: number;
  cursor: string | undefined;
}

/** GET /commands ?agent &state (comma-separated or repeated) &kind &bulkId &limit &cursor */
export function parseListCommandsQuery(q: Record<string, unknown>): ListCommandsQuery {
  const problems: InvalidParam[] = [];
  const uuidParam = (name: string): string | undefined => {
    const v = singleParam(name, q[name]);
    if (v === undefined) return undefined;
    if (!isUuid(v)) problems.push({ name, reason: 'must be a UUID in canonical 8-4-4-4-12 hex form' });
    return v.toLowerCase();
  };
  const agentUid = uuidParam('agent');
  const bulkId = uuidParam('bulkId');
  const kindRaw = singleParam('kind', q.kind);
  if (kindRaw !== undefined && !(COMMAND_KINDS as readonly string[]).includes(kindRaw)) {
    problems.push({ name: 'kind', reason: `must be one of ${COMMAND_KINDS.join(', ')}` });
  }
  const states = new Set<CommandState>();
  const rawStates = q.state === undefined ? [] : Array.isArray(q.state) ? q.state : [q.state];
  for (const part of rawStates.flatMap((v) => (typeof v === 'string' ? v.split(',') : [String(v)]))) {
    const s = part.trim();
    if (s === '') continue;
    if (!(COMMAND_STATES as readonly string[]).includes(s)) {
      problems.push({
        name: 'state',
        reason: `unknown state "${s}"; use ${COMMAND_STATES.join(', ')} (comma-separated for several)`,
      });
    } else states.add(s as CommandState);
  }
  if (problems.length > 0) throw validationProblem(problems);
  return {
    agentUid,
    states: [...states].sort(),
    kind: kindRaw as CommandKind | undefined,
    bulkId,
    limit: parseLimit(q.limit),
    cursor: singleParam('cursor', q.cursor),
  };
}

/** GET /command-types ?capability: the capability to list the types of, or undefined for all. */
export function parseListCommandTypesQuery(q: Record<string, unknown>): string | undefined {
  const capability = singleParam('capability', q.capability);
  const problem = capability === undefined ? undefined : capabilityProblem('capability', capability);
  if (problem) throw validationProblem([problem]);
  return capability;
}

/** {capability}/{type} path parameters of the command-types routes. */
export function parseCommandTypePath(capability: string, type: string): { capability: string; type: string } {
  const problems = [capabilityProblem('capability', capability), typeProblem('type', type)].filter(
    (x): x is InvalidParam => x !== undefined,
  );
  if (problems.length > 0) throw validationProblem(problems);
  return { capability, type };
}

export interface CommandTypeInput {
  description: string | null;
  parametersSchema: JsonValue;
  timeoutSeconds: number;
}

/** Body of PUT /command-types/{capability}/{type}: { description?, parametersSchema, timeoutSeconds? }. */
export function parseCommandTypeBody(body: unknown): CommandTypeInput {
  const b = requireObject(body, '{"description", "parametersSchema", "timeoutSeconds"}');
  const problems = unknownFields(b, ['description', 'parametersSchema', 'timeoutSeconds']);
  if (b.description !== undefined && b.description !== null) {
    if (typeof b.description !== 'string') problems.push({ name: 'description', reason: 'must be a string' });
    else if (b.description.length > MAX_DESCRIPTION_CHARS)
      problems.push({ name: 'description', reason: `must be at most ${MAX_DESCRIPTION_CHARS} characters` });
  }
  if (b.parametersSchema === undefined) {
    problems.push({ name: 'parametersSchema', reason: 'is required: a JSON Schema object, e.g. {"type":"object"}' });
  } else if (Buffer.byteLength(JSON.stringify(b.parametersSchema)) > MAX_SCHEMA_BYTES) {
    problems.push({ name: 'parametersSchema', reason: `must serialize to at most ${MAX_SCHEMA_BYTES} bytes of JSON` });
  }
  const t = b.timeoutSeconds;
  if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > MAX_TIMEOUT_SECONDS)) {
    problems.push({ name: 'timeoutSeconds', reason: `must be an integer from 1 to ${MAX_TIMEOUT_SECONDS}` });
  }
  if (problems.length > 0) throw validationProblem(problems);
  return {
    description: typeof b.description === 'string' ? b.description : null,
    parametersSchema: b.parametersSchema as JsonValue,
    timeoutSeconds: (t as number | undefined) ?? 60,
  };
}

/** A bulk larger than the cap: 422 saying so. */
export function bulkTooLarge(eligible: number, max: number, type: string): ProblemException {
  return new ProblemException({
    type,
    title: 'Too many agents for one bulk command',
    status: 422,
    detail: `The selector addresses ${eligible} eligible agents; one bulk command may address at most ${max}. Narrow the selector (or split it into several bulks).`,
    invalidParams: [{ name: 'selector', reason: `addresses ${eligible} eligible agents (at most ${max} per bulk)` }],
  });
}
