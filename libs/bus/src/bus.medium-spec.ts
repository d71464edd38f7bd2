import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Transport, type OutboundEnvelope } from '@opamp/proto';
import { REDIS_URL } from '../../../test/support/env.js';
import { InboundConsumer, type InboundEntry } from './inbound-consumer.js';
import { ConsumerGroups, RedisKeys, StreamKeys } from './keys.js';
import { ShardLeaseManager } from './lease.js';
import { OutboundReader } from './outbound-reader.js';
import { BusPublisher } from './publisher.js';
import { connectRedis, createRedis } from './redis.js';
import { shardOf } from './shard.js';

const SHARDS = 4;
const opened: Redis[] = [];

async function redis(name: string, blocking = false): Promise<Redis> {
  const client = createRedis(REDIS_URL, { name, blocking });
  await connectRedis(client, REDIS_URL);
  opened.push(client);
  return client;
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
}

/** A uid that lands on `shard`. */
function uidOnShard(shard: number): Uint8Array {
  for (;;) {
    const uid = new Uint8Array(randomBytes(16));
    if (shardOf(uid, SHARDS) === shard) return uid;
  }
}

let admin: Redis;

/** True while the connection named `name` waits in a blocking command (CLIENT LIST flag b). */
async function blockedAtRedis(name: string): Promise<boolean> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').some((line) => line.includes(` name=${name} `) && / flags=\w*b/.test(line));
}

beforeAll(async () => {
  admin = await redis('test-admin');
});

afterEach(async () => {
  const keys = [
    ...(await admin.keys('opamp:in:*')),
    ...(await admin.keys('opamp:lease:*')),
    ...(await admin.keys('opamp:out:bus-test*')),
    RedisKeys.fleetMembers,
  ];
  if (keys.length > 0) await admin.del(...keys);
});

afterAll(() => {
  for (const client of opened) client.disconnect();
});

