// Several replicas of every app at once, as in production: two gateways, two fleet replicas (a
// third joins later), one api, all against the shared test Redis and Postgres. Agents (the
// simulator, and raw HTTP polls) are spread over both gateways; leases, routes and pushes are
// checked in Redis and at the agents.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import { Redis } from 'ioredis';
import { BusPublisher, shardOf } from '@opamp/bus';
import { AgentConfigMapSchema, RemoteConfigStatuses, Transport } from '@opamp/proto';
import { computeConfigHash } from '@opamp/protocol';
import { ECHO_CAPABILITY } from '../../apps/simulator/src/simulated-agent.js';
import { postOpamp, uidText } from '../support/opamp-raw-client.js';
import type { RunningApp } from '../support/processes.js';
import { REDIS_URL } from '../support/env.js';
import { eventually, sleep } from '../support/wait.js';
import { fullReport, newUid, poll } from './helpers/agents.js';
import { HttpLoad, RedisView, startSimAgents, type SimGroup } from './helpers/cluster.js';
import { expectAck } from './helpers/opamp-assert.js';
import { apiFor, SHARDS, startStack, type Api, type Stack } from './helpers/stack.js';

const SHARD_COUNT = Number(SHARDS);
const LEASE_TTL_MS = 1500;
const run = randomBytes(3).toString('hex');
const GW_A = `e2e-gw-a-${run}`;
const GW_B = `e2e-gw-b-${run}`;
const FLEET_A = `e2e-fleet-a-${run}`;
const FLEET_B = `e2e-fleet-b-${run}`;
const FLEET_C = `e2e-fleet-c-${run}`;

let stack: Stack;
let api: Api;
let gwB: RunningApp;
let fleetB: RunningApp;
let view: RedisView;
let bus: Redis;
let sims: SimGroup | undefined;

const ws = (app: RunningApp) => `ws://127.0.0.1:${app.port}/v1/opamp`;
const http = (app: RunningApp) => `http://127.0.0.1:${app.port}/v1/opamp`;

/** A fresh uid whose shard is `shard` (so a test can place agents on both replicas' shards). */
function uidOnShard(shard: number): Uint8Array {
  for (let i = 0; i < 10_000; i++) {
    const uid = newUid();
    if (shardOf(uid, SHARD_COUNT) === shard) return uid;
  }
  throw new Error(`no uid for shard ${shard}`);
}

beforeAll(async () => {
  stack = await startStack({
    gateway: { GATEWAY_ID: GW_A },
    fleet: { FLEET_REPLICA_ID: FLEET_A, FLEET_LEASE_TTL_MS: String(LEASE_TTL_MS) },
  });
  [gwB, fleetB] = await Promise.all([
    stack.addGateway({ GATEWAY_ID: GW_B }),
    stack.addFleet({ FLEET_REPLICA_ID: FLEET_B }),
  ]);
  api = apiFor(stack);
  view = new RedisView(REDIS_URL);
  bus = new Redis(REDIS_URL);
});

afterAll(async () => {
  await sims?.stop();
  await stack?.stop();
  await view?.close();
  bus?.disconnect();
});

describe('leases', () => {
  it('two fleet replicas split the shards: each shard has one live owner, each replica its fair share', async () => {
    const byOwner = await eventually(
      async () => {
        const owners = await view.leasesByOwner(SHARD_COUNT);
        expect(Object.keys(owners).sort()).toEqual([FLEET_A, FLEET_B].sort());
        expect(owners[FLEET_A]).toHaveLength(SHARD_COUNT / 2);
        expect(owners[FLEET_B]).toHaveLength(SHARD_COUNT / 2);
        return owners;
      },
      { timeoutMs: 20_000, intervalMs: 100, description: 'leases split between the two replicas' },
    );
    expect([...byOwner[FLEET_A]!, ...byOwner[FLEET_B]!].sort()).toEqual([0, 1, 2, 3]);
  });
});

