import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import {
  DEFAULT_BUS_LIMITS,
  EVENT_FIELD,
  RedisKeys,
  StreamKeys,
  StreamMaxLen,
  decodeOutbound,
  shardOf,
  uidHex,
} from '@opamp/bus';
import { emptyAgentState, event, uidString, type StateWrite } from '@opamp/domain';
import { WriteBatch } from './write-batch.js';

type Call = [string, ...unknown[]];

/** Records the commands of a MULTI and answers exec with success. */
function recorder(failOn?: string): { redis: Redis; calls: Call[] } {
  const calls: Call[] = [];
  const multi = new Proxy(
    {},
    {
      get(_t, prop: string) {
        if (prop === 'exec')
          return async () => calls.map(([name]) => [name === failOn ? new Error(`${name} failed`) : null, 'OK']);
        return (...args: unknown[]) => {
          calls.push([prop, ...args]);
          return multi;
        };
      },
    },
  );
  return { redis: { multi: () => multi } as unknown as Redis, calls };
}

const UID = Uint8Array.from(Buffer.from('0192e3a45b6c7d8e9f0123456789abcd', 'hex'));
const HEX = uidHex(UID);
const SHARDS = 16;
const SHARD = shardOf(UID, SHARDS);

function write(patch: Partial<StateWrite> = {}): StateWrite {
  return {
    state: emptyAgentState(UID),
    events: [],
    persist: false,
    reportChanged: false,
    desiredChanged: false,
    route: { kind: 'keep' },
    deadlineMs: 0,
    ...patch,
  };
}

describe('WriteBatch', () => {
  it('commits state, dirty marker, events, route, deadline and outbound in one MULTI', async () => {
    const { redis, calls } = recorder();
    const b = new WriteBatch(SHARDS, 1_000);
    b.putState(
      write({
        persist: true,
        reportChanged: true,
        events: [event(uidString(UID), 'first_seen', 1_000)],
        route: { kind: 'set', link: { $typeName: 'opampcp.fleet.v1.AgentLink', gatewayId: 'gw', connectionId: 'c1' } },
        deadlineMs: 91_000,
      }),
    );
    b.send('gw', { connectionId: 'c1', requestId: 'r1', instanceUid: UID, serverToAgent: new Uint8Array([1]) }, 900);
    await b.exec(redis);
    const names = calls.map((c) => c[0]);
    expect(names).toEqual(['hset', 'hincrby', 'sadd', 'set', 'zadd', 'rpush', 'xadd', 'xadd', 'pexpire']);
    const hset = calls[0]!;
    expect(hset[1]).toBe(RedisKeys.agentState(HEX));
    expect(hset.slice(1).filter((x) => typeof x === 'string')).toEqual([RedisKeys.agentState(HEX), 'core', 'report']);
    expect(calls[2]).toEqual(['sadd', RedisKeys.dirty(SHARD), HEX]);
    expect(calls[3]).toEqual(['set', RedisKeys.route(HEX), 'gw c1', 'PX', 90_000 + 60_000]);
    expect(calls[4]).toEqual(['zadd', RedisKeys.deadlines(SHARD), 91_000, HEX]);
    expect(calls[5]![1]).toBe(RedisKeys.pendingEvents(SHARD));
    // Queued with its identity (a UUIDv7), so a repeated flush cannot store it twice.
    expect(JSON.parse(calls[5]![2] as string)).toMatchObject({
      type: 'first_seen',
      key: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
    });
    // The same JSON, key included, on the agent-events stream (api live updates, command tracker).
    expect(calls[6]).toEqual([
      'xadd',
      StreamKeys.agentEvents,
      'MAXLEN',
      '~',
      StreamMaxLen.agentEvents,
      '*',
      EVENT_FIELD,
      calls[5]![2],
    ]);
    const xadd = calls[7]!;
    expect(xadd[1]).toBe(StreamKeys.outbound('gw'));
    const env = decodeOutbound(xadd[xadd.length - 1] as Buffer);
    expect(env.requestId).toBe('r1');
    expect(env.sentAtMs).toBe(1_000n);
    // The stream of a gateway that is gone expires instead of staying in Redis forever.
    expect(calls[8]).toEqual(['pexpire', StreamKeys.outbound('gw'), DEFAULT_BUS_LIMITS.outboundTtlMs]);
    expect(b.replyReceivedTimes()).toEqual([900]);
  });

  it('coalesces several writes of one agent: last state, OR-ed flags, last route/deadline', async () => {
    const { redis, calls } = recorder();
    const b = new WriteBatch(SHARDS, 0);
    b.putState(
      write({
        persist: true,
        reportChanged: true,
        route: { kind: 'set', link: { $typeName: 'opampcp.fleet.v1.AgentLink', gatewayId: 'g', connectionId: 'c' } },
        deadlineMs: 5,
      }),
    );
    b.putState(write({ route: { kind: 'delete' }, deadlineMs: 0 }));
    expect(b.dirtyCounts().get(SHARD)).toBe(1);
    await b.exec(redis);
    expect(calls.map((c) => c[0])).toEqual(['hset', 'hincrby', 'sadd', 'del', 'zrem']);
    expect(calls[0]!.slice(1).filter((x) => typeof x === 'string')).toEqual([
      RedisKeys.agentState(HEX),
      'core',
      'report',
    ]);
  });

  it('gives every queued event a key of its own and keeps a key an event already has', async () => {
    const { redis, calls } = recorder();
    const b = new WriteBatch(SHARDS, 0);
    const keyed = { ...event(uidString(UID), 'offline', 0), key: '0192e3a4-5b6c-7d8e-9f01-23456789abcd' };
    b.appendEvents(SHARD, [event(uidString(UID), 'connected', 0), event(uidString(UID), 'connected', 0), keyed]);
    await b.exec(redis);
    const keys = calls[0]!.slice(2).map((raw) => (JSON.parse(raw as string) as { key: string }).key);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(3);
    expect(keys[2]).toBe(keyed.key);
    // One stream entry per event, in order, carrying exactly the queued JSON.
    const streamed = calls.filter((c) => c[0] === 'xadd').map((c) => c[c.length - 1]);
    expect(streamed).toEqual(calls[0]!.slice(2));
  });

  it('ephemeral states get a TTL; nothing is dirty when nothing persists', async () => {
    const { redis, calls } = recorder();
    const b = new WriteBatch(SHARDS, 0);
    b.putState(write({ ephemeral: true }));
    await b.exec(redis);
    expect(calls.map((c) => c[0])).toEqual(['hset', 'pexpire', 'zrem']);
  });

  it('throws when a command of the MULTI failed (the batch is then retried)', async () => {
    const { redis } = recorder('xadd');
    const b = new WriteBatch(SHARDS, 0);
    b.send('gw', { connectionId: 'c' });
    await expect(b.exec(redis)).rejects.toThrow('xadd failed');
  });

  it('runs after-commit hooks once', () => {
    const b = new WriteBatch(SHARDS, 0);
    let n = 0;
    b.afterCommit(() => n++);
    b.runAfterCommit();
    b.runAfterCommit();
    expect(n).toBe(1);
  });
});
