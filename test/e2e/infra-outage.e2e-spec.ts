// Redis and Postgres going away under load. Each block runs a stack of its own against a
// dedicated redis-server / Postgres cluster started here (never the shared test servers, which
// other processes use), so the outage can be caused with a real kill or shutdown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatedAgent } from '../../apps/simulator/src/simulated-agent.js';
import { uidText } from '../support/opamp-raw-client.js';
import type { RunningApp } from '../support/processes.js';
import { eventually, sleep } from '../support/wait.js';
import { HttpLoad, RedisView, readyStatus, startSimAgents, waitReadiness, type SimGroup } from './helpers/cluster.js';
import { startPrivatePostgres, type PrivatePostgres } from './helpers/postgres.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/redis.js';
import { apiFor, isAlive, startStack, type Api, type Stack } from './helpers/stack.js';

const ws = (app: RunningApp) => `ws://127.0.0.1:${app.port}/v1/opamp`;
const http = (app: RunningApp) => `http://127.0.0.1:${app.port}/v1/opamp`;

/** Caps of the steady-load WS agents: no AcceptsOpAMPConnectionSettings, so they keep their own short heartbeat. */
const STEADY_CAPS = 0x1n | 0x2n | 0x4n | 0x400n | 0x800n | 0x1000n | 0x2000n;

/** Every process of the stack is the one started at the beginning, still running (no crash, no restart). */
async function expectAllAlive(stack: Stack): Promise<void> {
  for (const app of [stack.gateway, stack.fleet!, stack.api!]) {
    expect(await isAlive(app), `${app.name} (pid ${app.pid}) still running`).toBe(true);
  }
}

