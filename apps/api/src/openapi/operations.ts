// What each route does, its parameters and its answers, keyed by "METHOD /path". The route table
// (routes.ts) decides which operations exist and which role each needs; a route without an entry
// here, or an entry without a route, fails the build of the document (and `npm test`).
import { anyObject, arr, int, labels, obj, page, ref, str } from './schemas.js';

type Schema = Record<string, unknown>;

export interface ParamDoc {
  description: string;
  schema?: Schema;
  required?: boolean;
}

export interface OperationDoc {
  summary: string;
  description?: string;
  tag: string;
  query?: Record<string, ParamDoc>;
  body?: { schema: Schema; description?: string; required?: boolean };
  /** status → [description, schema?, contentType?] */
  responses: Record<number, [string, Schema?, string?]>;
}

const q = (description: string, schema: Schema = { type: 'string' }): ParamDoc => ({ description, schema });
const limit = q('Page size, 1–500 (default 50)', { type: 'integer', minimum: 1, maximum: 500 });
const cursor = q('`nextCursor` of the previous page, with the same filters');
const selector = q('Kubernetes label selector, e.g. `env=prod,region in (eu,us),!canary`');
const control = { schema: obj({ reason: str('Why (kept on the rollout and in the audit log)') }, []), required: false };
const customCommand = obj({ capability: str(), type: str(), parameters: anyObject }, ['capability', 'type']);
const bulkCommand = obj(
  {
    selector: str('Label selector of the target agents'),
    command: {
      oneOf: [obj({ kind: { const: 'restart' } }), { allOf: [obj({ kind: { const: 'custom' } }), customCommand] }],
    },
    dryRun: { type: 'boolean' },
  },
  ['selector', 'command'],
);
const auditFilters: Record<string, ParamDoc> = {
  actor: q('"key:<uuid>" or "user:<subject>"'),
  action: q('Exact action, or a prefix ending in "*" (e.g. `rollouts.*`)'),
  resourceType: q('e.g. rollout, config, agent, api_key'),
  resourceId: q('Id of the resource'),
  outcome: q('success | failure | denied', { type: 'string', enum: ['success', 'failure', 'denied'] }),
  since: q('ISO 8601 date-time, inclusive', { type: 'string', format: 'date-time' }),
  until: q('ISO 8601 date-time, inclusive', { type: 'string', format: 'date-time' }),
};

