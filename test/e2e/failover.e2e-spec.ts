// Crashes and graceful stops of single replicas while agents keep talking: kill -9 of a gateway
// and of a fleet replica, SIGTERM of a gateway, of the last fleet replica and of an api replica.
// Everything runs on the shared test Redis and Postgres; every app is a real process.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUS_LIMITS, RedisKeys, StreamKeys } from '@opamp/bus';
import { ECHO_CAPABILITY } from '../../apps/simulator/src/simulated-agent.js';
import { httpRequest, uidText } from '../support/opamp-raw-client.js';
import type { RunningApp } from '../support/processes.js';
import { adminAuth, REDIS_URL } from '../support/env.js';
import { eventually, sleep } from '../support/wait.js';
import { HttpLoad, RedisView, startSimAgents, type HttpLoopAgent, type SimGroup } from './helpers/cluster.js';
import { apiFor, isAlive, SHARDS, startStack, type Api, type Stack } from './helpers/stack.js';

const SHARD_COUNT = Number(SHARDS);
const LEASE_TTL_MS = 2000;
/** ShardLeaseManager renews every TTL/3: a lapsed lease is noticed at the survivor's next tick. */
const LEASE_RENEW_MS = Math.floor(LEASE_TTL_MS / 3);
/** GatewayPresence TTL (libs/bus publisher.ts). */
const PRESENCE_TTL_MS = 15_000;
const run = randomBytes(3).toString('hex');
const GW_A = `e2e-fo-gw-a-${run}`;
const GW_B = `e2e-fo-gw-b-${run}`;
const GW_C = `e2e-fo-gw-c-${run}`;
const FLEET_A = `e2e-fo-fleet-a-${run}`;
const FLEET_B = `e2e-fo-fleet-b-${run}`;

let stack: Stack;
let api: Api;
let gwA: RunningApp;
let gwB: RunningApp;
let fleetA: RunningApp;
let fleetB: RunningApp;
let gwC: RunningApp;
let view: RedisView;
const groups: SimGroup[] = [];
let gwAKilledAt = 0;

const ws = (app: RunningApp) => `ws://127.0.0.1:${app.port}/v1/opamp`;
const http = (app: RunningApp) => `http://127.0.0.1:${app.port}/v1/opamp`;

/** Each answered once; ReportFullState only where the checklist requires it (a resent, already processed seq). */
function expectCleanRun(agents: HttpLoopAgent[], opts: { retries?: 'none' | 'allowed' } = {}): void {
  for (const a of agents) {
    const id = uidText(a.uid);
    expect(a.problems, id).toEqual([]);
    expect(
      [...a.okReplies.values()].every((n) => n === 1),
      `one 200 reply per message of ${id}`,
    ).toBe(true);
    expect(a.okReplies.size, `every message of ${id} answered`).toBe(Number(a.seq));
    if (opts.retries !== 'allowed') expect(a.retries, `polls of ${id} had to be resent`).toBe(0);
    for (const seq of a.fullState) expect(a.retriedSeqs.has(seq), `ReportFullState at seq ${seq} of ${id}`).toBe(true);
  }
}

beforeAll(async () => {
  stack = await startStack({
    gateway: { GATEWAY_ID: GW_A },
    fleet: { FLEET_REPLICA_ID: FLEET_A, FLEET_LEASE_TTL_MS: String(LEASE_TTL_MS) },
  });
  gwA = stack.gateway;
  fleetA = stack.fleet!;
  [gwB, fleetB] = await Promise.all([
    stack.addGateway({ GATEWAY_ID: GW_B }),
    stack.addFleet({ FLEET_REPLICA_ID: FLEET_B }),
  ]);
  api = apiFor(stack);
  view = new RedisView(REDIS_URL);
  await eventually(async () => expect(Object.keys(await view.leasesByOwner(SHARD_COUNT))).toHaveLength(2), {
    timeoutMs: 20_000,
  });
});

