// The fleet service against the real Redis and Postgres of the test infrastructure: envelopes go
// in through the inbound shard streams (as a gateway would append them), replies are read from a
// fake gateway's outbound stream, state is checked in Postgres after the write-behind.
import { create, toBinary } from '@bufbuild/protobuf';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ConsumerGroups,
  RedisKeys,
  StreamKeys,
  connectRedis,
  createRedis,
  encodeInbound,
  ENVELOPE_FIELD,
  shardOf,
  uidHex,
} from '@opamp/bus';
import { decodeHotState } from '@opamp/domain';
import { AgentConfigMapSchema, ControlCommandSchema, ServerErrorResponseType, Transport } from '@opamp/proto';
import { computeConfigHash, uidToString, uuidv7, violatesErrorExclusivity } from '@opamp/protocol';
import { HealthService } from '@opamp/telemetry';
import { eventually, sleep, waitFor } from '../../../test/support/wait.js';
import { FakeGateway, decodeReply, startFleet, type A2SInit, type FleetInstance } from './testing/fleet-harness.js';

const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : '<none>');

const SHARDS = 4;
const DESCRIPTION: A2SInit['agentDescription'] = {
  identifyingAttributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'fluent-bit' } } }],
  nonIdentifyingAttributes: [{ key: 'host.name', value: { value: { case: 'stringValue', value: 'node-1' } } }],
};

let redis: Redis;
let db: pg.Client;
const fleets: FleetInstance[] = [];
const gateways: FakeGateway[] = [];

async function fleet(env: Record<string, string> = {}): Promise<FleetInstance> {
  const f = await startFleet({ OPAMP_SHARDS: String(SHARDS), ...env });
  fleets.push(f);
  return f;
}

async function gateway(id = `gw-${Math.random().toString(36).slice(2, 8)}`): Promise<FakeGateway> {
  const g = await new FakeGateway(id, SHARDS).start();
  gateways.push(g);
  return g;
}

async function reply(gw: FakeGateway, requestId: string) {
  return waitFor(() => gw.replyTo(requestId), { timeoutMs: 10_000, description: `reply to ${requestId}` });
}

async function row(uid: Uint8Array): Promise<Record<string, unknown> | undefined> {
  const r = await db.query(
    'SELECT *, sequence_num::text AS seq_text, capabilities::text AS caps_text FROM agents WHERE uid = $1',
    [uidToString(uid)],
  );
  return r.rows[0];
}

async function events(uid: Uint8Array): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const r = await db.query('SELECT type, data FROM agent_events WHERE agent_uid = $1 ORDER BY id', [uidToString(uid)]);
  return r.rows;
}

async function ownsAll(...fs: FleetInstance[]): Promise<void> {
  await waitFor(() => fs.reduce((n, f) => n + f.ownership.owned.length, 0) === SHARDS, {
    timeoutMs: 10_000,
    description: 'all shards owned',
  });
}

/** A uid that lands on `shard`. */
function uidOnShard(shard: number): Uint8Array {
  for (;;) {
    const uid = uuidv7();
    if (shardOf(uid, SHARDS) === shard) return uid;
  }
}

beforeAll(async () => {
  redis = createRedis(process.env.REDIS_URL!, { name: 'fleet-medium-spec' });
  await connectRedis(redis, process.env.REDIS_URL!);
  db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
});

afterAll(async () => {
  await redis.quit();
  await db.end();
});

beforeEach(async () => {
  await redis.flushdb();
  await db.query('TRUNCATE agents CASCADE');
});

afterEach(async () => {
  for (const f of fleets.splice(0)) await f.close();
  for (const g of gateways.splice(0)) await g.stop();
});

