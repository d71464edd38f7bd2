// WriteBatch.forget: what a `forget` control envelope does to the batch it lands in.
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisKeys, shardOf, uidHex } from '@opamp/bus';
import { emptyAgentState, event, uidString, type StateWrite } from '@opamp/domain';
import { WriteBatch } from './write-batch.js';

type Call = [string, ...unknown[]];

/** Records the commands of a MULTI and answers exec with success. */
function recorder(): { redis: Redis; calls: Call[] } {
  const calls: Call[] = [];
  const multi = new Proxy(
    {},
    {
      get(_t, prop: string) {
        if (prop === 'exec') return async () => calls.map(() => [null, 'OK']);
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
const OTHER = Uint8Array.from(Buffer.from('0192e3a45b6c7d8e9f0123456789abce', 'hex'));
const HEX = uidHex(UID);
const SHARDS = 16;
const SHARD = shardOf(UID, SHARDS);

function write(uid: Uint8Array, patch: Partial<StateWrite> = {}): StateWrite {
  return {
    state: emptyAgentState(uid),
    events: [event(uidString(uid), 'connected', 1_000, {})],
    persist: true,
    reportChanged: true,
    desiredChanged: false,
    route: { kind: 'set', link: { $typeName: 'opampcp.fleet.v1.AgentLink', gatewayId: 'gw', connectionId: 'c1' } },
    deadlineMs: 5_000,
    ...patch,
  };
}

describe('WriteBatch.forget', () => {
  it('drops what the batch queued for the agent and deletes its keys, leaving other agents alone', async () => {
    const { redis, calls } = recorder();
    const b = new WriteBatch(SHARDS, 1_000);
    b.putState(write(UID));
    b.putState(write(OTHER));
    b.forget(SHARD, HEX, uidString(UID));
    await b.exec(redis);

    expect(calls).toContainEqual(['del', RedisKeys.agentState(HEX)]);
    expect(calls).toContainEqual(['srem', RedisKeys.dirty(SHARD), HEX]);
    expect(calls).toContainEqual(['del', RedisKeys.route(HEX)]);
    expect(calls).toContainEqual(['zrem', RedisKeys.deadlines(SHARD), HEX]);
    // Nothing written for the forgotten agent: no state, no events.
    expect(calls.filter(([name, key]) => name === 'hset' && key === RedisKeys.agentState(HEX))).toEqual([]);
    const pushed = calls.filter(([name]) => name === 'rpush').flatMap(([, , ...events]) => events as string[]);
    expect(pushed.some((e) => e.includes(uidString(UID)))).toBe(false);
    // The other agent is written as usual.
    expect(calls.some(([name, key]) => name === 'hset' && key === RedisKeys.agentState(uidHex(OTHER)))).toBe(true);
    expect(b.dirtyCounts().get(SHARD) ?? 0).toBe(SHARD === shardOf(OTHER, SHARDS) ? 1 : 0);
  });

  it('writes what comes after the forget in the same batch (the agent talked again) after the deletion', async () => {
    const { redis, calls } = recorder();
    const b = new WriteBatch(SHARDS, 1_000);
    b.putState(write(UID));
    b.forget(SHARD, HEX, uidString(UID));
    b.putState(write(UID));
    await b.exec(redis);

    const del = calls.findIndex(([name, key]) => name === 'del' && key === RedisKeys.agentState(HEX));
    const hset = calls.findIndex(([name, key]) => name === 'hset' && key === RedisKeys.agentState(HEX));
    expect(del).toBeGreaterThanOrEqual(0);
    expect(hset).toBeGreaterThan(del);
    expect(calls).toContainEqual(['sadd', RedisKeys.dirty(SHARD), HEX]);
    expect(calls.some(([name, key]) => name === 'set' && key === RedisKeys.route(HEX))).toBe(true);
    const pushed = calls.filter(([name]) => name === 'rpush').flatMap(([, , ...events]) => events as string[]);
    expect(pushed.filter((e) => e.includes(uidString(UID)))).toHaveLength(1);
  });

  it('is not an empty batch on its own', async () => {
    const { redis, calls } = recorder();
    const b = new WriteBatch(SHARDS, 1_000);
    b.forget(SHARD, HEX, uidString(UID));
    expect(b.isEmpty).toBe(false);
    await b.exec(redis);
    expect(calls[0]).toEqual(['del', RedisKeys.agentState(HEX)]);
  });
});