afterAll(async () => {
  for (const g of groups) await g.stop();
  await stack?.stop();
  await view?.close();
});

describe('gateway crash (kill -9)', () => {
  it('WS agents move to the other gateway with their state intact; HTTP agents resend there; routes follow', async () => {
    const sims = await startSimAgents(6, [ws(gwA), ws(gwB)], { transport: 'ws', serviceName: 'e2e-gw-crash' });
    groups.push(sims);
    const onA = sims.agents.filter((_, i) => i % 2 === 0);
    const load = new HttpLoad(6, { urls: [http(gwA), http(gwB)], intervalMs: 20, name: 'e2e-gw-crash-http' });
    await load.start();
    await load.progress(2);
    // Quiet WS agents (heartbeat 30 s): every message answered before the crash.
    await eventually(() =>
      expect(sims.agents.every((a) => a.stats.messagesSent === a.stats.repliesReceived)).toBe(true),
    );
    for (const a of onA) expect((await view.route(a.uidBytesCopy))?.gatewayId).toBe(GW_A);
    const seqBefore = onA.map((a) => a.nextSequenceNum);

    gwAKilledAt = Date.now();
    await gwA.kill9();
    await eventually(
      async () => {
        for (const a of onA) {
          expect(a.connected).toBe(true);
          expect(a.endpoint).toBe(ws(gwB));
          expect((await view.route(a.uidBytesCopy))?.gatewayId).toBe(GW_B);
          // The first message on the new connection was answered.
          expect(a.stats.repliesReceived).toBe(a.stats.messagesSent);
        }
      },
      { timeoutMs: 15_000, intervalMs: 50, description: 'WS agents of the crashed gateway served by the other one' },
    );
    const wsRecovery = Date.now() - gwAKilledAt;
    await load.progress(3);
    const httpRecovery = Date.now() - gwAKilledAt;
    console.log(
      `[failover] gateway kill -9: WS agents served again after ${wsRecovery} ms, HTTP agents ${httpRecovery} ms (all progressed 3 polls)`,
    );
    await load.stop();

    for (const [i, a] of onA.entries()) {
      // Sequence numbers continued over the reconnect and the compressed first message needed no full report.
      expect(a.nextSequenceNum).toBeGreaterThan(seqBefore[i]!);
      expect(a.stats.fullStateRequests).toBe(0);
      await api.waitAgent(a.uidBytesCopy, (v) => {
        expect(v.connectionState).toBe('connected');
        expect(String(v.sequenceNum)).toBe(String(a.nextSequenceNum - 1n));
        expect((v.description?.identifying as Record<string, unknown>)['service.name']).toBe('e2e-gw-crash');
      });
    }
    expect(sims.agents.every((a) => a.stats.fullStateRequests === 0)).toBe(true);
    expectCleanRun(load.agents, { retries: 'allowed' });
    // Pushes follow the agent to its new gateway.
    const moved = onA[0]!;
    const pushed = moved.waitFor('customMessage', (m) => m.type === 'after-crash', 15_000);
    const res = await api.customMessage(moved.uidBytesCopy, {
      capability: ECHO_CAPABILITY,
      type: 'after-crash',
      data: new Uint8Array([1]),
    });
    expect(res.status).toBe(202);
    await pushed;
    // The crashed pod's presence key is not refreshed any more: it expires within its TTL.
    const ttl = await view.presenceTtlMs(GW_A);
    expect(ttl).toBeLessThanOrEqual(PRESENCE_TTL_MS);
    console.log(
      `[failover] presence key of the crashed gateway expires ${Date.now() - gwAKilledAt + ttl} ms after the kill`,
    );
  });
});

