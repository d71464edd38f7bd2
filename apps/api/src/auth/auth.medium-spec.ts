// Authentication, roles, rate limits and the audit log over HTTP against real Postgres and Redis:
// the bootstrap admin key, created keys of each role, revocation and expiry, the per-key limit,
// OIDC JWTs from a local issuer (JWKS over HTTP), and the audit entries every mutation leaves.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaService } from '@opamp/database';
import { loadApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { expectProblem, httpClient, type Json } from '../testing/http.js';

const RUN = randomBytes(4).toString('hex');
const ISSUER = 'https://idp.test.invalid/realms/platform';
const AUDIENCE = 'opamp-api';

let app: INestApplication;
let base = '';
let prisma: PrismaService;
let jwks: Server;
let signingKey: CryptoKey;
const createdKeyIds: string[] = [];

const admin = httpClient(() => base);
const as = (token: string | null) => httpClient(() => base, token);

async function newKey(role: string, extra: Json = {}): Promise<{ id: string; key: string }> {
  const r = await admin.post('/api/v1/api-keys', { name: `${role}-${RUN}`, role, ...extra });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  createdKeyIds.push(r.body.id as string);
  return { id: r.body.id as string, key: r.body.key as string };
}

async function jwt(
  claims: Json,
  opts: { audience?: string; expiresIn?: string; issuer?: string } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(opts.issuer ?? ISSUER)
    .setAudience(opts.audience ?? AUDIENCE)
    .setSubject((claims.sub as string | undefined) ?? `person-${RUN}`)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '5m')
    .sign(signingKey);
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwks = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const config = loadApiConfig({
    ...process.env,
    API_PORT: '0',
    LOG_LEVEL: 'error',
    OIDC_ISSUER: ISSUER,
    OIDC_AUDIENCE: AUDIENCE,
    OIDC_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`,
    OIDC_ROLES_CLAIM: 'groups',
    OIDC_ROLE_MAP: 'platform-admins=admin,sre=operator',
  });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  prisma = app.get(PrismaService);
});

afterAll(async () => {
  if (prisma) {
    await prisma.apiKey.deleteMany({ where: { id: { in: createdKeyIds } } });
    await prisma.auditEvent.deleteMany({ where: { userAgent: { contains: RUN } } });
  }
  await app?.close();
  await new Promise<void>((resolve) => (jwks ? jwks.close(() => resolve()) : resolve()));
});

describe('authentication', () => {
  it('refuses a request without a key with 401, problem+json and WWW-Authenticate', async () => {
    const res = await fetch(`${base}/api/v1/me`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({ status: 401, type: 'urn:opampcp:problem:unauthenticated' });
    expect(body.detail).toMatch(/Authorization: Bearer/);
  });

  it('refuses an unknown key and a malformed header with 401', async () => {
    expectProblem(
      await as('opk_not-a-real-key-0000000000000000000000000000').get('/api/v1/me'),
      401,
      /unknown, revoked or expired/,
    );
    const res = await fetch(`${base}/api/v1/me`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as Json).detail).toMatch(/must be "Bearer <token>"/);
  });

  it('keeps health, readiness and metrics public', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${base}${path}`)).status).toBe(200);
  });

  it('stores the bootstrap admin key hashed and answers /me with it', async () => {
    const me = await admin.get('/api/v1/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ type: 'api_key', role: 'admin' });
    const row = await prisma.apiKey.findFirst({ where: { bootstrap: true, revokedAt: null } });
    expect(row?.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.secretHash).not.toContain(process.env.OPAMP_ADMIN_API_KEY!);
  });
});