describe('Redis restart', () => {
  let redis: PrivateRedis;
  let stack: Stack;
  let api: Api;
  let sims: SimGroup | undefined;
  let view: RedisView;
  const GATEWAY_ID = `e2e-redis-gw-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    redis = await startPrivateRedis({ persistent: true });
    const env = { REDIS_URL: redis.url };
    stack = await startStack({
      gateway: {
        ...env,
        GATEWAY_ID: GATEWAY_ID,
        GATEWAY_RETRY_AFTER_SECONDS: '1',
        GATEWAY_HTTP_REPLY_TIMEOUT_MS: '3000',
      },
      fleet: { ...env, FLEET_LEASE_TTL_MS: '2000' },
      api: env,
    });
    api = apiFor(stack);
    view = new RedisView(redis.url);
  });

  afterAll(async () => {
    await sims?.stop();
    await stack?.stop();
    await view?.close();
    await redis?.stop();
  });

  /**
   * Kills Redis under load, keeps it down for 3 s, restarts it (after `beforeRestart`, which may
   * wipe its data). A WS agent may miss the reply to the one message it had in flight at the
   * failure; what is checked is that every message after the recovery is answered.
   */
  async function outage(label: string, beforeRestart: () => void): Promise<void> {
    const load = new HttpLoad(4, { urls: [http(stack.gateway)], intervalMs: 20, name: `e2e-redis-${label}` });
    await load.start();
    await load.progress(3);

    const killedAt = Date.now();
    await redis.kill();
    const notReady = await Promise.all(
      [stack.gateway, stack.fleet!, stack.api!].map((app) => waitReadiness(app, false, 15_000)),
    );
    // Down for a while: clients get 503 / UNAVAILABLE and back off; nothing crashes.
    await sleep(3_000);
    await expectAllAlive(stack);
    expect(await readyStatus(stack.gateway)).toBe(503);

    beforeRestart();
    const restartedAt = Date.now();
    await redis.restart();
    const ready = await Promise.all(
      [stack.gateway, stack.fleet!, stack.api!].map((app) => waitReadiness(app, true, 30_000)),
    );
    // The gateway announces itself as soon as it is connected again (the fleet only pushes to, and
    // keeps alive the silent WS agents of, gateways whose presence key exists).
    await eventually(async () => expect(await view.gatewayAlive(GATEWAY_ID)).toBe(true), {
      timeoutMs: 1_000,
      description: 'gateway presence back',
    });
    await load.progress(3, 30_000);
    const served = Date.now() - restartedAt;
    const unanswered = (a: SimulatedAgent) => a.stats.messagesSent - a.stats.repliesReceived;
    const lost = await eventually(
      () =>
        sims!.agents.map((a) => {
          expect(a.connected, `${a.uid} connected`).toBe(true);
          // Replied: a message sent after the reconnect came back.
          expect(a.stats.repliesReceived, `${a.uid} answered`).toBeGreaterThan(0);
          // At most the one message in flight when the gateway lost Redis: it sheds the socket
          // (UNAVAILABLE + 1013), and a message the agent had already sent on it is not answered
          // (with the data lost, also a reply that was in Redis but not yet read).
          expect(unanswered(a), `${a.uid} unanswered messages`).toBeLessThanOrEqual(1);
          return unanswered(a);
        }),
      { timeoutMs: 30_000, intervalMs: 20, description: 'WS agents served again' },
    );
    const wsServed = Date.now() - restartedAt;
    {
      // From here on every message is answered again.
      const sent = sims!.agents.map((a) => a.stats.messagesSent);
      await eventually(
        () =>
          sims!.agents.forEach((a, i) => {
            expect(a.stats.messagesSent).toBeGreaterThanOrEqual(sent[i]! + 3);
            // Not more than before (a message thought lost may still be answered late).
            expect(unanswered(a), `${a.uid}: messages after the recovery unanswered`).toBeLessThanOrEqual(lost[i]!);
          }),
        { timeoutMs: 15_000, intervalMs: 20 },
      );
    }
    await load.stop();
    await expectAllAlive(stack);
    console.log(
      `[infra] Redis ${label}: not ready after ${notReady.join('/')} ms (gateway/fleet/api); after the restart ` +
        `(${restartedAt - killedAt} ms down) ready again after ${ready.join('/')} ms, HTTP agents served after ${served} ms, WS agents after ${wsServed} ms`,
    );

    for (const a of load.agents) {
      const id = uidText(a.uid);
      expect(a.problems, id).toEqual([]);
      expect(a.okReplies.size, `every message of ${id} answered`).toBe(Number(a.seq));
      // A message resent during the outage may have been processed the first time: that gap is
      // the only reason for ReportFullState the checklist allows here.
      for (const seq of a.fullState) expect(a.retriedSeqs.has(seq), `ReportFullState at ${seq} of ${id}`).toBe(true);
      await api.waitAgent(a.uid, (v) => expect(String(v.sequenceNum)).toBe(String(a.seq - 1n)), { timeoutMs: 15_000 });
    }
  }

  it('Redis killed and restarted with its data: every app stays up, readiness goes false then true, agents are served again', async () => {
    sims = await startSimAgents(4, [ws(stack.gateway)], {
      transport: 'ws',
      serviceName: 'e2e-redis-restart',
      capabilities: STEADY_CAPS,
      heartbeatSeconds: 0.3,
      backoff: { initialMs: 200, maxMs: 1_000, immediateJitterMs: 100 },
    });
    await outage('restart (data kept)', () => undefined);
    for (const a of sims.agents) {
      await api.waitAgent(a.uidBytesCopy, (v) => {
        expect(v.connectionState).toBe('connected');
        expect((v.description?.identifying as Record<string, unknown>)['service.name']).toBe('e2e-redis-restart');
      });
    }
  });

  it('Redis comes back empty (data lost): streams, groups and leases are recreated, agents are served and keep their stored state', async () => {
    await outage('restart (data lost)', () => redis.wipe());
    for (const a of sims!.agents) {
      await api.waitAgent(
        a.uidBytesCopy,
        (v) => {
          expect(v.connectionState).toBe('connected');
          expect((v.description?.identifying as Record<string, unknown>)['service.name']).toBe('e2e-redis-restart');
          expect(String(v.sequenceNum)).toBe(String(a.nextSequenceNum - 1n));
        },
        { timeoutMs: 15_000 },
      );
    }
  });
});

describe('Postgres outage (30 s)', () => {
  const OUTAGE_MS = 30_000;
  let postgres: PrivatePostgres;
  let redis: PrivateRedis;
  let stack: Stack;
  let api: Api;

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    const env = { REDIS_URL: redis.url, DATABASE_URL: postgres.url };
    stack = await startStack({ gateway: env, fleet: env, api: env });
    api = apiFor(stack);
  });

  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
    await postgres?.destroy();
  });

  it('OpAMP traffic is unaffected; fleet and api readiness follow Postgres; the write-behind catches up and nothing is lost', async () => {
    const load = new HttpLoad(6, { urls: [http(stack.gateway)], intervalMs: 50, flipHealth: true, name: 'e2e-pg-out' });
    await load.start();
    await load.progress(3);

    const stoppedAt = Date.now();
    await postgres.stop();
    const [fleetDown, apiDown] = await Promise.all([
      waitReadiness(stack.fleet!, false, 15_000),
      waitReadiness(stack.api!, false, 15_000),
    ]);
    expect(await readyStatus(stack.gateway), 'the gateway does not depend on Postgres').toBe(200);
    // Agents keep being served, and new agents are accepted, while Postgres is away.
    await load.progress(10);
    const late = new HttpLoad(4, {
      urls: [http(stack.gateway)],
      intervalMs: 50,
      flipHealth: true,
      name: 'e2e-pg-late',
    });
    await late.start();
    await late.progress(3);
    expect((await api.request('GET', '/api/v1/agents?limit=1')).status, 'the api reports its database problem').toBe(
      503,
    );

    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
    await expectAllAlive(stack);
    const restartedAt = Date.now();
    await postgres.start();
    const [fleetUp, apiUp] = await Promise.all([
      waitReadiness(stack.fleet!, true, 60_000),
      waitReadiness(stack.api!, true, 60_000),
    ]);
    await Promise.all([load.stop(), late.stop()]);

    // Everything processed during the outage reaches Postgres.
    const caughtUp = await eventually(
      async () => {
        for (const a of [...load.agents, ...late.agents]) {
          const v = await api.agent(a.uid);
          expect(v, `agent ${uidText(a.uid)} stored`).toBeDefined();
          expect(String(v!.sequenceNum)).toBe(String(a.seq - 1n));
        }
        return Date.now() - restartedAt;
      },
      { timeoutMs: 60_000, intervalMs: 200, description: 'the write-behind caught up' },
    );
    console.log(
      `[infra] Postgres down ${restartedAt - stoppedAt} ms: fleet/api not ready after ${fleetDown}/${apiDown} ms; ` +
        `after its restart ready again after ${fleetUp}/${apiUp} ms, every row up to date after ${caughtUp} ms`,
    );
    // Events are written exactly once: a flush whose commit succeeded but whose answer was lost
    // with the connection is repeated, and the repeated events conflict on their key. The rows
    // can trail the agent rows by a batch, hence `eventually`.
    for (const a of [...load.agents, ...late.agents]) {
      expect(a.problems).toEqual([]);
      expect(a.retries, 'no OpAMP message had to be resent because of Postgres').toBe(0);
      expect(a.fullState).toEqual([]);
      await eventually(
        async () => {
          const events = await allEvents(api, a.uid);
          expect(events.filter((e) => e.type === 'first_seen')).toHaveLength(1);
          const flips = events.filter((e) => e.type === 'health_changed').length;
          expect(flips, `health_changed events of ${uidText(a.uid)} (one per flip, none twice)`).toBe(a.healthFlips);
        },
        { timeoutMs: 10_000, intervalMs: 200, description: `events of ${uidText(a.uid)}` },
      );
    }
  });
});

/** Every event of an agent (all pages). */
async function allEvents(api: Api, uid: Uint8Array): Promise<Array<{ type: string }>> {
  const out: Array<{ type: string }> = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const res = await api.request<{ items: Array<{ type: string }>; nextCursor?: string | null }>(
      'GET',
      `/api/v1/agents/${uidText(uid)}/events?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(res.status).toBe(200);
    out.push(...res.body.items);
    cursor = res.body.nextCursor ?? undefined;
    if (!cursor) break;
  }
  return out;
}