describe('fleet replica crash (kill -9) under load', () => {
  it(`its shards move to the survivor within TTL + renewal (${LEASE_TTL_MS} + ${LEASE_RENEW_MS} ms); every message answered once, no ReportFullState`, async () => {
    const sims = await startSimAgents(8, [ws(gwB)], {
      transport: 'ws',
      serviceName: 'e2e-fleet-crash',
      // Without AcceptsOpAMPConnectionSettings the agents keep their own 200 ms heartbeat: steady load.
      capabilities: 0x1n | 0x2n | 0x4n | 0x400n | 0x800n | 0x1000n | 0x2000n,
      heartbeatSeconds: 0.2,
    });
    groups.push(sims);
    // A reply beyond the messages sent is a duplicate (WS agents send one message per 200 ms and are
    // answered within milliseconds, so a second reply for a redelivered entry shows up here).
    const duplicates: string[] = [];
    for (const a of sims.agents)
      a.on('message', () => {
        if (a.stats.repliesReceived > a.stats.messagesSent) duplicates.push(`${a.uid} after ${a.stats.messagesSent}`);
      });
    const load = new HttpLoad(8, { urls: [http(gwB)], name: 'e2e-fleet-crash-http' });
    await load.start();
    await load.progress(5);
    const owners = await view.leasesByOwner(SHARD_COUNT);
    expect(owners[FLEET_A]?.length, 'the victim holds shards').toBeGreaterThan(0);

    const killedAt = Date.now();
    await fleetA.kill9();
    const takeover = await eventually(
      async () => {
        expect(await view.leasesByOwner(SHARD_COUNT)).toEqual({ [FLEET_B]: [0, 1, 2, 3] });
        return Date.now() - killedAt;
      },
      { timeoutMs: 20_000, intervalMs: 25, description: 'survivor owns every shard' },
    );
    await load.progress(1);
    const resumed = Date.now() - killedAt;
    await load.progress(3);
    console.log(
      `[failover] fleet kill -9: survivor owns all shards after ${takeover} ms; every agent answered again after ${resumed} ms`,
    );
    expect(takeover).toBeLessThanOrEqual(LEASE_TTL_MS + LEASE_RENEW_MS + 2_000);

    await load.stop();
    // WS agents: every message has had exactly one reply (none lost with the crashed replica's
    // batch, none doubled by its redelivery to the survivor).
    await eventually(
      () => {
        for (const a of sims.agents) expect(a.stats.repliesReceived, `replies of ${a.uid}`).toBe(a.stats.messagesSent);
      },
      { intervalMs: 10, description: 'every WS message answered' },
    );
    expect(duplicates, 'duplicate replies').toEqual([]);
    for (const a of sims.agents) expect(a.stats.fullStateRequests, `ReportFullState for ${a.uid}`).toBe(0);
    await sims.stop();
    expectCleanRun(load.agents);
    for (const a of load.agents)
      await api.waitAgent(a.uid, (v) => expect(String(v.sequenceNum)).toBe(String(a.seq - 1n)));
  });
});

