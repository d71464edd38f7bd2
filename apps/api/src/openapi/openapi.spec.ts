// The committed OpenAPI document must be what the code describes, every route must declare its
// role and (for mutations) its audit action, and the operation docs must match the routes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPERATIONS } from './operations.js';
import { OPENAPI_FILE, apiRoutes, openApiText } from './build.js';

describe('OpenAPI document', () => {
  it('builds: every route is documented, declares a role, and every mutation an audit action', () => {
    expect(() => openApiText()).not.toThrow();
  });

  it(`is committed up to date in ${OPENAPI_FILE} (run: npm run openapi -- --write)`, () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(openApiText());
  });

  it('documents exactly the routes the app registers', () => {
    const routes = apiRoutes().map((r) => `${r.method} ${r.path}`);
    expect(new Set(routes).size).toBe(routes.length);
    expect([...routes].sort()).toEqual(Object.keys(OPERATIONS).sort());
  });

  it('requires a role on everything under /api/v1 but the document itself', () => {
    const open = apiRoutes()
      .filter((r) => r.role === 'public')
      .map((r) => r.path);
    expect(open.sort()).toEqual(['/api/v1/openapi.json', '/healthz', '/metrics', '/readyz']);
  });

  it('is OpenAPI 3.1 with a bearer scheme, and 401/403 on every protected operation', () => {
    const doc = JSON.parse(openApiText()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { security: unknown[]; responses: Record<string, unknown>; 'x-required-role': string }>
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        if (op['x-required-role'] === 'public') continue;
        expect(op.security, `${m} ${p}`).toEqual([{ bearerAuth: [] }]);
        expect(Object.keys(op.responses), `${m} ${p}`).toEqual(expect.arrayContaining(['401', '403', '429']));
      }
    }
  });
});
