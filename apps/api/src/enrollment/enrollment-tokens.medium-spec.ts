// The enrollment-token routes over HTTP against real Postgres and Redis, and the Redis mirror the
// gateways read: what a create writes there, what a revoke removes and announces, and how a resync
// repairs the hash after Redis lost (or kept stale) entries.
import { createHash, randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys, createRedis, parseEnrollmentTokenMirror } from '@opamp/bus';
import { PrismaService } from '@opamp/database';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { loadApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { ConfigProblemType } from '../configs/config-problems.js';
import { expectProblem, httpClient, type Json } from '../testing/http.js';
import { EnrollmentTokenMirrorService } from './enrollment-token-mirror.service.js';

const RUN = `et-${randomBytes(4).toString('hex')}`;
const PATH = '/api/v1/enrollment-tokens';

let app: INestApplication;
let base: string;
let prisma: PrismaService;
let redis: Redis;
let subscriber: Redis;
const announced: string[] = [];
const created: string[] = [];

const { get, post } = httpClient(() => base);
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

async function createToken(body: Json = {}): Promise<Json & { id: string; token: string }> {
  const r = await post(PATH, { name: `${RUN} token`, ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  created.push(r.body.id as string);
  return r.body as Json & { id: string; token: string };
}

async function mirrored(token: string) {
  const raw = await redis.hget(RedisKeys.enrollmentTokens, sha256(token));
  return raw === null ? null : parseEnrollmentTokenMirror(raw);
}

/** Waits until the revocation channel carried `id` (`count` times). */
async function announcedTimes(id: string, count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (announced.filter((x) => x === id).length < count) {
    if (Date.now() > deadline) throw new Error(`revocation of ${id} not announced ${count} time(s)`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  const config = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  redis = createRedis(config.REDIS_URL, { name: 'enrollment-medium-spec' });
  await redis.connect();
  subscriber = createRedis(config.REDIS_URL, { name: 'enrollment-medium-spec:sub' });
  await subscriber.connect();
  subscriber.on('message', (_channel: string, id: string) => announced.push(id));
  await subscriber.subscribe(RedisKeys.enrollmentTokenRevoked);
});

afterAll(async () => {
  if (prisma && created.length > 0) {
    const rows = await prisma.enrollmentToken.findMany({
      where: { id: { in: created } },
      select: { secretHash: true },
    });
    if (rows.length > 0) await redis.hdel(RedisKeys.enrollmentTokens, ...rows.map((r) => r.secretHash));
    await prisma.enrollmentToken.deleteMany({ where: { id: { in: created } } });
  }
  subscriber?.disconnect();
  redis?.disconnect();
  await app?.close();
});

describe('POST /api/v1/enrollment-tokens', () => {
  it('201: the token once, its resource, only its SHA-256 stored, mirrored for the gateways', async () => {
    const r = await post(PATH, { name: `${RUN} edge`, labels: { env: 'prod', 'example.com/tier': 'edge' } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const body = r.body as Json & { id: string; token: string };
    created.push(body.id);
    expect(body.token).toMatch(/^oet_[A-Za-z0-9_-]{43}$/);
    expect(body).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: `${RUN} edge`,
      prefix: body.token.slice(0, 12),
      labels: { env: 'prod', 'example.com/tier': 'edge' },
      createdBy: expect.stringMatching(/^key:/),
      expiresAt: null,
      revokedAt: null,
      status: 'active',
    });
    expect(r.location).toBe(`${PATH}/${body.id}`);

    const row = await prisma.enrollmentToken.findUniqueOrThrow({ where: { id: body.id } });
    expect(row.secretHash).toBe(sha256(body.token));
    expect(JSON.stringify(row)).not.toContain(body.token.slice(12));
    expect(await mirrored(body.token)).toEqual({
      id: body.id,
      labels: { env: 'prod', 'example.com/tier': 'edge' },
      expiresAtMs: null,
    });

    // Never shown again.
    const again = await get(`${PATH}/${body.id}`);
    expect(again.status).toBe(200);
    expect(again.body.token).toBeUndefined();
    expect(again.body).toMatchObject({ id: body.id, prefix: body.prefix, labels: body.labels });
  });

  it('ttlSeconds and expiresAt set the expiry the gateways check', async () => {
    const before = Date.now();
    const ttl = await createToken({ ttlSeconds: 3600 });
    const expiresAtMs = Date.parse(ttl.expiresAt as string);
    expect(expiresAtMs).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(expiresAtMs).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect((await mirrored(ttl.token))?.expiresAtMs).toBe(expiresAtMs);

    const at = await createToken({ expiresAt: '2099-01-01T00:00:00.000Z' });
    expect(at.expiresAt).toBe('2099-01-01T00:00:00.000Z');
    expect((await mirrored(at.token))?.expiresAtMs).toBe(Date.UTC(2099, 0, 1));
  });

  it('400 / 422 problems for bad input; nothing is stored', async () => {
    const count = await prisma.enrollmentToken.count();
    expectProblem(await post(PATH, {}), 400, /name: is required/);
    expectProblem(await post(PATH, { name: 'x'.repeat(101) }), 400, /name/);
    expectProblem(await post(PATH, { name: 'n', expiresAt: '2001-01-01T00:00:00Z' }), 400, /must be in the future/);
    expectProblem(await post(PATH, { name: 'n', ttlSeconds: 30 }), 400, /ttlSeconds/);
    expectProblem(await post(PATH, { name: 'n', labels: 'env=prod' }), 400, /labels/);
    expectProblem(await post(PATH, { name: 'n', token: 'oet_mine' }), 400, /token: unknown field/);
    expectProblem(await post(PATH, '{"name":'), 400);
    expectProblem(
      await post(PATH, { name: 'n', labels: { 'bad key!': 'v' } }),
      422,
      /invalid key/,
      ConfigProblemType.invalidLabels,
    );
    expect(await prisma.enrollmentToken.count()).toBe(count);
  });
});

describe('GET /api/v1/enrollment-tokens', () => {
  it('pages oldest first with a cursor; revoked tokens only with includeRevoked=true', async () => {
    const mine = [await createToken(), await createToken(), await createToken()];
    const revoked = mine[1]!;
    expect((await post(`${PATH}/${revoked.id}/revoke`)).status).toBe(200);

    const walk = async (query: string): Promise<string[]> => {
      const ids: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 1000; i++) {
        const r = await get(`${PATH}?limit=2${query}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        const items = r.body.items as Array<{ id: string; token?: unknown }>;
        expect(items.length).toBeLessThanOrEqual(2);
        for (const item of items) expect(item.token).toBeUndefined();
        ids.push(...items.map((x) => x.id));
        cursor = r.body.nextCursor as string | null;
        if (cursor === null) break;
      }
      expect(new Set(ids).size).toBe(ids.length);
      return ids.filter((id) => mine.some((m) => m.id === id));
    };
    expect(await walk('')).toEqual([mine[0]!.id, mine[2]!.id]);
    expect(await walk('&includeRevoked=true')).toEqual(mine.map((m) => m.id));
  });

  it('400 for a cursor of another query and for unknown parameters', async () => {
    await createToken();
    await createToken();
    const first = await get(`${PATH}?limit=1`);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    expectProblem(await get(`${PATH}?limit=1&includeRevoked=true&cursor=${String(first.body.nextCursor)}`), 400);
    expectProblem(await get(`${PATH}?cursor=garbage!`), 400);
    expectProblem(await get(`${PATH}?state=active`), 400, /state: unknown parameter/);
  });

  it('404 for an unknown id', async () => {
    expectProblem(await get(`${PATH}/${uidToString(uuidv7())}`), 404, /no enrollment token/);
    expectProblem(await get(`${PATH}/not-a-token-id`), 404);
  });
});

describe('POST /api/v1/enrollment-tokens/{id}/revoke', () => {
  it('revokes, removes the token from Redis, announces it; idempotent', async () => {
    const t = await createToken({ labels: { env: 'dev' } });
    const r = await post(`${PATH}/${t.id}/revoke`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      id: t.id,
      status: 'revoked',
      revokedAt: expect.any(String),
      revokedBy: expect.stringMatching(/^key:/),
    });
    expect(await mirrored(t.token)).toBeNull();
    await announcedTimes(t.id, 1);

    const again = await post(`${PATH}/${t.id}/revoke`);
    expect(again.status).toBe(200);
    expect(again.body.revokedAt).toBe(r.body.revokedAt);
    await announcedTimes(t.id, 2);
  });

  it('404 for an unknown id', async () => {
    expectProblem(await post(`${PATH}/${uidToString(uuidv7())}/revoke`), 404);
  });

  it('is audited', async () => {
    const t = await createToken();
    await post(`${PATH}/${t.id}/revoke`);
    const audit = await get(`/api/v1/audit?action=enrollment_tokens.revoke&resourceId=${t.id}`);
    expect(audit.status, JSON.stringify(audit.body)).toBe(200);
    expect(audit.body.items).toEqual([
      expect.objectContaining({ action: 'enrollment_tokens.revoke', outcome: 'success' }),
    ]);
  });
});

describe('roles', () => {
  it('401 without a key, 403 for a viewer or operator key', async () => {
    const anonymous = httpClient(() => base, null);
    expectProblem(await anonymous.get(PATH), 401);
    for (const role of ['viewer', 'operator']) {
      const key = await post('/api/v1/api-keys', { name: `${RUN} ${role}`, role });
      expect(key.status, JSON.stringify(key.body)).toBe(201);
      const client = httpClient(() => base, key.body.key as string);
      expectProblem(await client.get(PATH), 403);
      expectProblem(await client.post(PATH, { name: 'nope' }), 403);
      await post(`/api/v1/api-keys/${key.body.id as string}/revoke`);
    }
  });
});

describe('Redis mirror resync', () => {
  it('restores usable tokens Redis lost, removes stale entries, announces revoked ones again', async () => {
    const mirror = app.get(EnrollmentTokenMirrorService);
    const kept = await createToken({ labels: { env: 'prod' } });
    const lost = await createToken({ labels: { env: 'stage' } });
    const revoked = await createToken();
    await post(`${PATH}/${revoked.id}/revoke`);
    await announcedTimes(revoked.id, 1);

    // Redis data loss for one token; a revoked token's entry back (a stale copy); an entry for a
    // token Postgres does not know, and one whose own expiry passed.
    await redis.hdel(RedisKeys.enrollmentTokens, sha256(lost.token));
    const revokedEntry = JSON.stringify({ id: revoked.id, labels: {}, expiresAtMs: null });
    await redis.hset(RedisKeys.enrollmentTokens, sha256(revoked.token), revokedEntry);
    const ghostId = uidToString(uuidv7());
    const ghost = sha256(`ghost-${RUN}`);
    await redis.hset(RedisKeys.enrollmentTokens, ghost, JSON.stringify({ id: ghostId, labels: {}, expiresAtMs: null }));
    const expiredId = uidToString(uuidv7());
    const expired = sha256(`expired-${RUN}`);
    await redis.hset(
      RedisKeys.enrollmentTokens,
      expired,
      JSON.stringify({ id: expiredId, labels: {}, expiresAtMs: 1 }),
    );

    const result = await mirror.resync();
    expect(result.written).toBeGreaterThanOrEqual(1);
    expect(result.removed).toBeGreaterThanOrEqual(3);

    expect(await mirrored(kept.token)).toEqual({ id: kept.id, labels: { env: 'prod' }, expiresAtMs: null });
    expect(await mirrored(lost.token)).toEqual({ id: lost.id, labels: { env: 'stage' }, expiresAtMs: null });
    expect(await mirrored(revoked.token)).toBeNull();
    expect(await redis.hexists(RedisKeys.enrollmentTokens, ghost)).toBe(0);
    expect(await redis.hexists(RedisKeys.enrollmentTokens, expired)).toBe(0);
    await announcedTimes(revoked.id, 2);
    await announcedTimes(ghostId, 1);
    expect(announced).not.toContain(expiredId);
  });
});