describe('fleet: replies, full state, write-behind', () => {
  it('answers every message, asks for the full state on a gap, and writes the merged state to Postgres', async () => {
    const f = await fleet();
    const gw = await gateway();
    await ownsAll(f);
    const uid = uuidv7();
    const caps = 0x1n | 0x4n | 0x800n; // ReportsStatus | ReportsEffectiveConfig | ReportsHealth
    const r0 = await gw.send({
      instanceUid: uid,
      sequenceNum: 0n,
      capabilities: caps,
      agentDescription: DESCRIPTION,
      health: { healthy: true },
      effectiveConfig: {
        configMap: {
          configMap: { 'fluent-bit.conf': { body: new TextEncoder().encode('[INPUT]\n'), contentType: 'text/plain' } },
        },
      },
    });
    const r1 = await gw.send({
      instanceUid: uid,
      sequenceNum: 1n,
      capabilities: caps,
      health: { healthy: false, lastError: 'disk full' },
    });
    const r2 = await gw.send({ instanceUid: uid, sequenceNum: 3n, capabilities: caps });
    const [a0, a1, a2] = [await reply(gw, r0), await reply(gw, r1), await reply(gw, r2)];
    for (const a of [a0, a1, a2]) {
      expect(hex(a.instanceUid)).toBe(hex(uid));
      expect(a.capabilities).toBe(0x27n);
      expect(a.errorResponse).toBeUndefined();
    }
    expect(a0.flags).toBe(0n);
    expect(a1.flags).toBe(0n);
    expect(a2.flags & 1n).toBe(1n);

    const stored = await waitFor(async () => {
      const r = await row(uid);
      return r && r.healthy === false ? r : undefined;
    });
    expect(stored).toMatchObject({
      agent_type: 'fluentbit',
      service_name: 'fluent-bit',
      host_name: 'node-1',
      caps_text: String(caps),
      connection_state: 'connected',
      transport: 'ws',
    });
    expect(stored.effective_config).toMatchObject({
      configMap: { 'fluent-bit.conf': { body: '[INPUT]\n', contentType: 'text/plain' } },
    });
    expect(stored.health).toMatchObject({ healthy: false, lastError: 'disk full' });
    expect((await events(uid)).map((e) => e.type)).toEqual(
      expect.arrayContaining(['first_seen', 'connected', 'health_changed']),
    );
    // hot state in Redis
    const hot = await redis.hgetallBuffer(RedisKeys.agentState(uidHex(uid)));
    const state = decodeHotState(uid, { core: hot.core, report: hot.report, desired: hot.desired })!;
    expect(state.core.lastSeq).toBe(3n);
    expect(state.core.fullStateRequested).toBe(true);
    expect(await redis.get(RedisKeys.route(uidHex(uid)))).toBe(`${gw.gatewayId} conn-1`);
  });

  it('a heartbeat writes no Postgres row', async () => {
    const f = await fleet();
    const gw = await gateway();
    await ownsAll(f);
    const uid = uuidv7();
    await reply(
      gw,
      await gw.send({ instanceUid: uid, sequenceNum: 0n, capabilities: 0x1n | 0x2000n, agentDescription: DESCRIPTION }),
    );
    const first = await waitFor(() => row(uid));
    await sleep(300); // let the write-behind settle
    const before = (await row(uid))!;
    for (let seq = 1n; seq <= 5n; seq++)
      await reply(gw, await gw.send({ instanceUid: uid, sequenceNum: seq, capabilities: 0x1n | 0x2000n }));
    await sleep(500); // 5 flush intervals
    const after = (await row(uid))!;
    expect(after.updated_at).toEqual(before.updated_at);
    expect(after.seq_text).toBe(first.seq_text);
    const hot = await redis.hgetallBuffer(RedisKeys.agentState(uidHex(uid)));
    expect(decodeHotState(uid, { core: hot.core })!.core.lastSeq).toBe(5n);
    expect(await redis.scard(RedisKeys.dirty(shardOf(uid, SHARDS)))).toBe(0);
  });

  it('undecodable bytes get BAD_REQUEST and create no agent', async () => {
    const f = await fleet();
    const gw = await gateway();
    await ownsAll(f);
    const uid = uuidv7();
    const bad = await gw.send({ instanceUid: uid }, { raw: Uint8Array.from([0x0a, 0x10, 0x01, 0x92, 0xe3]) });
    const a = await reply(gw, bad);
    expect(a.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(violatesErrorExclusivity(a)).toBe(false);
    await sleep(300);
    expect(await row(uid)).toBeUndefined();
    expect(await redis.exists(RedisKeys.agentState(uidHex(uid)))).toBe(0);
  });
});

describe('fleet: write-behind resilience and shutdown', () => {
  it('keeps dirty agents while Postgres fails, turns not ready, and catches up afterwards', async () => {
    const f = await fleet();
    const gw = await gateway();
    await ownsAll(f);
    const health = f.app.get(HealthService);
    const uid = uuidv7();
    await db.query('ALTER TABLE agents RENAME TO agents_away');
    try {
      // OpAMP keeps working while Postgres is down
      const a = await reply(
        gw,
        await gw.send({ instanceUid: uid, sequenceNum: 0n, capabilities: 1n, agentDescription: DESCRIPTION }),
      );
      expect(a.errorResponse).toBeUndefined();
      await waitFor(async () => (await health.readiness()).checks.postgres === false, {
        description: 'postgres check false',
      });
      expect((await health.readiness()).ready).toBe(false);
      expect(await redis.sismember(RedisKeys.dirty(shardOf(uid, SHARDS)), uidHex(uid))).toBe(1);
    } finally {
      await db.query('ALTER TABLE agents_away RENAME TO agents');
    }
    await waitFor(() => row(uid), { timeoutMs: 15_000, description: 'row written after recovery' });
    await waitFor(async () => (await health.readiness()).checks.postgres === true);
    expect((await events(uid)).map((e) => e.type)).toEqual(['first_seen', 'connected']);
    await waitFor(async () => (await redis.scard(RedisKeys.dirty(shardOf(uid, SHARDS)))) === 0);
  });

  it('graceful shutdown flushes the write-behind and releases the leases', async () => {
    const f = await fleet({ FLEET_FLUSH_INTERVAL_MS: '60000' });
    const gw = await gateway();
    await ownsAll(f);
    const uid = uuidv7();
    await reply(
      gw,
      await gw.send({ instanceUid: uid, sequenceNum: 0n, capabilities: 1n, agentDescription: DESCRIPTION }),
    );
    expect(await row(uid)).toBeUndefined();
    await f.close();
    expect(await row(uid)).toMatchObject({ service_name: 'fluent-bit' });
    for (let shard = 0; shard < SHARDS; shard++) expect(await redis.exists(RedisKeys.shardLease(shard))).toBe(0);
    expect(await redis.zcard(RedisKeys.fleetMembers)).toBe(0);
  });
});

describe('fleet: liveness and connections', () => {
  it('marks a heartbeat agent offline after k × interval of silence', async () => {
    const f = await fleet({ FLEET_HEARTBEAT_INTERVAL_SECONDS: '1', FLEET_OFFLINE_AFTER_MISSED: '2' });
    const gw = await gateway();
    await ownsAll(f);
    const uid = uuidv7();
    const a = await reply(
      gw,
      await gw.send({ instanceUid: uid, sequenceNum: 0n, capabilities: 0x1n | 0x2000n, agentDescription: DESCRIPTION }),
    );
    expect(a.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(1n);
    expect(a.connectionSettings?.hash.length).toBeGreaterThan(0);
    const started = Date.now();
    await waitFor(async () => (await row(uid))?.connection_state === 'offline', {
      timeoutMs: 8_000,
      description: 'offline',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect((await events(uid)).map((e) => e.type)).toContain('offline');
    expect(await redis.exists(RedisKeys.route(uidHex(uid)))).toBe(0);
  });

  it('a reconnect closes the old connection (1008); only a close of the current connection disconnects', async () => {
    const f = await fleet();
    const gw = await gateway();
    await ownsAll(f);
    const uid = uuidv7();
    await reply(
      gw,
      await gw.send(
        { instanceUid: uid, sequenceNum: 0n, capabilities: 1n, agentDescription: DESCRIPTION },
        { connectionId: 'conn-1' },
      ),
    );
    await reply(gw, await gw.send({ instanceUid: uid, sequenceNum: 1n, capabilities: 1n }, { connectionId: 'conn-2' }));
    const close = await waitFor(() => gw.pushes('conn-1').find((e) => e.close));
    expect(close.close).toMatchObject({ code: 1008, reason: 'replaced by a newer connection' });
    expect(close.serverToAgent.length).toBe(0);
    expect(gw.pushes('conn-2')).toEqual([]);

    await gw.closeConnection(uid, 'conn-1'); // late close of the replaced connection
    await sleep(300);
    expect((await row(uid))?.connection_state).toBe('connected');
    expect(await redis.get(RedisKeys.route(uidHex(uid)))).toBe(`${gw.gatewayId} conn-2`);

    await gw.closeConnection(uid, 'conn-2');
    await waitFor(async () => (await row(uid))?.connection_state === 'disconnected');
    expect(await redis.exists(RedisKeys.route(uidHex(uid)))).toBe(0);
    const types = (await events(uid)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['duplicate_detected', 'disconnected']));
  });
});

describe('fleet: control commands', () => {
  const restart = (id: string) =>
    create(ControlCommandSchema, { commandId: id, command: { case: 'restart', value: {} } });

  it('restart: refused without 0x400, pushed to a live WS agent, delivered once on the next HTTP poll', async () => {
    const f = await fleet();
    const gw = await gateway();
    await ownsAll(f);
    const noRestart = uuidv7();
    const wsAgent = uuidv7();
    const httpAgent = uuidv7();
    await reply(
      gw,
      await gw.send(
        { instanceUid: noRestart, sequenceNum: 0n, capabilities: 1n, agentDescription: DESCRIPTION },
        { connectionId: 'c-a' },
      ),
    );
    await reply(
      gw,
      await gw.send(
        { instanceUid: wsAgent, sequenceNum: 0n, capabilities: 0x401n, agentDescription: DESCRIPTION },
        { connectionId: 'c-b' },
      ),
    );
    await reply(
      gw,
      await gw.send(
        { instanceUid: httpAgent, sequenceNum: 0n, capabilities: 0x401n, agentDescription: DESCRIPTION },
        { connectionId: 'h-1', transport: Transport.HTTP },
      ),
    );

    await gw.control(noRestart, restart('r-1'));
    await gw.control(wsAgent, restart('r-2'));
    await gw.control(httpAgent, restart('r-3'));

    const push = await waitFor(() => gw.pushes('c-b').find((e) => e.serverToAgent.length > 0));
    const pushed = decodeReply(push.serverToAgent);
    expect(pushed.command).toBeDefined();
    expect(hex(pushed.instanceUid)).toBe(hex(wsAgent));
    expect(pushed.remoteConfig ?? pushed.connectionSettings ?? pushed.agentIdentification).toBeUndefined();

    await eventually(async () => expect((await events(noRestart)).map((e) => e.type)).toContain('command_rejected'));
    expect(gw.pushes('c-a')).toEqual([]);

    const poll1 = await reply(
      gw,
      await gw.send({ instanceUid: httpAgent, sequenceNum: 1n }, { connectionId: 'h-2', transport: Transport.HTTP }),
    );
    expect(poll1.command).toBeDefined();
    const poll2 = await reply(
      gw,
      await gw.send({ instanceUid: httpAgent, sequenceNum: 2n }, { connectionId: 'h-3', transport: Transport.HTTP }),
    );
    expect(poll2.command).toBeUndefined();
    await eventually(async () => {
      const ev = await events(httpAgent);
      expect(ev.filter((e) => e.type === 'command_sent')).toHaveLength(1);
    });
  });

  it('desired config: pushed over WS, held for HTTP until the next poll, never re-sent once APPLIED', async () => {
    const f = await fleet();
    const gw = await gateway();
    await ownsAll(f);
    const map = create(AgentConfigMapSchema, {
      configMap: { 'fluent-bit.conf': { body: new TextEncoder().encode('[OUTPUT]\n'), contentType: 'text/plain' } },
    });
    const hash = computeConfigHash(map);
    const desired = create(ControlCommandSchema, {
      commandId: 'cfg-1',
      command: { case: 'desiredConfig', value: { configHash: hash, configMap: toBinary(AgentConfigMapSchema, map) } },
    });
    const caps = 0x1n | 0x2n | 0x1000n;
    const ws = uuidv7();
    const http = uuidv7();
    await reply(
      gw,
      await gw.send(
        { instanceUid: ws, sequenceNum: 0n, capabilities: caps, agentDescription: DESCRIPTION, remoteConfigStatus: {} },
        { connectionId: 'w' },
      ),
    );
    await reply(
      gw,
      await gw.send(
        {
          instanceUid: http,
          sequenceNum: 0n,
          capabilities: caps,
          agentDescription: DESCRIPTION,
          remoteConfigStatus: {},
        },
        { connectionId: 'h0', transport: Transport.HTTP },
      ),
    );
    await gw.control(ws, desired);
    await gw.control(http, desired);
    const push = await waitFor(() => gw.pushes('w').find((e) => e.serverToAgent.length > 0));
    expect(hex(decodeReply(push.serverToAgent).remoteConfig?.configHash)).toBe(hex(hash));
    await sleep(200);
    const poll = await reply(
      gw,
      await gw.send({ instanceUid: http, sequenceNum: 1n }, { connectionId: 'h1', transport: Transport.HTTP }),
    );
    expect(hex(poll.remoteConfig?.configHash)).toBe(hex(hash));
    const applied = await reply(
      gw,
      await gw.send(
        { instanceUid: http, sequenceNum: 2n, remoteConfigStatus: { lastRemoteConfigHash: hash, status: 1 } },
        { connectionId: 'h2', transport: Transport.HTTP },
      ),
    );
    expect(applied.remoteConfig).toBeUndefined();
    const later = await reply(
      gw,
      await gw.send({ instanceUid: http, sequenceNum: 3n }, { connectionId: 'h3', transport: Transport.HTTP }),
    );
    expect(later.remoteConfig).toBeUndefined();
  });
});

describe('fleet: instance uid assignment', () => {
  it('RequestInstanceUid: new UUIDv7, the record follows the new uid, no second assignment', async () => {
    const f = await fleet();
    const gw = await gateway();
    await ownsAll(f);
    const temp = uuidv7();
    const a = await reply(
      gw,
      await gw.send({ instanceUid: temp, sequenceNum: 0n, capabilities: 1n, flags: 1n, agentDescription: DESCRIPTION }),
    );
    const newUid = a.agentIdentification!.newInstanceUid;
    expect(newUid.length).toBe(16);
    expect(newUid[6]! >> 4).toBe(7);
    expect(hex(a.instanceUid)).toBe(hex(temp));
    const b = await reply(gw, await gw.send({ instanceUid: newUid, sequenceNum: 1n, capabilities: 1n, flags: 1n }));
    expect(b.agentIdentification).toBeUndefined();
    expect(hex(b.instanceUid)).toBe(hex(newUid));
    expect(b.flags).toBe(0n); // contiguous and the state came along
    const r = await waitFor(() => row(newUid));
    expect(r).toMatchObject({ service_name: 'fluent-bit', connection_state: 'connected' });
    expect(await row(temp)).toBeUndefined();
    expect((await events(newUid)).map((e) => e.type)).toEqual(expect.arrayContaining(['first_seen', 'uid_assigned']));
  });
});

describe('fleet: shard leases', () => {
  it('two replicas share the shards; a graceful stop hands them over at once', async () => {
    const f1 = await fleet({ FLEET_REPLICA_ID: 'replica-1' });
    await ownsAll(f1);
    const f2 = await fleet({ FLEET_REPLICA_ID: 'replica-2' });
    await waitFor(() => f1.ownership.owned.length === 2 && f2.ownership.owned.length === 2, {
      timeoutMs: 10_000,
      description: 'rebalanced 2/2',
    });
    const gw = await gateway();
    const uids = [0, 1, 2, 3].map(uidOnShard);
    for (const uid of uids)
      await reply(
        gw,
        await gw.send({ instanceUid: uid, sequenceNum: 0n, capabilities: 1n, agentDescription: DESCRIPTION }),
      );

    const stopped = Date.now();
    await f2.close();
    await waitFor(() => f1.ownership.owned.length === SHARDS, { timeoutMs: 5_000, description: 'f1 took every shard' });
    expect(Date.now() - stopped).toBeLessThan(1_500); // released leases, not expired ones
    for (const uid of uids) {
      const a = await reply(gw, await gw.send({ instanceUid: uid, sequenceNum: 1n, capabilities: 1n }));
      expect(a.flags).toBe(0n); // state survived the move (Redis hot state)
    }
    await eventually(async () => {
      for (const uid of uids) expect(await row(uid)).toBeDefined();
    });
  });

  it('entries a crashed replica read but never acknowledged are processed once by the next owner', async () => {
    const shard = 2;
    const key = StreamKeys.inbound(shard);
    const gw = await gateway('gw-crash');
    const uid = uidOnShard(shard);
    // A "crashed" replica: holds the shard's lease (never renewed) and has read entries without acking.
    await redis.xgroup('CREATE', key, ConsumerGroups.fleet, '0', 'MKSTREAM');
    const requestIds = ['crash:1', 'crash:2', 'crash:3'];
    for (const [i, requestId] of requestIds.entries()) {
      const msg =
        i === 0
          ? { instanceUid: uid, sequenceNum: 0n, capabilities: 1n, agentDescription: DESCRIPTION }
          : { instanceUid: uid, sequenceNum: BigInt(i), capabilities: 1n };
      const { AgentToServerSchema } = await import('@opamp/proto');
      const bytes = toBinary(AgentToServerSchema, create(AgentToServerSchema, msg));
      await redis.xadd(
        key,
        '*',
        ENVELOPE_FIELD,
        encodeInbound({
          instanceUid: uid,
          gatewayId: gw.gatewayId,
          connectionId: 'c',
          transport: Transport.WEBSOCKET,
          receivedAtMs: BigInt(Date.now()),
          requestId,
          payload: { case: 'agentToServer', value: bytes },
        }),
      );
    }
    const read = (await redis.xreadgroup('GROUP', ConsumerGroups.fleet, 'ghost', 'COUNT', 10, 'STREAMS', key, '>')) as [
      string,
      unknown[],
    ][];
    expect(read[0]![1]).toHaveLength(3);
    await redis.set(RedisKeys.shardLease(shard), 'ghost', 'PX', 1_500);

    const f = await fleet({ FLEET_REPLICA_ID: 'survivor' });
    await waitFor(() => f.ownership.owned.length === SHARDS - 1);
    expect(f.ownership.owned).not.toContain(shard);
    await waitFor(() => f.ownership.owned.includes(shard), { timeoutMs: 5_000, description: 'lease taken after TTL' });
    for (const id of requestIds) await reply(gw, id);
    await sleep(500);
    for (const id of requestIds) expect(gw.received.filter((e) => e.requestId === id)).toHaveLength(1);
    expect(gw.replyTo('crash:3')!.flags).toBe(0n);
    const pending = (await redis.xpending(key, ConsumerGroups.fleet)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
    await eventually(async () => expect((await events(uid)).filter((e) => e.type === 'first_seen')).toHaveLength(1));
  });
});