export const OPERATIONS: Record<string, OperationDoc> = {
  // --- health (public)
  'GET /healthz': { tag: 'health', summary: 'Liveness', responses: { 200: ['The process is up', ref('Health')] } },
  'GET /readyz': {
    tag: 'health',
    summary: 'Readiness (Postgres and Redis reachable, not shutting down)',
    responses: { 200: ['Ready', ref('Health')], 503: ['Not ready', ref('Health')] },
  },
  'GET /metrics': {
    tag: 'health',
    summary: 'Prometheus metrics',
    responses: { 200: ['Metrics', { type: 'string' }, 'text/plain'] },
  },
  'GET /api/v1/openapi.json': {
    tag: 'meta',
    summary: 'This document',
    responses: { 200: ['The OpenAPI 3.1 document', anyObject] },
  },

  // --- identity, keys, audit
  'GET /api/v1/me': { tag: 'auth', summary: 'Who is calling', responses: { 200: ['The caller', ref('Principal')] } },
  'POST /api/v1/api-keys': {
    tag: 'auth',
    summary: 'Create an API key',
    description: 'The key is in this response only; the server keeps its SHA-256.',
    body: {
      schema: obj(
        {
          name: str(),
          role: ref('Role'),
          expiresAt: str(undefined, { format: 'date-time' }),
          ttlSeconds: int('At least 60'),
          rateLimitPerMinute: int('Default: API_RATE_LIMIT_PER_MINUTE'),
        },
        ['name', 'role'],
      ),
    },
    responses: { 201: ['Created', ref('NewApiKey')] },
  },
  'GET /api/v1/api-keys': {
    tag: 'auth',
    summary: 'List API keys',
    query: { includeRevoked: q('true to include revoked keys', { type: 'boolean' }), limit, cursor },
    responses: { 200: ['A page of keys', page('ApiKey')] },
  },
  'GET /api/v1/api-keys/{id}': {
    tag: 'auth',
    summary: 'Get an API key',
    responses: { 200: ['The key', ref('ApiKey')], 404: ['No such key'] },
  },
  'POST /api/v1/api-keys/{id}/revoke': {
    tag: 'auth',
    summary: 'Revoke an API key (idempotent)',
    description: 'Every api process refuses the key within API_AUTH_CACHE_MS.',
    responses: { 200: ['The revoked key', ref('ApiKey')], 404: ['No such key'] },
  },
  'GET /api/v1/audit': {
    tag: 'audit',
    summary: 'Query the audit log (newest first)',
    query: { ...auditFilters, limit, cursor },
    responses: { 200: ['A page of entries', page('AuditEvent')] },
  },
  'GET /api/v1/audit/export': {
    tag: 'audit',
    summary: 'Export the audit log as CSV or JSON',
    query: { ...auditFilters, format: q('csv or json (default)', { type: 'string', enum: ['csv', 'json'] }) },
    responses: { 200: ['Every matching entry, newest first', arr(ref('AuditEvent'))] },
  },

  // --- agents
  'GET /api/v1/agents': {
    tag: 'agents',
    summary: 'List agents',
    query: {
      selector,
      status: q('connected | disconnected | offline (comma-separated for several)'),
      health: q('healthy | unhealthy | unknown'),
      agentType: q('fluentbit | fluentd | otelcol | generic'),
      version: q('service.version'),
      capability: q('An AgentCapabilities name (e.g. AcceptsRestartCommand) or a custom capability'),
      q: q('Free text over service name, host name and uid'),
      sort: q(
        'lastSeenAt | firstSeenAt | hostName | serviceName | agentType | serviceVersion | uid; "-" prefix for descending',
      ),
      limit,
      cursor,
    },
    responses: { 200: ['A page of agents', page('Agent')] },
  },
  'GET /api/v1/agents/{uid}': {
    tag: 'agents',
    summary: 'Get an agent',
    responses: { 200: ['The agent', ref('Agent')], 404: ['No such agent'] },
  },
  'DELETE /api/v1/agents/{uid}': {
    tag: 'agents',
    summary: 'Forget an agent',
    description: 'Deletes its row, history and desired config. 409 while it is connected unless force=true.',
    query: { force: q('true to forget a connected agent', { type: 'boolean' }) },
    responses: { 200: ['Forgotten', anyObject], 404: ['No such agent'], 409: ['The agent is connected'] },
  },
  'GET /api/v1/agents/{uid}/events': {
    tag: 'agents',
    summary: "An agent's history (newest first)",
    query: { limit, cursor },
    responses: { 200: ['A page of events', page('AgentEvent')], 404: ['No such agent'] },
  },
  'PUT /api/v1/agents/{uid}/labels': {
    tag: 'agents',
    summary: "Replace an agent's API-set labels",
    body: { schema: obj({ labels }) },
    responses: { 200: ['The labels', ref('AgentLabels')], 404: ['No such agent'], 422: ['Invalid label syntax'] },
  },
  'PATCH /api/v1/agents/{uid}/labels': {
    tag: 'agents',
    summary: 'Set and remove some labels',
    body: { schema: obj({ set: labels, remove: arr(str()) }, []) },
    responses: { 200: ['The labels', ref('AgentLabels')], 404: ['No such agent'], 422: ['Invalid label syntax'] },
  },
  'GET /api/v1/agents/{uid}/config': {
    tag: 'configs',
    summary: "An agent's desired config",
    responses: {
      200: ['Desired config, active rollout, quarantined hashes', ref('AgentConfig')],
      404: ['No such agent'],
    },
  },
  'PUT /api/v1/agents/{uid}/config': {
    tag: 'configs',
    summary: 'Assign a config version to one agent',
    body: {
      schema: obj({ config: str(), version: int(), clearQuarantine: { type: 'boolean' } }, ['config', 'version']),
    },
    responses: {
      200: ['Assigned', ref('AgentConfig')],
      404: ['No such agent or config'],
      409: ['In an active rollout'],
    },
  },
  'DELETE /api/v1/agents/{uid}/config': {
    tag: 'configs',
    summary: "Remove an agent's desired config",
    responses: { 200: ['Removed', anyObject], 404: ['No such agent'] },
  },
  'POST /api/v1/agents/{uid}/config/quarantine/{hash}/clear': {
    tag: 'configs',
    summary: 'Lift the quarantine of a config hash for one agent',
    responses: { 200: ['Cleared', anyObject], 404: ['No such agent'] },
  },
  'POST /api/v1/agents/{uid}/restart': {
    tag: 'commands',
    summary: 'Restart an agent',
    responses: {
      202: ['Queued', ref('Command')],
      404: ['No such agent'],
      409: ['The agent does not accept restart commands'],
    },
  },
  'POST /api/v1/agents/{uid}/custom-messages': {
    tag: 'commands',
    summary: 'Send a raw custom message',
    body: { schema: obj({ capability: str(), type: str(), data: str('base64') }) },
    responses: { 202: ['Queued', ref('Command')], 404: ['No such agent'], 409: ['Capability not declared'] },
  },
  'POST /api/v1/agents/{uid}/commands': {
    tag: 'commands',
    summary: 'Send a custom command (parameters checked against its command type)',
    body: { schema: customCommand },
    responses: {
      202: ['Queued', ref('Command')],
      404: ['No such agent or command type'],
      409: ['Capability not declared'],
      422: ['Parameters do not match the schema'],
    },
  },
  'GET /api/v1/fleet/summary': {
    tag: 'agents',
    summary: 'Counts by status, health, agent type, version, config hash and drift',
    description:
      'Drift categories: inSync, pendingApply, applyFailed, effectiveDiffers, noDesired (docs/agents-api.md).',
    query: { selector, top: q('How many versions and config hashes to list (1–100, default 10)', { type: 'integer' }) },
    responses: { 200: ['The summary', ref('FleetSummary')] },
  },

  // --- commands
  'GET /api/v1/commands': {
    tag: 'commands',
    summary: 'List commands (newest first)',
    query: {
      agent: q('Agent uid'),
      state: q('queued | sent | succeeded | failed | timed_out'),
      kind: q('restart | custom'),
      bulkId: q('Bulk id'),
      limit,
      cursor,
    },
    responses: { 200: ['A page of commands', page('Command')] },
  },
  'GET /api/v1/commands/{id}': {
    tag: 'commands',
    summary: 'Get a command',
    responses: { 200: ['The command', ref('Command')], 404: ['No such command'] },
  },
  'POST /api/v1/commands/bulk': {
    tag: 'commands',
    summary: 'Send a command to every agent a selector matches (dryRun: count only)',
    body: { schema: bulkCommand },
    responses: {
      200: ['Dry run counts', anyObject],
      202: ['Queued', anyObject],
      422: ['Too many agents or invalid command'],
    },
  },
  'GET /api/v1/command-types': {
    tag: 'commands',
    summary: 'List command types',
    query: { capability: q('Only this capability'), limit, cursor },
    responses: { 200: ['Command types', page('CommandType')] },
  },
  'PUT /api/v1/command-types/{capability}/{type}': {
    tag: 'commands',
    summary: 'Create or replace a command type',
    body: {
      schema: obj({ description: str(), parametersSchema: anyObject, timeoutSeconds: int() }, ['parametersSchema']),
    },
    responses: {
      200: ['Replaced', ref('CommandType')],
      201: ['Created', ref('CommandType')],
      422: ['Invalid JSON Schema'],
    },
  },
  'DELETE /api/v1/command-types/{capability}/{type}': {
    tag: 'commands',
    summary: 'Delete a command type',
    responses: { 200: ['Deleted', anyObject], 404: ['No such command type'] },
  },

  // --- enrollment tokens
  'POST /api/v1/enrollment-tokens': {
    tag: 'enrollment',
    summary: 'Create an enrollment token for agents',
    description: 'The token is in this response only. Agents that enrol with it inherit its labels.',
    body: {
      schema: obj({ name: str(), labels, expiresAt: str(undefined, { format: 'date-time' }), ttlSeconds: int() }, [
        'name',
      ]),
    },
    responses: { 201: ['Created', ref('NewEnrollmentToken')] },
  },
  'GET /api/v1/enrollment-tokens': {
    tag: 'enrollment',
    summary: 'List enrollment tokens',
    query: { includeRevoked: q('true to include revoked tokens', { type: 'boolean' }), limit, cursor },
    responses: { 200: ['A page of tokens', page('EnrollmentToken')] },
  },
  'GET /api/v1/enrollment-tokens/{id}': {
    tag: 'enrollment',
    summary: 'Get an enrollment token',
    responses: { 200: ['The token', ref('EnrollmentToken')], 404: ['No such token'] },
  },
  'POST /api/v1/enrollment-tokens/{id}/revoke': {
    tag: 'enrollment',
    summary: 'Revoke an enrollment token (idempotent)',
    description: 'Gateways close the WebSocket connections it admitted (close code 4401) and refuse it with 401.',
    responses: { 200: ['The revoked token', ref('EnrollmentToken')], 404: ['No such token'] },
  },

  // --- configs
  'POST /api/v1/configs': {
    tag: 'configs',
    summary: 'Create a config (200 when exactly this config exists)',
    body: { schema: obj({ name: str(), agentType: str(), description: str() }, ['name', 'agentType']) },
    responses: {
      200: ['Already exists', ref('Config')],
      201: ['Created', ref('Config')],
      409: ['Exists with other settings'],
    },
  },
  'GET /api/v1/configs': {
    tag: 'configs',
    summary: 'List configs',
    query: { agentType: q('Only this agent type'), limit, cursor },
    responses: { 200: ['A page of configs', page('Config')] },
  },
  'GET /api/v1/configs/{name}': {
    tag: 'configs',
    summary: 'Get a config',
    responses: { 200: ['The config', ref('Config')], 404: ['No such config'] },
  },
  'POST /api/v1/configs/{name}/versions': {
    tag: 'configs',
    summary: 'Add a version (200 with the existing one when the content is unchanged)',
    body: { schema: obj({ files: arr(ref('ConfigFile')) }) },
    responses: {
      200: ['Unchanged', ref('ConfigVersion')],
      201: ['Created', ref('ConfigVersion')],
      404: ['No such config'],
      422: ['Invalid config'],
    },
  },
  'GET /api/v1/configs/{name}/versions': {
    tag: 'configs',
    summary: 'List versions (newest first)',
    query: { limit, cursor },
    responses: { 200: ['A page of versions', page('ConfigVersion')], 404: ['No such config'] },
  },
  'GET /api/v1/configs/{name}/versions/{version}': {
    tag: 'configs',
    summary: 'Get a version with its files',
    responses: { 200: ['The version', ref('ConfigVersion')], 404: ['No such version'] },
  },
  'GET /api/v1/configs/{name}/versions/{a}/diff/{b}': {
    tag: 'configs',
    summary: 'Diff two versions',
    responses: { 200: ['The diff', ref('ConfigDiff')], 404: ['No such version'] },
  },

  // --- rollouts
  'POST /api/v1/rollouts': {
    tag: 'rollouts',
    summary: 'Start a rollout (dryRun: plan only)',
    body: {
      schema: obj(
        { config: str(), version: int(), selector: str(), strategy: anyObject, dryRun: { type: 'boolean' } },
        ['config', 'version', 'selector'],
      ),
    },
    responses: {
      200: ['The plan (dryRun)', ref('RolloutPlan')],
      201: ['Created', ref('Rollout')],
      409: ['Overlaps a running rollout'],
    },
  },
  'GET /api/v1/rollouts': {
    tag: 'rollouts',
    summary: 'List rollouts (newest first)',
    query: { state: q('Rollout state'), config: q('Config name'), limit, cursor },
    responses: { 200: ['A page of rollouts', page('Rollout')] },
  },
  'GET /api/v1/rollouts/{id}': {
    tag: 'rollouts',
    summary: 'Get a rollout with its waves and counts',
    responses: { 200: ['The rollout', ref('Rollout')], 404: ['No such rollout'] },
  },
  'POST /api/v1/rollouts/{id}/pause': {
    tag: 'rollouts',
    summary: 'Pause',
    body: control,
    responses: {
      200: ['Paused', ref('Rollout')],
      404: ['No such rollout'],
      409: ['Not in a state that can be paused'],
    },
  },
  'POST /api/v1/rollouts/{id}/resume': {
    tag: 'rollouts',
    summary: 'Resume',
    body: control,
    responses: { 200: ['Resumed', ref('Rollout')], 404: ['No such rollout'], 409: ['Not paused'] },
  },
  'POST /api/v1/rollouts/{id}/promote': {
    tag: 'rollouts',
    summary: 'Promote to the next stage',
    body: control,
    responses: { 200: ['Promoted', ref('Rollout')], 404: ['No such rollout'], 409: ['Not waiting for promotion'] },
  },
  'POST /api/v1/rollouts/{id}/abort': {
    tag: 'rollouts',
    summary: 'Abort (agents keep what they have)',
    body: control,
    responses: { 200: ['Aborted', ref('Rollout')], 404: ['No such rollout'], 409: ['Already finished'] },
  },
  'POST /api/v1/rollouts/{id}/rollback': {
    tag: 'rollouts',
    summary: 'Roll back every touched agent to its previous config',
    body: control,
    responses: { 200: ['Rolling back', ref('Rollout')], 404: ['No such rollout'], 409: ['Cannot roll back now'] },
  },

  // --- live updates
  'GET /api/v1/events': {
    tag: 'live',
    summary: 'Server-sent events: agent changes, command outcomes, rollout progress',
    description:
      'Each event has `id: <type>:<stream entry id>`, `event: agent|rollout|command` and a JSON `data` line; a `Last-Event-ID` header (or `lastEventId`) re-sends what followed that event, then continues live. A comment every 15 s keeps the stream open; a client more than 1,000 events behind gets `event: error` (`SLOW_CONSUMER`) and is disconnected. See docs/live-updates.md.',
    query: {
      types: q('Comma-separated: agent, command, rollout (default: all)'),
      rollout: q('Only this rollout (rollout events)'),
      agent: q('Only this agent (agent and command events)'),
      selector: q('Only agents whose labels match this selector (agent and command events)'),
      lastEventId: q('Resume after this event id (as the Last-Event-ID header)'),
    },
    responses: {
      200: ['An event stream (Last-Event-ID resumes)', { type: 'string' }, 'text/event-stream'],
      503: ['This replica serves its maximum of live subscribers, or is shutting down'],
    },
  },
};

export const PATH_PARAMS: Record<string, string> = {
  uid: 'Agent instance uid (UUID)',
  id: 'Resource id (UUID)',
  name: 'Config name',
  version: 'Version number',
  a: 'Version number',
  b: 'Version number',
  hash: 'Config hash (64 hex characters)',
  capability: 'Custom capability, e.g. io.opamp.fluentbit',
  type: 'Command type within the capability',
};
