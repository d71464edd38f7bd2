// JSON Schemas (OpenAPI 3.1 = JSON Schema 2020-12) of the api's resources. Written by hand from the
// view types in apps/api/src/*/…view.ts and libs/rollouts; the medium tests check real responses
// against them (openapi.medium-spec.ts).
type Schema = Record<string, unknown>;

const str = (description?: string, extra: Schema = {}): Schema => ({
  type: 'string',
  ...(description ? { description } : {}),
  ...extra,
});
const nstr = (description?: string, extra: Schema = {}): Schema => ({
  type: ['string', 'null'],
  ...(description ? { description } : {}),
  ...extra,
});
const int = (description?: string): Schema => ({ type: 'integer', ...(description ? { description } : {}) });
const dt = (description?: string): Schema => str(description, { format: 'date-time' });
const ndt = (description?: string): Schema => nstr(description, { format: 'date-time' });
const obj = (
  properties: Record<string, Schema>,
  required: string[] = Object.keys(properties),
  extra: Schema = {},
): Schema => ({
  type: 'object',
  properties,
  required,
  ...extra,
});
export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const arr = (items: Schema): Schema => ({ type: 'array', items });
const anyObject: Schema = { type: 'object', additionalProperties: true };
const labels: Schema = {
  type: 'object',
  additionalProperties: { type: 'string' },
  description: 'Kubernetes-style labels',
};

export const page = (item: string): Schema =>
  obj({ items: arr(ref(item)), nextCursor: nstr('Pass as `cursor` for the next page; null on the last page') });

export const SCHEMAS: Record<string, Schema> = {
  Problem: obj(
    {
      type: str('Problem type URI (urn:opampcp:problem:…)'),
      title: str(),
      status: int(),
      detail: str('What went wrong, for a person'),
      instance: str('The request path'),
      invalidParams: arr(obj({ name: str(), reason: str() })),
    },
    ['type', 'title', 'status', 'detail'],
    { description: 'RFC 9457 problem details (application/problem+json)' },
  ),
  Principal: obj({
    id: str('"key:<uuid>" or "user:<subject>"'),
    type: str(undefined, { enum: ['api_key', 'user'] }),
    name: str(),
    role: ref('Role'),
    rateLimitPerMinute: int(),
  }),
  Role: str('viewer < operator < admin', { enum: ['viewer', 'operator', 'admin'] }),
  Capabilities: obj({ value: str('uint64 as a decimal string'), hex: str(), names: arr(str()) }),
  Agent: obj(
    {
      uid: str('instance_uid as a UUID', { format: 'uuid' }),
      agentType: str('fluentbit | fluentd | otelcol | generic'),
      connectionState: str(undefined, { enum: ['connected', 'disconnected', 'offline'] }),
      capabilities: ref('Capabilities'),
      labels,
      description: { ...anyObject, type: ['object', 'null'] },
      lastSeenAt: dt(),
    },
    ['uid', 'agentType', 'connectionState', 'capabilities', 'labels', 'lastSeenAt'],
    { additionalProperties: true, description: 'An agent: what it reported and what the API set (labels)' },
  ),
  AgentEvent: obj({ id: str(), type: str(), at: dt(), data: anyObject }, ['type', 'at', 'data'], {
    additionalProperties: true,
  }),
  AgentLabels: obj({ uid: str(), labels, mergedLabels: labels }, ['uid', 'labels'], { additionalProperties: true }),
  AgentConfig: {
    ...anyObject,
    description: "The agent's desired config, the active rollout targeting it, and its quarantined hashes",
  },
  Config: obj(
    { id: str(), name: str(), agentType: str(), description: nstr(), createdAt: dt(), updatedAt: dt() },
    ['name', 'agentType'],
    { additionalProperties: true },
  ),
  ConfigFile: obj(
    { name: str(), contentType: str(), content: str(), encoding: str(undefined, { enum: ['utf-8', 'base64'] }) },
    ['name', 'content'],
  ),
  ConfigVersion: obj(
    { version: int(), hash: str('SHA-256 (hex) of the config map'), createdAt: dt() },
    ['version', 'hash'],
    {
      additionalProperties: true,
    },
  ),
  ConfigDiff: { ...anyObject, description: 'Per-file differences between two versions' },
  Rollout: obj(
    {
      id: str(),
      state: str(undefined, {
        enum: ['planned', 'running', 'paused', 'completed', 'aborted', 'rolling_back', 'rolled_back'],
      }),
      reason: nstr(),
      selector: str(),
      createdBy: nstr(),
      createdAt: dt(),
    },
    ['id', 'state'],
    { additionalProperties: true, description: 'docs/rollouts.md describes every field' },
  ),
  RolloutPlan: { ...anyObject, description: 'A dry-run plan: stages, waves and exclusions (docs/rollouts.md)' },
  ApiKey: obj({
    id: str(undefined, { format: 'uuid' }),
    name: str(),
    role: ref('Role'),
    prefix: str('The first 12 characters of the key'),
    bootstrap: { type: 'boolean' },
    rateLimitPerMinute: { type: ['integer', 'null'] },
    createdAt: dt(),
    createdBy: nstr(),
    expiresAt: ndt(),
    revokedAt: ndt(),
    revokedBy: nstr(),
    lastUsedAt: ndt(),
    status: str(undefined, { enum: ['active', 'expired', 'revoked'] }),
  }),
  NewApiKey: {
    allOf: [ref('ApiKey'), obj({ key: str('The secret; shown only in this response') })],
  },
  AuditEvent: obj({
    id: str(),
    at: dt(),
    actor: str(),
    actorType: str(),
    actorName: nstr(),
    actorRole: nstr(),
    action: str(),
    resourceType: nstr(),
    resourceId: nstr(),
    interface: str(undefined, { enum: ['rest', 'graphql'] }),
    method: nstr(),
    path: nstr(),
    sourceIp: nstr(),
    userAgent: nstr(),
    outcome: str(undefined, { enum: ['success', 'failure', 'denied'] }),
    status: { type: ['integer', 'null'] },
    detail: anyObject,
  }),
  Command: obj(
    {
      id: str(),
      agentUid: str(),
      kind: str(undefined, { enum: ['restart', 'custom'] }),
      state: str(undefined, { enum: ['queued', 'sent', 'succeeded', 'failed', 'timed_out'] }),
      createdAt: dt(),
    },
    ['id', 'agentUid', 'kind', 'state'],
    { additionalProperties: true, description: 'docs/commands.md' },
  ),
  CommandType: obj(
    { capability: str(), type: str(), description: nstr(), parametersSchema: anyObject, timeoutSeconds: int() },
    ['capability', 'type', 'parametersSchema'],
    { additionalProperties: true },
  ),
  EnrollmentToken: obj(
    {
      id: str(),
      name: str(),
      prefix: str(),
      labels,
      createdAt: dt(),
      createdBy: nstr(),
      expiresAt: ndt(),
      revokedAt: ndt(),
      revokedBy: nstr(),
      status: str(undefined, { enum: ['active', 'expired', 'revoked'] }),
    },
    ['id', 'name', 'prefix', 'labels', 'status'],
    { additionalProperties: true, description: 'docs/enrollment.md' },
  ),
  NewEnrollmentToken: {
    allOf: [ref('EnrollmentToken'), obj({ token: str('The secret; shown only in this response') })],
  },
  FleetSummary: { ...anyObject, description: 'Counts by status, health, type, version, config hash and drift' },
  Health: obj({ status: str() }, ['status'], { additionalProperties: true }),
};

export { anyObject, arr, int, labels, obj, str };
