// Enrollment tokens end to end over real processes (docs/enrollment.md): the api creates a token
// and mirrors it into Redis, a gateway admits agents presenting it, the fleet records the token
// and gives new agents its labels, and a revocation closes the token's WebSockets on every
// gateway with 4401 while later upgrades and polls get 401.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys, createRedis, enrollmentTokenDigest } from '@opamp/bus';
import { REDIS_URL } from '../support/env.js';
import { RawWsClient, postOpamp } from '../support/opamp-raw-client.js';
import type { RunningApp } from '../support/processes.js';
import { withTimeout } from '../support/wait.js';
import { fullReport, newUid, poll } from './helpers/agents.js';
import { expectAck } from './helpers/opamp-assert.js';
import { apiFor, type Api, type Stack, startStack } from './helpers/stack.js';

const RUN = randomBytes(3).toString('hex');

let stack: Stack;
let api: Api;
/** GATEWAY_AGENT_AUTH=token; stack.gateway runs in the default open mode. */
let strict: RunningApp;
let redis: Redis;
const sockets: RawWsClient[] = [];
const tokenIds: string[] = [];

const httpUrl = (app: RunningApp) => `http://127.0.0.1:${app.port}/v1/opamp`;
const wsUrl = (app: RunningApp) => `ws://127.0.0.1:${app.port}/v1/opamp`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

interface CreatedToken {
  id: string;
  token: string;
  labels: Record<string, string>;
}