describe('agents on two gateways', () => {
  it('WS agents on both gateways (one per shard and gateway) are served; each route names the gateway holding the agent', async () => {
    // Agent i connects to gateway i mod 2 and lives on shard floor(i / 2): every shard has one agent on each gateway.
    const uids = Array.from({ length: 2 * SHARD_COUNT }, (_, i) => uidOnShard(Math.floor(i / 2)));
    sims = await startSimAgents(uids.length, [ws(stack.gateway), ws(gwB)], {
      transport: 'ws',
      restartDelayMs: 200,
      applyDelayMs: 20,
      uids,
    });
    const owners = await view.leaseOwners(SHARD_COUNT);
    const fleetsServing = new Set<string>();
    for (const [i, agent] of sims.agents.entries()) {
      const expectedGw = i % 2 === 0 ? GW_A : GW_B;
      const uid = agent.uidBytesCopy;
      fleetsServing.add(owners.get(shardOf(uid, SHARD_COUNT))!);
      await eventually(async () => expect((await view.route(uid))?.gatewayId).toBe(expectedGw), {
        description: `route of agent ${i}`,
      });
      await api.waitAgent(uid, (a) => {
        expect(a.connectionState).toBe('connected');
        expect(a.transport).toBe('ws');
      });
    }
    expect(sims.agents.every((a) => a.stats.fullStateRequests === 0)).toBe(true);
    expect([...fleetsServing].sort(), 'both fleet replicas process these agents').toEqual([FLEET_A, FLEET_B].sort());
  });

  it('pushes reach a WS agent through whichever gateway holds it: custom message, desired config, restart', async () => {
    const onA = sims!.agents[0]!;
    const onB = sims!.agents[1]!;
    for (const [agent, gw] of [
      [onA, GW_A],
      [onB, GW_B],
    ] as const) {
      const uid = agent.uidBytesCopy;
      expect((await view.route(uid))?.gatewayId).toBe(gw);

      // Custom message (api → fleet shard owner → the holding gateway → socket); the agent echoes it.
      const custom = agent.waitFor('customMessage', (m) => m.type === 'ping', 15_000);
      const res = await api.customMessage(uid, { capability: ECHO_CAPABILITY, type: 'ping', data: Buffer.from(gw) });
      expect(res.status).toBe(202);
      const [msg] = await custom;
      expect(Buffer.from(msg.data).toString()).toBe(gw);

      // Desired config (control envelope on the agent's shard): pushed, applied, reported back.
      const map = create(AgentConfigMapSchema, {
        configMap: { 'fluent-bit.yaml': { body: Buffer.from(`# for ${gw}\n`), contentType: 'text/yaml' } },
      });
      const hash = computeConfigHash(map);
      const applied = agent.waitFor(
        'remoteConfigStatus',
        (status, h) =>
          status === RemoteConfigStatuses.RemoteConfigStatuses_APPLIED && Buffer.from(h).equals(Buffer.from(hash)),
        15_000,
      );
      await new BusPublisher(bus, SHARD_COUNT).publishInbound({
        instanceUid: uid,
        transport: Transport.UNSPECIFIED,
        receivedAtMs: BigInt(Date.now()),
        payload: {
          case: 'control',
          value: {
            commandId: `cfg-${gw}`,
            command: {
              case: 'desiredConfig',
              value: { configHash: hash, configMap: toBinary(AgentConfigMapSchema, map) },
            },
          },
        },
      });
      await applied;
      await api.waitAgent(
        uid,
        (a) => expect((a.remoteConfigStatus as { status?: string } | null)?.status).toMatch(/APPLIED/),
        { timeoutMs: 15_000 },
      );

      // Restart: the agent disconnects, restarts as a new process and comes back through a gateway.
      const restarted = agent.waitFor('restarted', () => true, 15_000);
      expect((await api.restart(uid)).status).toBe(202);
      await restarted;
      await agent.waitFor('message', () => true, 15_000);
      await eventually(async () => expect((await view.route(uid))?.gatewayId).toBe(gw), { timeoutMs: 10_000 });
    }
  });

  it('an HTTP agent gets what waits for it on its next poll, whichever gateway answers it', async () => {
    const uid = newUid();
    const caps = 0x1n | 0x2n | 0x400n; // ReportsStatus | AcceptsRemoteConfig | AcceptsRestartCommand
    const urls = [http(stack.gateway), http(gwB)];
    let seq = 0n;
    const send = async (extra: Parameters<typeof poll>[3] = {}) => {
      const url = urls[Number(seq % 2n)]!;
      const res = await postOpamp(
        url,
        seq === 0n ? fullReport(uid, seq, { capabilities: caps, ...extra }) : poll(uid, seq, caps, extra),
      );
      expect(res.status).toBe(200);
      seq++;
      return expectAck(res.serverToAgent, uid);
    };
    /** Polls (alternating gateways) until `pick` finds what was queued; then one more poll must not repeat it. */
    const pollUntil = async <T>(pick: (m: Awaited<ReturnType<typeof send>>) => T | undefined): Promise<T> => {
      for (let i = 0; i < 100; i++) {
        const found = pick(await send());
        if (found !== undefined) {
          expect(pick(await send()), 'delivered once').toBeUndefined();
          return found;
        }
        await sleep(100);
      }
      throw new Error('nothing delivered within 100 polls');
    };

    await send({ customCapabilities: { capabilities: ['com.example.pause'] } });
    await api.waitAgent(uid, (a) => expect(a.customCapabilities).toEqual(['com.example.pause']));

    expect((await api.restart(uid)).status).toBe(202);
    const command = await pollUntil((m) => m.command);
    expect(command).toBeDefined();

    expect(
      (await api.customMessage(uid, { capability: 'com.example.pause', type: 'pause', data: new Uint8Array([7]) }))
        .status,
    ).toBe(202);
    const custom = await pollUntil((m) => m.customMessage);
    expect(custom.type).toBe('pause');

    const map = create(AgentConfigMapSchema, {
      configMap: { 'x.yaml': { body: Buffer.from('a: 1\n'), contentType: 'text/yaml' } },
    });
    const hash = computeConfigHash(map);
    await new BusPublisher(bus, SHARD_COUNT).publishInbound({
      instanceUid: uid,
      transport: Transport.UNSPECIFIED,
      receivedAtMs: BigInt(Date.now()),
      payload: {
        case: 'control',
        value: {
          commandId: 'cfg-http',
          command: {
            case: 'desiredConfig',
            value: { configHash: hash, configMap: toBinary(AgentConfigMapSchema, map) },
          },
        },
      },
    });
    // Offered on every poll until the agent reports it (checklist §3.17: desired state, not a queue).
    let offered;
    for (let i = 0; i < 100 && !offered; i++) {
      offered = (await send()).remoteConfig;
      if (!offered) await sleep(100);
    }
    expect(Buffer.from(offered!.configHash).equals(Buffer.from(hash))).toBe(true);
    const after = await send({ remoteConfigStatus: { lastRemoteConfigHash: hash, status: 1 } });
    expect(after.remoteConfig, 'not offered again once APPLIED').toBeUndefined();
    expect(uidText(after.instanceUid)).toBe(uidText(uid));
  });
});