describe('API keys and roles', () => {
  it('shows a new key once, lists it without the secret, and enforces its role', async () => {
    const viewer = await newKey('viewer');
    expect(viewer.key).toMatch(/^opk_[A-Za-z0-9_-]{43}$/);
    const listed = await admin.get('/api/v1/api-keys?limit=500');
    const item = (listed.body.items as Json[]).find((k) => k.id === viewer.id)!;
    expect(item).toMatchObject({ role: 'viewer', status: 'active', prefix: viewer.key.slice(0, 12) });
    expect(JSON.stringify(listed.body)).not.toContain(viewer.key);

    expect((await as(viewer.key).get('/api/v1/me')).body).toMatchObject({ role: 'viewer', id: `key:${viewer.id}` });
    expect((await as(viewer.key).get('/api/v1/audit?limit=1')).status).toBe(200);
    expectProblem(
      await as(viewer.key).post('/api/v1/api-keys', { name: 'x', role: 'admin' }),
      403,
      /needs the admin role; this API key has viewer/,
    );

    const operator = await newKey('operator');
    expectProblem(await as(operator.key).get('/api/v1/api-keys'), 403, /needs the admin role/);
  });

  it('validates a new key and names every problem', async () => {
    const r = await admin.post('/api/v1/api-keys', { name: '', role: 'root', ttlSeconds: 5, color: 'red' });
    expectProblem(r, 400);
    const names = (r.body.invalidParams as Json[]).map((p) => p.name).sort();
    expect(names).toEqual(['color', 'name', 'role', 'ttlSeconds']);
  });

  it('refuses a revoked key at once on this process, and keeps the row', async () => {
    const k = await newKey('operator');
    expect((await as(k.key).get('/api/v1/me')).status).toBe(200);
    const revoked = await admin.post(`/api/v1/api-keys/${k.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ status: 'revoked', revokedBy: expect.stringMatching(/^key:/) });
    expectProblem(await as(k.key).get('/api/v1/me'), 401);
    expect((await admin.post(`/api/v1/api-keys/${k.id}/revoke`)).status).toBe(200);
    expectProblem(await admin.post('/api/v1/api-keys/00000000-0000-0000-0000-000000000000/revoke'), 404);
  });

  it('refuses an expired key', async () => {
    const k = await newKey('viewer', { ttlSeconds: 60 });
    await prisma.apiKey.update({ where: { id: k.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expectProblem(await as(k.key).get('/api/v1/me'), 401);
    expect((await admin.get(`/api/v1/api-keys/${k.id}`)).body).toMatchObject({ status: 'expired' });
  });

  it('limits a key to its requests per minute with 429, Retry-After and RateLimit headers', async () => {
    const k = await newKey('viewer', { rateLimitPerMinute: 3 });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${k.key}` } });
      statuses.push(last.status);
    }
    // A minute boundary may fall inside the loop and reset the window once.
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
    expect(last!.status).toBe(429);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(last!.headers.get('ratelimit-limit')).toBe('3');
    expect(last!.headers.get('ratelimit-remaining')).toBe('0');
    expect(((await last!.json()) as Json).type).toBe('urn:opampcp:problem:rate-limited');
  });
});

