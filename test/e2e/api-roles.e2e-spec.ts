// Every REST operation of a running api process, as its OpenAPI document lists them, called over
// real HTTP without credentials (401), with every role below the one it needs (403), and with the
// role it needs (neither 401 nor 403). The document is the route table of the code
// (apps/api/src/openapi), so a new route is covered the moment it exists.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAuth } from '../support/env.js';
import { startApp, type RunningApp } from '../support/processes.js';

type Role = 'viewer' | 'operator' | 'admin';
const ROLES: Role[] = ['viewer', 'operator', 'admin'];

interface Operation {
  method: string;
  path: string;
  role: Role | 'public';
  /** The audit action a mutation writes (x-audit-action). */
  audit?: string;
}

const PARAMS: Record<string, string> = {
  uid: '0190c3a2-0000-7000-8000-000000000000',
  id: '00000000-0000-0000-0000-000000000000',
  name: 'no-such-config-roles-test',
  version: '1',
  a: '1',
  b: '2',
  hash: '0'.repeat(64),
  capability: 'io.example.none',
  type: 'none',
};

let api: RunningApp;
const startedAt = new Date();
let operations: Operation[] = [];
const keys: Partial<Record<Role, string>> = {};

/** Status of one call; the body is not read (the SSE route would stream forever). */
async function statusOf(op: Operation, token?: string): Promise<number> {
  const url = api.url + op.path.replace(/\{([A-Za-z0-9_]+)\}/g, (_m, p: string) => PARAMS[p] ?? 'x');
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), 10_000);
  try {
    const res = await fetch(url, {
      method: op.method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(op.method === 'GET' || op.method === 'DELETE' ? {} : { 'content-type': 'application/json' }),
      },
      body: op.method === 'GET' || op.method === 'DELETE' ? undefined : '{}',
      signal: ctrl.signal,
    });
    ctrl.abort();
    return res.status;
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  // A high limit: this file makes a few hundred calls with the same keys inside a minute.
  api = await startApp('api', { API_RATE_LIMIT_PER_MINUTE: '100000' });
  const doc = (await (await fetch(`${api.url}/api/v1/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { 'x-required-role': Role | 'public'; 'x-audit-action'?: string }>>;
  };
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      role: op['x-required-role'],
      audit: op['x-audit-action'],
    })),
  );
  for (const role of ROLES) {
    const res = await fetch(`${api.url}/api/v1/api-keys`, {
      method: 'POST',
      headers: { ...adminAuth(), 'content-type': 'application/json' },
      body: JSON.stringify({ name: `roles-e2e-${role}`, role, ttlSeconds: 3600 }),
    });
    expect(res.status).toBe(201);
    keys[role] = ((await res.json()) as { key: string }).key;
  }
});

afterAll(async () => {
  await api?.stop();
});

describe('every REST operation enforces authentication and its role', () => {
  it('lists the operations of the document (sanity: the API is all there)', () => {
    expect(operations.length).toBeGreaterThanOrEqual(45);
    const byRole = (r: string) => operations.filter((o) => o.role === r).length;
    expect(byRole('viewer')).toBeGreaterThan(10);
    expect(byRole('operator')).toBeGreaterThan(10);
    expect(byRole('admin')).toBeGreaterThanOrEqual(8);
  });

  it('answers 401 without a key on every protected operation, and serves public ones', async () => {
    const wrong: string[] = [];
    for (const op of operations) {
      const status = await statusOf(op);
      if (op.role === 'public' ? status === 401 || status === 403 : status !== 401)
        wrong.push(`${op.method} ${op.path} → ${status}`);
    }
    expect(wrong).toEqual([]);
  });

  it('answers 403 to every role below the one needed, and lets the needed role through', async () => {
    const wrong: string[] = [];
    for (const op of operations) {
      if (op.role === 'public') continue;
      const need = ROLES.indexOf(op.role);
      for (const [i, role] of ROLES.entries()) {
        const status = await statusOf(op, keys[role]);
        const denied = status === 401 || status === 403;
        if (i < need && status !== 403) wrong.push(`${op.method} ${op.path} as ${role} → ${status}, want 403`);
        if (i >= need && denied) wrong.push(`${op.method} ${op.path} as ${role} → ${status}, want neither 401 nor 403`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('wrote an audit entry for every mutation: denied for each role below, and the outcome for the role allowed', async () => {
    const res = await fetch(
      `${api.url}/api/v1/audit/export?format=json&since=${encodeURIComponent(startedAt.toISOString())}`,
      {
        headers: adminAuth(),
      },
    );
    expect(res.status).toBe(200);
    const entries = (await res.json()) as Array<{
      action: string;
      outcome: string;
      actorRole: string;
      path: string;
      status: number;
    }>;
    const missing: string[] = [];
    const mutations = operations.filter((o) => o.method !== 'GET' && o.role !== 'public');
    expect(mutations.length).toBeGreaterThan(20);
    for (const op of mutations) {
      expect(op.audit, `${op.method} ${op.path} has no x-audit-action`).toBeDefined();
      const mine = entries.filter((e) => e.action === op.audit);
      const need = ROLES.indexOf(op.role as Role);
      for (const [i, role] of ROLES.entries()) {
        const found =
          i < need
            ? mine.some((e) => e.actorRole === role && e.outcome === 'denied' && e.status === 403)
            : mine.some(
                (e) => e.actorRole === role && (e.outcome === 'success' || e.outcome === 'failure') && e.status >= 200,
              );
        if (!found) missing.push(`${op.method} ${op.path} (${op.audit}) as ${role}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