async function createToken(body: Record<string, unknown> = {}): Promise<CreatedToken> {
  const res = await api.request<CreatedToken>('POST', '/api/v1/enrollment-tokens', { name: `e2e ${RUN}`, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  tokenIds.push(res.body.id);
  return res.body;
}

async function tryWs(url: string, headers?: Record<string, string>) {
  const r = await RawWsClient.tryUpgrade(url, { headers });
  if (r.client) sockets.push(r.client);
  return r;
}

/** A WS agent admitted with `token` that has said hello (so the gateway knows its uid). */
async function wsAgent(gateway: RunningApp, token: string, name: string) {
  const r = await tryWs(wsUrl(gateway), bearer(token));
  expect(r.status).toBe(101);
  const uid = newUid();
  expectAck(await r.client!.request(fullReport(uid, 0n, {}, name)), uid);
  return { uid, ws: r.client! };
}

beforeAll(async () => {
  stack = await startStack();
  api = apiFor(stack);
  strict = await stack.addGateway({ GATEWAY_AGENT_AUTH: 'token' });
  redis = createRedis(REDIS_URL, { name: 'enrollment-e2e' });
  await redis.connect();
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await stack?.stop();
  redis?.disconnect();
});

describe('enrolment with a token', () => {
  it('a WS agent admitted by a token gets its labels; the API names the token', async () => {
    const t = await createToken({ labels: { env: 'e2e', run: RUN } });
    const { uid } = await wsAgent(strict, t.token, 'enrolled-ws');
    await api.waitAgent(uid, (a) => {
      expect(a.enrollmentTokenId).toBe(t.id);
      expect(a.labels).toEqual({ env: 'e2e', run: RUN });
    });
  });

  it('an HTTP agent too, and a gateway in open mode records the token the same way', async () => {
    const t = await createToken({ labels: { transport: 'http' } });
    const uid = newUid();
    const res = await postOpamp(httpUrl(stack.gateway), fullReport(uid, 0n, {}, 'enrolled-http'), {
      headers: bearer(t.token),
    });
    expect(res.status).toBe(200);
    expectAck(res.serverToAgent, uid);
    await api.waitAgent(uid, (a) => {
      expect(a.enrollmentTokenId).toBe(t.id);
      expect(a.labels).toEqual({ transport: 'http' });
    });
  });

  it('token mode: no credential, an unknown token, or an expired one → 401; open mode admits agents without one', async () => {
    const uid = newUid();
    expect((await postOpamp(httpUrl(strict), fullReport(uid, 0n))).status).toBe(401);
    expect((await tryWs(wsUrl(strict))).status).toBe(401);
    const unknown = `oet_${randomBytes(32).toString('base64url')}`;
    expect((await postOpamp(httpUrl(strict), fullReport(uid, 0n), { headers: bearer(unknown) })).status).toBe(401);
    expect((await tryWs(wsUrl(strict), bearer(unknown))).status).toBe(401);
    // In open mode a Bearer that is no usable credential is refused too.
    expect((await tryWs(wsUrl(stack.gateway), bearer(unknown))).status).toBe(401);

    // Expiry is checked by the gateway itself from the mirrored entry (the api's resync removes
    // it later): make a fresh token's entry expired, as it is once its time has passed.
    const expiring = await createToken({ ttlSeconds: 60 });
    await redis.hset(
      RedisKeys.enrollmentTokens,
      enrollmentTokenDigest(expiring.token),
      JSON.stringify({ id: expiring.id, labels: {}, expiresAtMs: Date.now() - 1_000 }),
    );
    expect((await postOpamp(httpUrl(strict), fullReport(uid, 0n), { headers: bearer(expiring.token) })).status).toBe(
      401,
    );
    expect((await tryWs(wsUrl(strict), bearer(expiring.token))).status).toBe(401);
    expect(await api.agent(uid)).toBeUndefined();

    const open = newUid();
    const res = await postOpamp(httpUrl(stack.gateway), fullReport(open, 0n));
    expect(res.status).toBe(200);
    expectAck(res.serverToAgent, open);
  });
});

describe('revocation', () => {
  it('closes the WebSockets the token admitted on every gateway with 4401; upgrades and polls with it then get 401', async () => {
    const revoked = await createToken({ labels: { doomed: 'yes' } });
    const other = await createToken();
    const a = await wsAgent(strict, revoked.token, 'revoked-a');
    const b = await wsAgent(stack.gateway, revoked.token, 'revoked-b');
    const bystander = await wsAgent(strict, other.token, 'bystander');
    const httpUid = newUid();
    const first = await postOpamp(httpUrl(strict), fullReport(httpUid, 0n, {}, 'revoked-http'), {
      headers: bearer(revoked.token),
    });
    expect(first.status).toBe(200);

    const started = Date.now();
    const res = await api.request('POST', `/api/v1/enrollment-tokens/${revoked.id}/revoke`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const [closeA, closeB] = await Promise.all([
      withTimeout(a.ws.closed, 2_000, 'close of a socket admitted by the revoked token (strict gateway)'),
      withTimeout(b.ws.closed, 2_000, 'close of a socket admitted by the revoked token (open gateway)'),
    ]);
    const elapsed = Date.now() - started;
    for (const close of [closeA, closeB]) expect(close).toEqual({ code: 4401, reason: 'enrollment token revoked' });
    expect(elapsed).toBeLessThan(2_000);

    // The agent's next steps with the token fail; another token's agent is untouched.
    expect((await tryWs(wsUrl(strict), bearer(revoked.token))).status).toBe(401);
    expect((await tryWs(wsUrl(stack.gateway), bearer(revoked.token))).status).toBe(401);
    const next = await postOpamp(httpUrl(strict), poll(httpUid, 1n), { headers: bearer(revoked.token) });
    expect(next.status).toBe(401);
    expect(bystander.ws.isOpen).toBe(true);
    expectAck(await bystander.ws.request(poll(bystander.uid, 1n)), bystander.uid);

    // What the agents already have is kept: the token is only refused from now on.
    await api.waitAgent(a.uid, (agent) => {
      expect(agent.connectionState).not.toBe('connected');
      expect(agent.labels).toEqual({ doomed: 'yes' });
      expect(agent.enrollmentTokenId).toBe(revoked.id);
    });
  });
});