describe('lease movement under load', () => {
  it('leases move to the survivor when a replica stops and back to a new one when it starts; every poll is answered, no ReportFullState', async () => {
    const load = new HttpLoad(8, { urls: [http(stack.gateway), http(gwB)], intervalMs: 20, name: 'e2e-lease-move' });
    await load.start();
    try {
      await load.progress(3);

      // Graceful stop of B: its leases are released, A takes every shard at its next renewal tick.
      const stopped = Date.now();
      expect([0, null]).toContain(await fleetB.stop('SIGTERM'));
      const takeover = await eventually(
        async () => {
          const owners = await view.leasesByOwner(SHARD_COUNT);
          expect(owners).toEqual({ [FLEET_A]: [0, 1, 2, 3] });
          return Date.now() - stopped;
        },
        { timeoutMs: 10_000, intervalMs: 50, description: 'A owns every shard' },
      );
      console.log(`[scale-out] shards moved to the survivor ${takeover} ms after SIGTERM of a replica`);
      await load.progress(3);

      // A new replica C joins: A hands back its extra shards, C takes them.
      const fleetC = await stack.addFleet({ FLEET_REPLICA_ID: FLEET_C });
      const joined = Date.now();
      await eventually(
        async () => {
          const owners = await view.leasesByOwner(SHARD_COUNT);
          expect(owners[FLEET_A]).toHaveLength(2);
          expect(owners[FLEET_C]).toHaveLength(2);
        },
        { timeoutMs: 15_000, intervalMs: 50, description: 'A and C share the shards' },
      );
      console.log(`[scale-out] a new replica got its fair share ${Date.now() - joined} ms after it was ready`);
      await load.progress(3);
      expect(fleetC.pid).toBeGreaterThan(0);
    } finally {
      await load.stop();
    }
    for (const a of load.agents) {
      expect(a.problems, uidText(a.uid)).toEqual([]);
      expect(a.fullState, `ReportFullState for ${uidText(a.uid)}`).toEqual([]);
      expect(a.retries, `polls of ${uidText(a.uid)} not answered at once`).toBe(0);
      expect([...a.okReplies.values()].every((n) => n === 1)).toBe(true);
    }
    // The stored state followed every message.
    for (const a of load.agents)
      await api.waitAgent(a.uid, (v) => expect(String(v.sequenceNum)).toBe(String(a.seq - 1n)));
  });
});