describe('OIDC', () => {
  it('accepts a JWT of the issuer and maps its groups to the highest role', async () => {
    const token = await jwt({ groups: ['sre', 'readers'], email: `dev-${RUN}@example.com` });
    const me = await as(token).get('/api/v1/me');
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    expect(me.body).toMatchObject({
      type: 'user',
      role: 'operator',
      name: `dev-${RUN}@example.com`,
      id: `user:person-${RUN}`,
    });
    const adminToken = await jwt({ groups: ['sre', 'platform-admins'] });
    expect((await as(adminToken).get('/api/v1/api-keys')).status).toBe(200);
  });

  it('refuses a wrong audience, a wrong issuer and an expired token with 401', async () => {
    expectProblem(
      await as(await jwt({ groups: ['sre'] }, { audience: 'other' })).get('/api/v1/me'),
      401,
      /"aud" claim/,
    );
    expectProblem(
      await as(await jwt({ groups: ['sre'] }, { issuer: 'https://evil.invalid' })).get('/api/v1/me'),
      401,
      /"iss" claim/,
    );
    expectProblem(await as(await jwt({ groups: ['sre'] }, { expiresIn: '-2m' })).get('/api/v1/me'), 401, /expired/);
  });

  it('refuses a JWT signed by another key with 401', async () => {
    const other = await generateKeyPair('ES256');
    const forged = await new SignJWT({ groups: ['platform-admins'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('mallory')
      .setExpirationTime('5m')
      .sign(other.privateKey);
    expectProblem(await as(forged).get('/api/v1/me'), 401, /not a valid JWT/);
  });

  it('answers 403 when the claim maps to no role and no default role is set', async () => {
    expectProblem(await as(await jwt({ groups: ['marketing'] })).get('/api/v1/me'), 403, /maps to no role/);
  });
});

describe('audit log', () => {
  const ua = `audit-test-${RUN}`;
  const call = async (token: string, method: string, path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'user-agent': ua,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('records successful, failed and denied mutations with who, what, where and outcome', async () => {
    const adminKey = process.env.OPAMP_ADMIN_API_KEY!;
    const created = await call(adminKey, 'POST', '/api/v1/api-keys', { name: `audited-${RUN}`, role: 'viewer' });
    expect(created.status).toBe(201);
    const keyId = ((await created.json()) as Json).id as string;
    createdKeyIds.push(keyId);
    const viewerKey = (await newKey('viewer')).key;
    expect((await call(viewerKey, 'POST', `/api/v1/api-keys/${keyId}/revoke`)).status).toBe(403);
    expect((await call(adminKey, 'POST', '/api/v1/api-keys', { name: '', role: 'viewer' })).status).toBe(400);
    expect((await call(adminKey, 'POST', `/api/v1/api-keys/${keyId}/revoke`)).status).toBe(200);

    const entries = await prisma.auditEvent.findMany({ where: { userAgent: ua }, orderBy: { id: 'asc' } });
    expect(entries.map((e) => [e.action, e.outcome, e.status])).toEqual([
      ['api_keys.create', 'success', 201],
      ['api_keys.revoke', 'denied', 403],
      ['api_keys.create', 'failure', 400],
      ['api_keys.revoke', 'success', 200],
    ]);
    expect(entries[0]).toMatchObject({
      actorType: 'api_key',
      actorRole: 'admin',
      resourceType: 'api_key',
      resourceId: keyId,
      interface: 'rest',
      method: 'POST',
      path: '/api/v1/api-keys',
      sourceIp: expect.stringMatching(/127\.0\.0\.1/),
    });
    expect(entries[0]!.actor).toMatch(/^key:/);
    expect(entries[1]).toMatchObject({ actorRole: 'viewer', resourceId: keyId });
    expect((entries[2]!.detail as Json).error).toMatch(/name/);
    // The created key's secret is never written to the audit log.
    expect(JSON.stringify(entries)).not.toMatch(/opk_[A-Za-z0-9_-]{43}/);
  });

  it('queries with filters and pages, newest first', async () => {
    const page = await admin.get(`/api/v1/audit?action=api_keys.*&outcome=success&limit=1`);
    expect(page.status).toBe(200);
    expect((page.body.items as Json[])[0]).toMatchObject({
      outcome: 'success',
      action: expect.stringMatching(/^api_keys\./),
    });
    const next = await admin.get(
      `/api/v1/audit?action=api_keys.*&outcome=success&limit=1&cursor=${page.body.nextCursor as string}`,
    );
    expect(next.status).toBe(200);
    expect(((next.body.items as Json[])[0]!.id as string) < ((page.body.items as Json[])[0]!.id as string)).toBe(true);
    expectProblem(
      await admin.get(`/api/v1/audit?action=x&cursor=${page.body.nextCursor as string}`),
      400,
      /different filters/,
    );
    expectProblem(await admin.get('/api/v1/audit?outcome=maybe&since=yesterday'), 400);
  });

  it('exports as CSV and JSON', async () => {
    const csv = await fetch(`${base}/api/v1/audit/export?format=csv&action=api_keys.revoke`, {
      headers: { authorization: `Bearer ${process.env.OPAMP_ADMIN_API_KEY!}` },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(/attachment; filename="audit-.*\.csv"/);
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe(
      'id,at,actor,actorType,actorName,actorRole,action,resourceType,resourceId,interface,method,path,sourceIp,userAgent,outcome,status,detail',
    );
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.slice(1).every((l) => l.includes('api_keys.revoke'))).toBe(true);

    const json = await admin.get('/api/v1/audit/export?format=json&action=api_keys.revoke&outcome=denied');
    expect(json.status).toBe(200);
    const items = json.body as unknown as Json[];
    expect(Array.isArray(items)).toBe(true);
    expect(items.length).toBeGreaterThanOrEqual(1);
    expect(items.every((e) => e.outcome === 'denied')).toBe(true);
  });
});
