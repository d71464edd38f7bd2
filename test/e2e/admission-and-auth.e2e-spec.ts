// Authentication, throttling and overload against real processes (checklist §1.1, §3.15,
// §5 cases 9, 10, 30, 46) plus graceful shutdown (SIGTERM → close 1001). One fleet and api, and
// one gateway per policy under test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApp } from '../support/processes.js';
import {
  a2s,
  concat,
  description,
  postOpamp,
  RawWsClient,
  uidText,
  type HttpResult,
} from '../support/opamp-raw-client.js';
import { eventually, withTimeout } from '../support/wait.js';
import { fullReport, newUid, poll } from './helpers/agents.js';
import { startPrivateRedis } from './helpers/redis.js';
import { expectAck, expectUnavailable, expectValidRetryAfter } from './helpers/opamp-assert.js';
import { apiFor, expectHealthy, identifying, startStack, type Api, type Stack } from './helpers/stack.js';

const SECRET = 'e2e-enrollment-secret';

let stack: Stack;
let api: Api;
let secured: RunningApp;
let overloaded: RunningApp;
let rateLimited: RunningApp;
let tightPending: RunningApp;
let draining: RunningApp;
let shortTimeout: RunningApp;
const sockets: RawWsClient[] = [];

const httpUrl = (app: RunningApp) => `http://127.0.0.1:${app.port}/v1/opamp`;
const wsUrl = (app: RunningApp) => `ws://127.0.0.1:${app.port}/v1/opamp`;

beforeAll(async () => {
  stack = await startStack();
  api = apiFor(stack);
  [secured, overloaded, rateLimited, tightPending, draining, shortTimeout] = await Promise.all([
    stack.addGateway({ OPAMP_ENROLLMENT_SECRET: SECRET }),
    stack.addGateway({ GATEWAY_MAX_PENDING_MESSAGES: '0', GATEWAY_RETRY_AFTER_SECONDS: '7' }),
    stack.addGateway({ GATEWAY_ADMISSION_RATE: '1', GATEWAY_ADMISSION_BURST: '2', GATEWAY_RETRY_AFTER_SECONDS: '5' }),
    stack.addGateway({ GATEWAY_MAX_PENDING_MESSAGES: '1', GATEWAY_RETRY_AFTER_SECONDS: '3' }),
    stack.addGateway({ GATEWAY_DRAIN_TIMEOUT_MS: '2000' }),
    stack.addGateway({ GATEWAY_HTTP_REPLY_TIMEOUT_MS: '1000', GATEWAY_RETRY_AFTER_SECONDS: '2' }),
  ]);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await stack?.stop();
});

async function tryWs(url: string, headers?: Record<string, string>) {
  const r = await RawWsClient.tryUpgrade(url, { headers });
  if (r.client) sockets.push(r.client);
  return r;
}

