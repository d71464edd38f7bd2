import { describe, expect, it } from 'vitest';
import { uidHex } from '@opamp/bus';
import { emptyAgentState, type StoredAgentRow } from '@opamp/domain';
import { fleetMetrics } from '../fleet.metrics.js';
import type { RedisService } from '../infra/redis.service.js';
import type { AgentRepository } from './agent.repository.js';
import { AgentStateStore } from './agent-state.store.js';

const uid = (n: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? n : 0x10 + i));

function row(u: Uint8Array, patch: Partial<StoredAgentRow> = {}): StoredAgentRow {
  return {
    uid: Buffer.from(u).toString('hex'),
    description: null,
    capabilities: '1',
    health: null,
    effective_config: null,
    remote_config_status: null,
    custom_capabilities: null,
    connection_state: 'connected',
    transport: 'ws',
    sequence_num: '7',
    first_seen_at: new Date(1_000),
    last_seen_at: new Date(2_000),
    disconnected_at: null,
    replaced_by_uid: null,
    ...patch,
  };
}

/** Redis that holds no hot state at all (every agent falls through to Postgres). */
function emptyRedis(): RedisService {
  return { client: { hmgetBuffer: async () => [null, null, null, null] } } as unknown as RedisService;
}

async function inMemory(): Promise<number> {
  return (await fleetMetrics.agentsInMemory.get()).values[0]?.value ?? 0;
}

describe('AgentStateStore', () => {
  it('keeps the agents_in_memory gauge in step with set, evict, forget and dropShard', async () => {
    const store = new AgentStateStore(emptyRedis(), {} as AgentRepository);
    const base = await inMemory();
    store.set(1, emptyAgentState(uid(1)));
    store.set(1, emptyAgentState(uid(1))); // replacing is not growing
    store.set(1, emptyAgentState(uid(2)));
    store.set(2, emptyAgentState(uid(3)));
    expect(await inMemory()).toBe(base + 3);
    store.evict(1, uidHex(uid(1)));
    store.evict(1, uidHex(uid(1))); // already gone
    expect(await inMemory()).toBe(base + 2);
    store.forget(uidHex(uid(3)));
    expect(await inMemory()).toBe(base + 1);
    store.dropShard(1);
    store.dropShard(1);
    expect(await inMemory()).toBe(base);
  });

  it('loads the readable Postgres rows when another row of the same query is unreadable', async () => {
    const good = uid(1);
    const bad = uid(2);
    const repo = {
      findMany: async () => [row(bad, { effective_config: { configMap: { 'a.conf': null } } }), row(good)],
    } as unknown as AgentRepository;
    const store = new AgentStateStore(emptyRedis(), repo);
    await store.preload(0, [bad, good]);
    expect(store.get(0, uidHex(bad))).toBeUndefined();
    expect(store.get(0, uidHex(good))?.core.lastSeq).toBe(7n);
    store.dropShard(0);
  });
});
