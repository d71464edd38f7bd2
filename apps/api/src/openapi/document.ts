// Builds the OpenAPI 3.1 document from the route table (routes.ts: what exists and who may call
// it) and the operation docs (operations.ts: what it means). Served at /api/v1/openapi.json and
// committed as docs/api/openapi.json; `npm test` fails when the committed copy differs.
import type { Type } from '@nestjs/common';
import { OPERATIONS, PATH_PARAMS, type OperationDoc } from './operations.js';
import type { RouteInfo } from './routes.js';
import { SCHEMAS } from './schemas.js';

type Json = Record<string, unknown>;

const PROBLEM = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };

const STANDARD: Record<number, string> = {
  400: 'Invalid parameters or body (invalidParams names each problem)',
  401: 'No, unknown, revoked or expired credentials',
  403: 'The caller’s role is below the one this operation needs',
  429: 'Rate limit of the key exceeded (Retry-After)',
  503: 'Postgres or Redis unavailable (Retry-After)',
};

export class RouteDocsMismatch extends Error {}

function operationId(route: RouteInfo): string {
  return `${route.controller.replace(/Controller$/, '')}_${route.handler}`.replace(/^./, (c) => c.toLowerCase());
}

function responsesOf(doc: OperationDoc, route: RouteInfo): Json {
  const out: Json = {};
  for (const [status, [description, schema, contentType]] of Object.entries(doc.responses)) {
    const code = Number(status);
    out[status] =
      code >= 400
        ? { description, content: PROBLEM }
        : { description, ...(schema ? { content: { [contentType ?? 'application/json']: { schema } } } : {}) };
  }
  const add = (code: number): void => {
    out[String(code)] ??= { description: STANDARD[code], content: PROBLEM };
  };
  if (doc.query || doc.body || /\{/.test(route.path)) add(400);
  if (route.role !== 'public') {
    add(401);
    add(403);
    add(429);
  }
  if (route.path.startsWith('/api/')) add(503);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export function buildOpenApiDocument(routes: RouteInfo[], version: string): Json {
  const problems: string[] = [];
  const known = new Set(routes.map((r) => `${r.method} ${r.path}`));
  for (const key of Object.keys(OPERATIONS)) if (!known.has(key)) problems.push(`documented but no such route: ${key}`);
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const key = `${route.method} ${route.path}`;
    const doc = OPERATIONS[key];
    if (!doc) {
      problems.push(`route without documentation in apps/api/src/openapi/operations.ts: ${key}`);
      continue;
    }
    if (!route.roleDeclared)
      problems.push(`route without @RequireRole or @Public: ${key} (${route.controller}.${route.handler})`);
    if (route.method !== 'GET' && !route.audit)
      problems.push(`mutation without @Audit: ${key} (${route.controller}.${route.handler})`);
    const pathParams = [...route.path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!);
    const parameters = [
      ...pathParams.map((name) => ({
        name,
        in: 'path',
        required: true,
        description: PATH_PARAMS[name] ?? name,
        schema: { type: 'string' },
      })),
      ...Object.entries(doc.query ?? {}).map(([name, p]) => ({
        name,
        in: 'query',
        required: p.required ?? false,
        description: p.description,
        schema: p.schema ?? { type: 'string' },
      })),
    ];
    const op: Json = {
      operationId: operationId(route),
      tags: [doc.tag],
      summary: doc.summary,
      ...(doc.description ? { description: doc.description } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(doc.body
        ? {
            requestBody: {
              required: doc.body.required ?? true,
              content: { 'application/json': { schema: doc.body.schema } },
            },
          }
        : {}),
      responses: responsesOf(doc, route),
      security: route.role === 'public' ? [] : [{ bearerAuth: [] }],
      'x-required-role': route.role,
      ...(route.audit ? { 'x-audit-action': route.audit.action } : {}),
    };
    (paths[route.path] ??= {})[route.method.toLowerCase()] = op;
  }
  if (problems.length > 0) throw new RouteDocsMismatch(problems.join('\n'));
  return {
    openapi: '3.1.0',
    info: {
      title: 'OpAMP control plane API',
      version,
      description:
        'REST API of the OpAMP control plane: agents, commands, configs, rollouts, enrollment tokens, API keys and the audit log. Every operation but health and this document needs `Authorization: Bearer <API key or OIDC token>`; `x-required-role` names the least role (viewer < operator < admin). Errors are RFC 9457 problem details.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
    tags: [...new Set(Object.values(OPERATIONS).map((o) => o.tag))].sort().map((name) => ({ name })),
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (opk_…) or, when OIDC is configured, a JWT from the issuer',
        },
      },
      schemas: SCHEMAS,
    },
  };
}

/** The document for the controllers of an app module (helper for the script and the tests). */
export type ControllerList = Type<unknown>[];