describe('graceful SIGTERM under load', () => {
  it('gateway: polls in flight are answered, WS agents move to another gateway (1001), presence and stream removed', async () => {
    gwC = await stack.addGateway({ GATEWAY_ID: GW_C, GATEWAY_DRAIN_TIMEOUT_MS: '10000' });
    const sims = await startSimAgents(4, [ws(gwB), ws(gwC)], { transport: 'ws', serviceName: 'e2e-gw-sigterm' });
    groups.push(sims);
    const onB = sims.agents.filter((_, i) => i % 2 === 0);
    const load = new HttpLoad(8, { urls: [http(gwB), http(gwC)], intervalMs: 10, name: 'e2e-gw-sigterm-http' });
    await load.start();
    await load.progress(3);

    const t0 = Date.now();
    const code = await gwB.stop('SIGTERM', 20_000);
    const exitMs = Date.now() - t0;
    expect([0, null]).toContain(code);
    expect(gwB.exitSignal() === null || gwB.exitSignal() === 'SIGTERM').toBe(true);
    // Gone from Redis at once: presence deleted, and its stream (nothing will read it any more)
    // deleted or, if a late reply recreated it, expiring.
    expect(await view.gatewayAlive(GW_B)).toBe(false);
    expect(await view.outboundStreamLingers(GW_B)).toBe(false);

    await eventually(
      async () => {
        for (const a of onB) {
          expect(a.connected).toBe(true);
          expect((await view.route(a.uidBytesCopy))?.gatewayId).toBe(GW_C);
        }
      },
      { timeoutMs: 15_000, description: 'WS agents of the stopped gateway on the other one' },
    );
    await load.progress(3);
    await load.stop();
    console.log(`[failover] gateway SIGTERM: exited after ${exitMs} ms, agents continued on the other gateway`);
    expectCleanRun(load.agents, { retries: 'allowed' });
    for (const a of sims.agents) {
      expect(a.stats.fullStateRequests).toBe(0);
      await api.waitAgent(a.uidBytesCopy, (v) => {
        expect(v.connectionState).toBe('connected');
        expect(String(v.sequenceNum)).toBe(String(a.nextSequenceNum - 1n));
      });
    }
    for (const a of load.agents)
      await api.waitAgent(a.uid, (v) => expect(String(v.sequenceNum)).toBe(String(a.seq - 1n)));
  });

  it('the last fleet replica: the batch in flight is answered and the write-behind is flushed before it exits', async () => {
    expect(await isAlive(gwC)).toBe(true);
    const load = new HttpLoad(8, { urls: [http(gwC)], intervalMs: 10, flipHealth: true, name: 'e2e-fleet-sigterm' });
    await load.start();
    await load.progress(5);

    const code = await fleetB.stop('SIGTERM', 20_000);
    expect([0, null]).toContain(code);
    // No fleet runs now: what the api shows (Postgres) was written by the final flush.
    const answered = load.agents.map((a) => a.seq - 1n);
    for (const [i, a] of load.agents.entries()) {
      const v = await api.agent(a.uid);
      expect(BigInt(String(v?.sequenceNum)), `stored seq of ${uidText(a.uid)}`).toBeGreaterThanOrEqual(answered[i]!);
    }
    // Everything still queued is processed by the next replica; the loops carry on.
    await stack.addFleet({ FLEET_REPLICA_ID: `e2e-fo-fleet-c-${run}` });
    await load.progress(3);
    await load.stop();
    expectCleanRun(load.agents, { retries: 'allowed' });
    for (const a of load.agents) {
      await api.waitAgent(a.uid, (v) => expect(String(v.sequenceNum)).toBe(String(a.seq - 1n)));
      // Event rows can trail the agent row by one write-behind batch.
      await eventually(
        async () => {
          const flips = (await api.events(a.uid)).filter((e) => e.type === 'health_changed').length;
          expect(flips, `health_changed events of ${uidText(a.uid)}`).toBeGreaterThanOrEqual(
            Math.min(a.healthFlips, 100),
          );
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
    }
  });

  it('api: requests in flight are answered, and every command it accepted reaches the agent', async () => {
    const api2 = await stack.addApi();
    const sims = await startSimAgents(2, [ws(gwC)], { transport: 'ws', serviceName: 'e2e-api-sigterm' });
    groups.push(sims);
    const received = new Map<string, number>();
    for (const a of sims.agents) a.on('customMessage', () => received.set(a.uid, (received.get(a.uid) ?? 0) + 1));
    for (const a of sims.agents)
      await api.waitAgent(a.uidBytesCopy, (v) => expect(v.customCapabilities).toContain(ECHO_CAPABILITY));

    const accepted = new Map<string, number>();
    const failures: string[] = [];
    let stopped = false;
    let sigtermAt = Infinity;
    let answeredDuringShutdown = 0;
    // A connection the closing server had accepted but not read a request from yet is reset (Node
    // closes idle connections on close): the client never got an answer and may retry elsewhere.
    let resetBeforeAnswer = 0;
    let refused = 0;
    // Workers post commands back to back until the closed listener refuses them.
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stopped; i++) {
        const agent = sims.agents[(w + i) % sims.agents.length]!;
        const body = Buffer.from(JSON.stringify({ capability: ECHO_CAPABILITY, type: 't', data: '' }));
        try {
          const res = await httpRequest(`${api2.url}/api/v1/agents/${agent.uid}/custom-messages`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', ...adminAuth() },
            body,
            timeoutMs: 10_000,
          });
          if (Date.now() > sigtermAt) answeredDuringShutdown++;
          if (res.status === 202) accepted.set(agent.uid, (accepted.get(agent.uid) ?? 0) + 1);
          else failures.push(`HTTP ${res.status}`);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ECONNREFUSED') refused++;
          else if (code === 'ECONNRESET' && Date.now() > sigtermAt) resetBeforeAnswer++;
          else failures.push(code ?? (err as Error).message);
          return;
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await eventually(() => expect([...accepted.values()].reduce((n, v) => n + v, 0)).toBeGreaterThan(20), {
      timeoutMs: 15_000,
    });
    sigtermAt = Date.now();
    const code = await api2.stop('SIGTERM', 20_000);
    stopped = true;
    await Promise.all(workers);
    expect([0, null]).toContain(code);
    expect(failures, 'requests answered with an error or failed before the shutdown').toEqual([]);
    const total = [...accepted.values()].reduce((n, v) => n + v, 0);
    // Every command the api acknowledged (202) reaches its agent exactly once; a reset request may
    // or may not have been queued, never more than once.
    await eventually(
      () => {
        let delivered = 0;
        for (const a of sims.agents) {
          const got = received.get(a.uid) ?? 0;
          expect(got, `custom messages for ${a.uid}`).toBeGreaterThanOrEqual(accepted.get(a.uid) ?? 0);
          delivered += got;
        }
        expect(delivered).toBeLessThanOrEqual(total + resetBeforeAnswer);
      },
      { timeoutMs: 15_000 },
    );
    await sleep(300);
    const delivered = [...received.values()].reduce((n, v) => n + v, 0);
    expect(delivered).toBeLessThanOrEqual(total + resetBeforeAnswer);
    console.log(
      `[failover] api SIGTERM: ${total} commands accepted (${answeredDuringShutdown} answered after the signal), ${delivered} delivered; ` +
        `${resetBeforeAnswer} connections reset before a request was read, ${refused} refused after close`,
    );
  });
});

describe('after the gateway crash', () => {
  it('the crashed gateway leaves nothing behind: presence expired, no route names it, its stream is gone', async () => {
    // Otherwise the presence check below would only report that the gateway still runs.
    expect(gwAKilledAt, 'the gateway crash test did not get as far as killing gateway A').toBeGreaterThan(0);
    await eventually(async () => expect(await view.gatewayAlive(GW_A)).toBe(false), {
      timeoutMs: Math.max(1_000, PRESENCE_TTL_MS + 5_000 - (Date.now() - gwAKilledAt)),
      intervalMs: 200,
    });
    const stale: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await view.redis.scan(cursor, 'MATCH', RedisKeys.route('*'), 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) {
        const values = await view.redis.mget(...keys);
        values.forEach((v, i) => v?.startsWith(`${GW_A} `) && stale.push(keys[i]!));
      }
    } while (cursor !== '0');
    expect(stale, 'routes still naming the crashed gateway').toEqual([]);
    // Replies to messages it had appended went to its stream after the crash; that stream expires.
    const streamTtl = await view.redis.pttl(StreamKeys.outbound(GW_A));
    expect(
      streamTtl === -2 || (streamTtl > 0 && streamTtl <= DEFAULT_BUS_LIMITS.outboundTtlMs),
      `PTTL ${streamTtl}`,
    ).toBe(true);
    expect(await view.outboundStreamLingers(GW_A)).toBe(false);
  });
});