describe('authentication (case 9)', () => {
  it('HTTP POST without or with a wrong Bearer → 401; the right one → 200', async () => {
    const uid = newUid();
    const none = await postOpamp(httpUrl(secured), fullReport(uid, 0n));
    expect(none.status).toBe(401);
    expect(String(none.headers['www-authenticate'] ?? '')).toMatch(/^Bearer/i);
    const wrong = await postOpamp(httpUrl(secured), fullReport(uid, 0n), { headers: { Authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const basic = await postOpamp(httpUrl(secured), fullReport(uid, 0n), {
      headers: { Authorization: `Basic ${Buffer.from(`x:${SECRET}`).toString('base64')}` },
    });
    expect(basic.status).toBe(401);
    expect(await api.agent(uid)).toBeUndefined();

    const ok = await postOpamp(httpUrl(secured), fullReport(uid, 0n, {}, 'case-9'), {
      headers: { Authorization: `Bearer ${SECRET}` },
    });
    expect(ok.status).toBe(200);
    expectAck(ok.serverToAgent, uid);
    await api.waitAgent(uid, (a) => expect(identifying(a)['service.name']).toBe('case-9'));
  });

  it('WS upgrade without or with a wrong Bearer → 401 (no 101); the right one → 101', async () => {
    const none = await tryWs(wsUrl(secured));
    expect(none.status).toBe(401);
    expect(none.client).toBeUndefined();
    const wrong = await tryWs(wsUrl(secured), { Authorization: 'Bearer wrong' });
    expect(wrong.status).toBe(401);

    const ok = await tryWs(wsUrl(secured), { Authorization: `Bearer ${SECRET}` });
    expect(ok.status).toBe(101);
    const uid = newUid();
    expectAck(await ok.client!.request(fullReport(uid, 0n)), uid);
    ok.client!.destroy();
  });
});

describe('throttling and overload', () => {
  it('case 10: overload → HTTP 503 with an integer Retry-After; a WS upgrade gets the same', async () => {
    const uid = newUid();
    const res = await postOpamp(httpUrl(overloaded), fullReport(uid, 0n));
    expect(res.status).toBe(503);
    const after = expectValidRetryAfter(res.headers['retry-after']);
    expect(String(res.headers['retry-after'])).toMatch(/^\d+$/);
    expect(after).toBeGreaterThanOrEqual(7);
    expect(after).toBeLessThanOrEqual(11); // base + up to 50 % jitter

    const ws = await tryWs(wsUrl(overloaded));
    expect(ws.status).toBe(503);
    expect(ws.client).toBeUndefined();
    expectValidRetryAfter(ws.headers['retry-after']);
    expect(await api.agent(uid)).toBeUndefined();
  });

  it('connection rate: new WS connections and HTTP first contacts over the rate → 429 + Retry-After; known agents pass', async () => {
    const results: number[] = [];
    let refused: { status: number; headers: Record<string, unknown> } | undefined;
    for (let i = 0; i < 4; i++) {
      const r = await tryWs(wsUrl(rateLimited));
      results.push(r.status);
      if (r.status !== 101 && !refused) refused = r;
      r.client?.destroy();
    }
    expect(results.slice(0, 2)).toEqual([101, 101]);
    expect(results).toContain(429);
    expect(refused!.status).toBe(429);
    const retryAfter = expectValidRetryAfter(refused!.headers['retry-after'] as string);
    expect(retryAfter).toBeGreaterThanOrEqual(5); // GATEWAY_RETRY_AFTER_SECONDS, jittered up to +50 %
    expect(retryAfter).toBeLessThanOrEqual(8);

    // HTTP: the bucket refills at 1/s; wait for one token, register an agent, then new contacts
    // burst past the bucket while the known agent keeps being served.
    await new Promise((r) => setTimeout(r, 1_100));
    const known = newUid();
    const first = await postOpamp(httpUrl(rateLimited), fullReport(known, 0n));
    expect(first.status).toBe(200);
    const statuses: HttpResult[] = [];
    for (let i = 0; i < 4; i++) statuses.push(await postOpamp(httpUrl(rateLimited), fullReport(newUid(), 0n)));
    const limited = statuses.find((r) => r.status === 429);
    expect(limited, `statuses ${statuses.map((s) => s.status).join(',')}`).toBeDefined();
    expectValidRetryAfter(limited!.headers['retry-after']);
    const again = await postOpamp(httpUrl(rateLimited), poll(known, 1n));
    expect(again.status).toBe(200);
    expectAck(again.serverToAgent, known);
  });

  it('case 30: overload on a live WS → UNAVAILABLE with retry_info (nothing else), then close 1013', async () => {
    const r = await tryWs(wsUrl(tightPending));
    expect(r.status).toBe(101);
    const ws = r.client!;
    const uid = newUid();
    // Several messages in one burst: the first is pending at the fleet when the next arrive.
    const frames = [fullReport(uid, 0n), poll(uid, 1n), poll(uid, 2n), poll(uid, 3n)].map((m) =>
      concat(Uint8Array.of(0), a2s(m)),
    );
    await Promise.all(frames.map((f) => ws.sendRaw(f)));
    const close = await withTimeout(ws.closed, 5_000, 'close 1013 after UNAVAILABLE');
    expect(close.code).toBe(1013);
    const received = [];
    while (ws.pending > 0) received.push(await ws.nextServerToAgent(100));
    const unavailable = received.filter((m) => m.errorResponse !== undefined);
    expect(unavailable.length, 'an UNAVAILABLE reply before the close').toBeGreaterThanOrEqual(1);
    for (const m of unavailable) expectUnavailable(m, uid);
  });
});

describe('Redis down', () => {
  it('a gateway whose Redis is gone answers 503 + Retry-After (HTTP and upgrade), UNAVAILABLE + 1013 on live sockets, and recovers', async () => {
    const redis = await startPrivateRedis();
    const gw = await stack.addGateway({
      REDIS_URL: redis.url,
      GATEWAY_RETRY_AFTER_SECONDS: '4',
      GATEWAY_HTTP_REPLY_TIMEOUT_MS: '1000',
    });
    try {
      const live = await tryWs(wsUrl(gw));
      expect(live.status).toBe(101);
      await redis.kill();
      await eventually(async () => {
        const res = await fetch(`${gw.url}/readyz`);
        expect(res.status, 'readiness reflects the lost Redis').not.toBe(200);
      });

      const uid = newUid();
      const res = await postOpamp(httpUrl(gw), fullReport(uid, 0n));
      expect(res.status).toBe(503);
      expectValidRetryAfter(res.headers['retry-after']);
      const upgrade = await tryWs(wsUrl(gw));
      expect(upgrade.status).toBe(503);
      expectValidRetryAfter(upgrade.headers['retry-after']);

      await live.client!.sendRaw(concat(Uint8Array.of(0), a2s(fullReport(uid, 0n))));
      expectUnavailable(await live.client!.nextServerToAgent(), uid);
      expect((await withTimeout(live.client!.closed, 5_000, 'close 1013')).code).toBe(1013);
      await expectHealthy(gw); // liveness is not readiness: the process is fine

      await redis.restart();
      await eventually(async () => expect((await fetch(`${gw.url}/readyz`)).status).toBe(200), { timeoutMs: 15_000 });
      expect((await tryWs(wsUrl(gw))).status).toBe(101);
    } finally {
      await gw.stop('SIGTERM', 10_000);
      await redis.stop();
    }
  });
});

describe('fleet down', () => {
  it('an HTTP poll gets 503 + Retry-After after the reply timeout instead of hanging, and is processed once the fleet is back', async () => {
    const uid = newUid();
    const first = await postOpamp(httpUrl(shortTimeout), fullReport(uid, 0n, {}, 'fleet-down'));
    expectAck(first.serverToAgent, uid);
    await api.waitAgent(uid, (a) => expect(identifying(a)['service.version']).toBe('1.2.3'));

    await stack.fleet!.stop('SIGTERM');
    const started = Date.now();
    const changed = fullReport(uid, 1n, {
      agentDescription: description({
        'service.name': 'fleet-down',
        'service.instance.id': uidText(uid),
        'service.version': '2.0.0',
      }),
    });
    const res = await postOpamp(httpUrl(shortTimeout), changed);
    const waited = Date.now() - started;
    expect(res.status).toBe(503);
    expectValidRetryAfter(res.headers['retry-after']);
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(5_000);

    // Nothing is lost: the message waited in its shard stream for the next fleet.
    await stack.restartFleet();
    await api.waitAgent(
      uid,
      (a) => {
        expect(identifying(a)['service.version']).toBe('2.0.0');
        expect(String(a.sequenceNum)).toBe('1');
      },
      { timeoutMs: 20_000 },
    );
    const after = await postOpamp(httpUrl(shortTimeout), poll(uid, 2n));
    expect(after.status).toBe(200);
    expectAck(after.serverToAgent, uid);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM closes live WebSockets with 1001 and the gateway exits after draining', async () => {
    const r = await tryWs(wsUrl(draining));
    expect(r.status).toBe(101);
    const ws = r.client!;
    const uid = newUid();
    expectAck(await ws.request(fullReport(uid, 0n, {}, 'sigterm')), uid);
    const exit = draining.stop('SIGTERM', 15_000);
    const close = await withTimeout(ws.closed, 10_000, 'close on SIGTERM');
    expect(close.code).toBe(1001);
    // 0, or null when Nest re-raises SIGTERM after its shutdown hooks (enableShutdownHooks does);
    // never a crash code, and well before stop() would escalate to SIGKILL.
    const started = Date.now();
    expect([0, null]).toContain(await exit);
    expect(Date.now() - started).toBeLessThan(10_000);
    await api.waitAgent(uid, (a) => expect(a.connectionState).not.toBe('connected'));
  });

  it('the other processes are alive and healthy', async () => {
    for (const app of [
      stack.gateway,
      stack.fleet!,
      stack.api!,
      secured,
      overloaded,
      rateLimited,
      tightPending,
      shortTimeout,
    ])
      await expectHealthy(app);
  });
});
