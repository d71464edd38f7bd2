// Every GraphQL root field does what one REST route does: it must need the same role, and a
// mutation must be audited with the route's action and resource type, so an operator reads one
// audit log and one role table whichever interface a client uses. The twin of each field is named
// here; the roles and audit specs are read from the route table (the Nest metadata the OpenAPI
// document's `x-required-role` comes from), not copied.
import { buildSchema, isObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { apiRoutes } from '../openapi/build.js';
import { readSdl } from './executable-schema.js';
import { FIELD_ACCESS } from './field-access.js';

/** "<Root>.<field>" → "<METHOD> <OpenAPI path>" of the REST route doing the same. */
const REST_TWINS: Readonly<Record<string, string>> = {
  'Query.me': 'GET /api/v1/me',
  'Query.agents': 'GET /api/v1/agents',
  'Query.agent': 'GET /api/v1/agents/{uid}',
  'Query.agentEvents': 'GET /api/v1/agents/{uid}/events',
  'Query.fleetSummary': 'GET /api/v1/fleet/summary',
  'Query.configs': 'GET /api/v1/configs',
  'Query.config': 'GET /api/v1/configs/{name}',
  'Query.versions': 'GET /api/v1/configs/{name}/versions',
  'Query.version': 'GET /api/v1/configs/{name}/versions/{version}',
  'Query.diff': 'GET /api/v1/configs/{name}/versions/{a}/diff/{b}',
  'Query.rollouts': 'GET /api/v1/rollouts',
  'Query.rollout': 'GET /api/v1/rollouts/{id}',
  'Query.commands': 'GET /api/v1/commands',
  'Query.command': 'GET /api/v1/commands/{id}',
  'Query.commandTypes': 'GET /api/v1/command-types',
  'Query.enrollmentTokens': 'GET /api/v1/enrollment-tokens',
  'Query.enrollmentToken': 'GET /api/v1/enrollment-tokens/{id}',
  'Query.apiKeys': 'GET /api/v1/api-keys',
  'Query.apiKey': 'GET /api/v1/api-keys/{id}',
  'Query.auditEvents': 'GET /api/v1/audit',

  'Mutation.setAgentLabels': 'PUT /api/v1/agents/{uid}/labels',
  'Mutation.patchAgentLabels': 'PATCH /api/v1/agents/{uid}/labels',
  'Mutation.forgetAgent': 'DELETE /api/v1/agents/{uid}',
  'Mutation.createConfig': 'POST /api/v1/configs',
  'Mutation.addConfigVersion': 'POST /api/v1/configs/{name}/versions',
  'Mutation.createRollout': 'POST /api/v1/rollouts',
  'Mutation.pauseRollout': 'POST /api/v1/rollouts/{id}/pause',
  'Mutation.resumeRollout': 'POST /api/v1/rollouts/{id}/resume',
  'Mutation.promoteRollout': 'POST /api/v1/rollouts/{id}/promote',
  'Mutation.abortRollout': 'POST /api/v1/rollouts/{id}/abort',
  'Mutation.rollbackRollout': 'POST /api/v1/rollouts/{id}/rollback',
  'Mutation.restartAgent': 'POST /api/v1/agents/{uid}/restart',
  'Mutation.sendCustomMessage': 'POST /api/v1/agents/{uid}/custom-messages',
  'Mutation.sendCommand': 'POST /api/v1/agents/{uid}/commands',
  'Mutation.bulkCommand': 'POST /api/v1/commands/bulk',
  'Mutation.putCommandType': 'PUT /api/v1/command-types/{capability}/{type}',
  'Mutation.deleteCommandType': 'DELETE /api/v1/command-types/{capability}/{type}',
  'Mutation.createEnrollmentToken': 'POST /api/v1/enrollment-tokens',
  'Mutation.revokeEnrollmentToken': 'POST /api/v1/enrollment-tokens/{id}/revoke',
  'Mutation.createApiKey': 'POST /api/v1/api-keys',
  'Mutation.revokeApiKey': 'POST /api/v1/api-keys/{id}/revoke',

  // The live updates over SSE.
  'Subscription.agentChanged': 'GET /api/v1/events',
  'Subscription.rolloutProgress': 'GET /api/v1/events',
  'Subscription.commandUpdated': 'GET /api/v1/events',
};

describe('GraphQL root fields and their REST twins', () => {
  const routes = new Map(apiRoutes().map((r) => [`${r.method} ${r.path}`, r]));
  const schema = buildSchema(readSdl());
  const rootFields = (['Query', 'Mutation', 'Subscription'] as const).flatMap((root) => {
    const t = schema.getType(root);
    return t && isObjectType(t) ? Object.keys(t.getFields()).map((f) => `${root}.${f}`) : [];
  });

  it('every root field names its twin, and every twin is a route of the api', () => {
    expect(Object.keys(REST_TWINS).sort()).toEqual([...rootFields].sort());
    for (const [field, route] of Object.entries(REST_TWINS))
      expect(routes.has(route), `${field} → ${route}`).toBe(true);
  });

  it('need the role their twin needs', () => {
    const mismatches = Object.entries(REST_TWINS)
      .map(([field, route]) => [field, FIELD_ACCESS[field]?.role, routes.get(route)?.role, route])
      .filter(([, gql, rest]) => gql !== rest)
      .map(([field, gql, rest, route]) => `${field} needs ${gql}, ${route} needs ${rest}`);
    expect(mismatches).toEqual([]);
  });

  it('mutations are audited with the action and resource type of their twin', () => {
    const mismatches: string[] = [];
    for (const [field, route] of Object.entries(REST_TWINS)) {
      if (!field.startsWith('Mutation.')) continue;
      const gql = FIELD_ACCESS[field]?.audit;
      const rest = routes.get(route)?.audit;
      if (gql?.action !== rest?.action || gql?.resourceType !== rest?.resourceType) {
        mismatches.push(
          `${field} audits ${gql?.action}/${gql?.resourceType}, ${route} ${rest?.action}/${rest?.resourceType}`,
        );
      }
    }
    expect(mismatches).toEqual([]);
  });
});
