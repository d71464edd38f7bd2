// The gateway's agent authentication against real Redis: the api's mirror entries are written
// directly (as the api writes them), revocations published on the real channel.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys, createRedis, enrollmentTokenDigest, type EnrollmentTokenMirror } from '@opamp/bus';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { REDIS_URL } from '../../../../test/support/env.js';
import type { GatewayBusService } from '../bus/gateway-bus.service.js';
import { loadGatewayConfig } from '../gateway.config.js';
import { AgentAuthService, type AuthResult } from './agent-auth.service.js';

let redis: Redis;
const services: AgentAuthService[] = [];
const fields: string[] = [];

async function service(env: Record<string, string> = {}, commands: Redis = redis): Promise<AgentAuthService> {
  const config = loadGatewayConfig({ GATEWAY_ID: 'auth-medium', REDIS_URL, LOG_LEVEL: 'error', ...env });
  const s = new AgentAuthService(config, { redis: commands } as unknown as GatewayBusService);
  await s.onModuleInit();
  services.push(s);
  return s;
}

/** A token the api would have created, mirrored into Redis. */
async function token(entry: Partial<EnrollmentTokenMirror> = {}) {
  const secret = `oet_${randomBytes(32).toString('base64url')}`;
  const id = uidToString(uuidv7());
  const field = enrollmentTokenDigest(secret);
  fields.push(field);
  await redis.hset(RedisKeys.enrollmentTokens, field, JSON.stringify({ id, labels: {}, expiresAtMs: null, ...entry }));
  return { secret, id, field };
}

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });
const auth = async (s: AgentAuthService, headers: Record<string, string> = {}): Promise<AuthResult> =>
  s.authenticate(headers);

beforeAll(async () => {
  redis = createRedis(REDIS_URL, { name: 'auth-medium' });
  await redis.connect();
});

afterEach(async () => {
  for (const s of services.splice(0)) await s.onApplicationShutdown();
});

afterAll(async () => {
  if (fields.length > 0) await redis.hdel(RedisKeys.enrollmentTokens, ...fields);
  redis.disconnect();
});

describe('modes', () => {
  it('open (default): no credential admitted; a Bearer that is neither secret nor usable token refused', async () => {
    const s = await service();
    expect(s.credentialRequired).toBe(false);
    expect(await auth(s)).toMatchObject({ ok: true, tokenId: '' });
    expect(await auth(s, { authorization: 'Basic eDp5' })).toMatchObject({ ok: true, tokenId: '' });
    expect(await auth(s, bearer('nope'))).toEqual({ ok: false, status: 401 });
    expect(await auth(s, bearer(`oet_${randomBytes(32).toString('base64url')}`))).toEqual({ ok: false, status: 401 });
    const t = await token();
    expect(await auth(s, bearer(t.secret))).toMatchObject({ ok: true, tokenId: t.id });
  });

  it('token: a credential is required; the shared secret implies it and keeps working', async () => {
    const envs: Array<Record<string, string>> = [
      { GATEWAY_AGENT_AUTH: 'token' },
      { OPAMP_ENROLLMENT_SECRET: 's3cret-value' },
    ];
    for (const env of envs) {
      const s = await service(env);
      expect(s.credentialRequired).toBe(true);
      expect(await auth(s)).toEqual({ ok: false, status: 401 });
      const t = await token();
      expect(await auth(s, bearer(t.secret))).toMatchObject({ ok: true, tokenId: t.id });
    }
    const s = await service({ OPAMP_ENROLLMENT_SECRET: 's3cret-value' });
    expect(await auth(s, bearer('s3cret-value'))).toMatchObject({ ok: true, tokenId: '' });
    expect(await auth(s, bearer('s3cret-valuf'))).toEqual({ ok: false, status: 401 });
  });

  it('an expired entry is refused by the gateway itself', async () => {
    const s = await service({ GATEWAY_AGENT_AUTH: 'token' });
    const expired = await token({ expiresAtMs: Date.now() - 1 });
    const later = await token({ expiresAtMs: Date.now() + 3_600_000 });
    expect(await auth(s, bearer(expired.secret))).toEqual({ ok: false, status: 401 });
    expect(await auth(s, bearer(later.secret))).toMatchObject({ ok: true, tokenId: later.id });
  });
});

describe('cache and revocation', () => {
  it('answers from the cache; a revocation drops the token and notifies listeners', async () => {
    const s = await service({ GATEWAY_AGENT_AUTH: 'token' });
    const revokedIds: string[] = [];
    s.onRevoked((id) => revokedIds.push(id));
    const t = await token();
    const keep = await token();
    const results = await Promise.all(Array.from({ length: 50 }, () => auth(s, bearer(t.secret))));
    expect(results.every((r) => r.ok && r.tokenId === t.id)).toBe(true);
    await auth(s, bearer(keep.secret));

    // Gone from Redis without an announcement: the cached answer still stands (≤ 5 s).
    await redis.hdel(RedisKeys.enrollmentTokens, t.field);
    expect(await auth(s, bearer(t.secret))).toMatchObject({ ok: true, tokenId: t.id });

    // The announcement (as the api publishes it after HDEL) takes it out at once.
    await redis.publish(RedisKeys.enrollmentTokenRevoked, t.id);
    for (let i = 0; i < 100 && revokedIds.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(revokedIds).toEqual([t.id]);
    expect(s.isRevoked(t.id)).toBe(true);
    expect(await auth(s, bearer(t.secret))).toEqual({ ok: false, status: 401 });
    expect(await auth(s, bearer(keep.secret))).toMatchObject({ ok: true, tokenId: keep.id });
  });

  it('fails closed with 503 when Redis cannot answer, except for tokens it has cached', async () => {
    const commands = createRedis(REDIS_URL, { name: 'auth-medium-down' });
    await commands.connect();
    const s = await service({ GATEWAY_AGENT_AUTH: 'token' }, commands);
    const cached = await token();
    const fresh = await token();
    expect(await auth(s, bearer(cached.secret))).toMatchObject({ ok: true });
    commands.disconnect();
    expect(await auth(s, bearer(fresh.secret))).toEqual({ ok: false, status: 503 });
    expect(await auth(s, bearer(cached.secret))).toMatchObject({ ok: true, tokenId: cached.id });
    // Not token-shaped, or no credential at all: decided without Redis.
    expect(await auth(s, bearer('garbage'))).toEqual({ ok: false, status: 401 });
    expect(await auth(s)).toEqual({ ok: false, status: 401 });
  });

  it('reconcile: a token holding connections that is gone from the mirror counts as revoked', async () => {
    const s = await service();
    const revokedIds: string[] = [];
    s.onRevoked((id) => revokedIds.push(id));
    const gone = await token();
    const present = await token();
    s.admitted.acquire(gone.id, gone.field);
    s.admitted.acquire(present.id, present.field);
    await redis.hdel(RedisKeys.enrollmentTokens, gone.field);
    await s.reconcile();
    expect(revokedIds).toEqual([gone.id]);
    expect(s.isRevoked(present.id)).toBe(false);
  });
});