describe('inbound shard streams', () => {
  it('delivers envelopes of one agent in append order and trims what was acknowledged', async () => {
    const publisher = new BusPublisher(await redis('pub'), SHARDS);
    const uid = uidOnShard(2);
    const seen: number[] = [];
    const consumer = new InboundConsumer(
      await redis('c1-block', true),
      await redis('c1'),
      'c1',
      async (shard, entries) => {
        expect(shard).toBe(2);
        for (const e of entries) seen.push(Number(e.envelope!.receivedAtMs));
      },
      { trimEveryMs: 0 },
    );
    await consumer.addShard(2);
    consumer.start();
    for (let i = 0; i < 50; i++) {
      await publisher.publishInbound({
        instanceUid: uid,
        transport: Transport.WEBSOCKET,
        receivedAtMs: BigInt(i),
        payload: { case: 'agentToServer', value: new Uint8Array([i]) },
      });
    }
    await waitFor(() => seen.length === 50);
    expect(seen).toEqual([...Array(50).keys()]);
    await waitFor(async () => Number((await admin.xpending(StreamKeys.inbound(2), ConsumerGroups.fleet))[0]) === 0);
    // A later batch triggers trimming of everything below the last delivered entry.
    await publisher.publishInbound({
      instanceUid: uid,
      transport: Transport.HTTP,
      receivedAtMs: 50n,
      payload: { case: 'agentToServer', value: new Uint8Array([1]) },
    });
    await waitFor(() => seen.length === 51);
    await waitFor(async () => (await admin.xlen(StreamKeys.inbound(2))) < 51);
    await consumer.stop();
  });

  it('re-delivers what a crashed owner read but never acknowledged, to the next owner', async () => {
    const publisher = new BusPublisher(await redis('pub2'), SHARDS);
    const uid = uidOnShard(1);
    // The first owner reads and "crashes" mid-batch: its handler never resolves.
    const firstSeen: InboundEntry[] = [];
    const crashed = new InboundConsumer(await redis('a-block', true), await redis('a'), 'owner-a', (_s, entries) => {
      firstSeen.push(...entries);
      return new Promise<void>(() => undefined);
    });
    for (let i = 0; i < 10; i++) {
      await publisher.publishInbound({
        instanceUid: uid,
        transport: Transport.WEBSOCKET,
        receivedAtMs: BigInt(i),
        payload: { case: 'agentToServer', value: new Uint8Array([i]) },
      });
    }
    await crashed.addShard(1);
    crashed.start();
    await waitFor(() => firstSeen.length === 10);
    crashed.dropShard(1);

    const secondSeen: number[] = [];
    const next = new InboundConsumer(await redis('b-block', true), await redis('b'), 'owner-b', async (_s, entries) => {
      for (const e of entries) secondSeen.push(Number(e.envelope!.receivedAtMs));
    });
    await next.addShard(1);
    next.start();
    await waitFor(() => secondSeen.length === 10);
    expect(secondSeen).toEqual([...Array(10).keys()]);
    await waitFor(async () => Number((await admin.xpending(StreamKeys.inbound(1), ConsumerGroups.fleet))[0]) === 0);
    await next.stop();
  });

  it('hands a shard over gracefully even while its read is waiting at Redis', async () => {
    // Redis gives a new entry to the reader that has waited longest, so the old owner's
    // XREADGROUP BLOCK, issued before it gave the shard up, would take an entry the new owner
    // never sees: the new owner claimed what was pending when it took the shard, before that.
    const publisher = new BusPublisher(await redis('pub6'), SHARDS);
    const old: number[] = [];
    const next: number[] = [];
    const a = new InboundConsumer(
      await redis('handover-a-block', true),
      await redis('handover-a'),
      'handover-a',
      async (_s, entries) => void old.push(...entries.map((e) => Number(e.envelope!.receivedAtMs))),
      { blockMs: 1500 },
    );
    await a.addShard(2);
    a.start();
    await waitFor(() => blockedAtRedis('handover-a-block'));
    await a.removeShard(2); // the lease is released after this resolves
    const b = new InboundConsumer(
      await redis('handover-b-block', true),
      await redis('handover-b'),
      'handover-b',
      async (_s, entries) => void next.push(...entries.map((e) => Number(e.envelope!.receivedAtMs))),
    );
    await b.addShard(2);
    b.start();
    await waitFor(() => blockedAtRedis('handover-b-block'));
    await publisher.publishInbound({
      instanceUid: uidOnShard(2),
      transport: Transport.WEBSOCKET,
      receivedAtMs: 1n,
      payload: { case: 'agentToServer', value: new Uint8Array([1]) },
    });
    await waitFor(() => next.length === 1);
    expect(old).toEqual([]);
    await waitFor(async () => Number((await admin.xpending(StreamKeys.inbound(2), ConsumerGroups.fleet))[0]) === 0);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('claims what a replica that lost the shard read after the new owner took it', async () => {
    // The lease lapsed (the old owner stalled): it drops the shard at once, but its read still
    // waiting at Redis takes the next entry. The new owner notices entries pending elsewhere.
    const publisher = new BusPublisher(await redis('pub7'), SHARDS);
    const next: number[] = [];
    const a = new InboundConsumer(
      await redis('lapsed-a-block', true),
      await redis('lapsed-a'),
      'lapsed-a',
      async () => undefined,
      { blockMs: 1500 },
    );
    await a.addShard(3);
    a.start();
    await waitFor(() => blockedAtRedis('lapsed-a-block'));
    a.dropShard(3);
    const b = new InboundConsumer(
      await redis('lapsed-b-block', true),
      await redis('lapsed-b'),
      'lapsed-b',
      async (_s, entries) => void next.push(...entries.map((e) => Number(e.envelope!.receivedAtMs))),
      { trimEveryMs: 100 },
    );
    await b.addShard(3);
    b.start();
    await waitFor(() => blockedAtRedis('lapsed-b-block'));
    await publisher.publishInbound({
      instanceUid: uidOnShard(3),
      transport: Transport.WEBSOCKET,
      receivedAtMs: 5n,
      payload: { case: 'agentToServer', value: new Uint8Array([5]) },
    });
    await waitFor(() => next.length === 1);
    expect(next).toEqual([5]);
    await waitFor(async () => Number((await admin.xpending(StreamKeys.inbound(3), ConsumerGroups.fleet))[0]) === 0);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('does not acknowledge a batch whose handler failed, and retries it', async () => {
    const publisher = new BusPublisher(await redis('pub3'), SHARDS);
    const uid = uidOnShard(3);
    let attempts = 0;
    const processed: number[] = [];
    const consumer = new InboundConsumer(
      await redis('r-block', true),
      await redis('r'),
      'retry',
      async (_s, entries) => {
        attempts++;
        if (attempts === 1) throw new Error('postgres down');
        for (const e of entries) processed.push(Number(e.envelope!.receivedAtMs));
      },
    );
    await consumer.addShard(3);
    consumer.start();
    await publisher.publishInbound({
      instanceUid: uid,
      transport: Transport.WEBSOCKET,
      receivedAtMs: 7n,
      payload: { case: 'agentToServer', value: new Uint8Array([7]) },
    });
    await waitFor(() => processed.length === 1);
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(processed).toEqual([7]);
    await consumer.stop();
  });
  it('never overlaps two batches of one shard while a sibling shard fails', async () => {
    const publisher = new BusPublisher(await redis('pub5'), SHARDS);
    const uid = uidOnShard(0);
    let inFlight = 0;
    let overlapped = false;
    let failed = false;
    const processed: number[] = [];
    const consumer = new InboundConsumer(
      await redis('o-block', true),
      await redis('o'),
      'order',
      async (shard, entries) => {
        if (shard === 1 && !failed) {
          failed = true;
          throw new Error('shard 1 handler failed once');
        }
        if (shard !== 0) return;
        inFlight++;
        if (inFlight > 1) overlapped = true;
        // Outlasts the loop's back-off after the sibling's failure.
        await new Promise((r) => setTimeout(r, 400));
        inFlight--;
        for (const e of entries) processed.push(Number(e.envelope!.receivedAtMs));
      },
      { batch: 1 },
    );
    await consumer.addShard(0);
    await consumer.addShard(1);
    for (let i = 0; i < 3; i++) {
      await publisher.publishInbound({
        instanceUid: uid,
        transport: Transport.WEBSOCKET,
        receivedAtMs: BigInt(i),
        payload: { case: 'agentToServer', value: new Uint8Array([i]) },
      });
    }
    await publisher.publishInbound({
      instanceUid: uidOnShard(1),
      transport: Transport.WEBSOCKET,
      receivedAtMs: 0n,
      payload: { case: 'agentToServer', value: new Uint8Array([0]) },
    });
    consumer.start();
    await waitFor(() => processed.length === 3);
    expect(failed).toBe(true);
    expect(overlapped).toBe(false);
    expect(processed).toEqual([0, 1, 2]);
    await consumer.stop();
  });
});

describe('shard leases', () => {
  it('splits shards between live replicas, and the survivor takes over a crashed replica within the TTL', async () => {
    const events: string[] = [];
    const hooks = (name: string) => ({
      acquired: (s: number) => void events.push(`${name}+${s}`),
      releasing: async (s: number) => void events.push(`${name}-${s}`),
      lost: (s: number) => void events.push(`${name}!${s}`),
    });
    const a = new ShardLeaseManager(await redis('lease-a'), 'replica-a', SHARDS, hooks('a'), {
      ttlMs: 600,
      renewEveryMs: 100,
    });
    await a.start();
    expect(a.owned.size).toBe(SHARDS);

    const b = new ShardLeaseManager(await redis('lease-b'), 'replica-b', SHARDS, hooks('b'), {
      ttlMs: 600,
      renewEveryMs: 100,
    });
    await b.start();
    await waitFor(() => a.owned.size === 2 && b.owned.size === 2);
    const union = new Set([...a.owned, ...b.owned]);
    expect(union.size).toBe(SHARDS); // each shard held by exactly one replica

    // Simulate kill -9 of b: its timers stop, nothing is released.
    const bConn = opened[opened.length - 1]!;
    bConn.disconnect();
    await waitFor(() => a.owned.size === SHARDS, 5000);
    for (let s = 0; s < SHARDS; s++) expect(await admin.get(RedisKeys.shardLease(s))).toBe('replica-a');
    await a.stop();
    for (let s = 0; s < SHARDS; s++) expect(await admin.get(RedisKeys.shardLease(s))).toBeNull();
  });
});

describe('shard leases when taking a shard fails', () => {
  it('hands the lease back, so the shard is not held by a replica that never reads it', async () => {
    let failNext = true;
    const lost: number[] = [];
    const leases = new ShardLeaseManager(
      await redis('lease-f'),
      'replica-f',
      1,
      {
        acquired: () => {
          if (failNext) {
            failNext = false;
            throw new Error('XGROUP CREATE failed');
          }
        },
        releasing: async () => undefined,
        lost: (s) => void lost.push(s),
      },
      { ttlMs: 600, renewEveryMs: 100 },
    );
    await leases.tick();
    expect(leases.owned.size).toBe(0);
    expect(lost).toEqual([0]);
    expect(await admin.get(RedisKeys.shardLease(0))).toBeNull();
    await leases.tick();
    expect([...leases.owned]).toEqual([0]);
    await leases.stop();
  });
});

describe('outbound stream', () => {
  it('a gateway reads only what is appended after it started', async () => {
    const gatewayId = `bus-test-${randomBytes(3).toString('hex')}`;
    const publisher = new BusPublisher(await redis('pub4'), SHARDS);
    await publisher.publishOutbound(gatewayId, { connectionId: 'stale' });
    const got: OutboundEnvelope[] = [];
    const reader = new OutboundReader(await redis('reader', true), gatewayId, (e) => got.push(e));
    reader.start();
    await new Promise((r) => setTimeout(r, 200));
    await publisher.publishOutbound(gatewayId, {
      connectionId: 'c1',
      requestId: 'r1',
      serverToAgent: new Uint8Array([1, 2]),
    });
    await publisher.publishOutbound(gatewayId, { connectionId: 'c2', close: { code: 1008, reason: 'dup' } });
    await waitFor(() => got.length === 2);
    expect(got.map((e) => e.connectionId)).toEqual(['c1', 'c2']);
    expect(got[1]!.close?.code).toBe(1008);
    await reader.stop();
  });
});
