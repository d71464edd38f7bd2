// The write-behind of agent events is idempotent: a flush whose Postgres commit succeeded but whose
// clean-up in Redis did not happen (Redis error after the commit, or a crash in between) leaves the
// events queued, and the next flush (this replica or the shard's next owner) writes them again.
// Each queued event carries the key it got when it was queued, so the second write adds no row.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys, shardOf } from '@opamp/bus';
import type { AgentEvent, AgentRow } from '@opamp/domain';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { waitFor } from '../../../../test/support/wait.js';
import { RedisService } from '../infra/redis.service.js';
import { FakeGateway, startFleet, type A2SInit, type FleetInstance } from '../testing/fleet-harness.js';
import { AgentRepository } from './agent.repository.js';
import { WriteBehindService } from './write-behind.service.js';

const SHARDS = 4;
const DESCRIPTION: A2SInit['agentDescription'] = {
  identifyingAttributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'fluent-bit' } } }],
};
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let fleet: FleetInstance;
let gw: FakeGateway;
let db: pg.Client;
const uids: string[] = [];

async function storedEvents(uid: string): Promise<{ type: string; key: string | null }[]> {
  const r = await db.query('SELECT type, key::text AS key FROM agent_events WHERE agent_uid = $1 ORDER BY id', [uid]);
  return r.rows;
}

beforeAll(async () => {
  db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  // The timer never fires during the test: every flush below is an explicit one.
  fleet = await startFleet({
    OPAMP_SHARDS: String(SHARDS),
    FLEET_FLUSH_INTERVAL_MS: '600000',
    FLEET_REPLICA_ID: `write-behind-${Math.random().toString(36).slice(2, 8)}`,
  });
  gw = await new FakeGateway(`gw-write-behind-${Math.random().toString(36).slice(2, 8)}`, SHARDS).start();
  await waitFor(() => fleet.ownership.owned.length === SHARDS, {
    timeoutMs: 10_000,
    description: 'fleet owns every shard',
  });
});

afterAll(async () => {
  await gw?.stop();
  await fleet?.close();
  if (db) {
    if (uids.length > 0) await db.query('DELETE FROM agents WHERE uid = ANY($1::uuid[])', [uids]);
    await db.end();
  }
});

describe('write-behind of agent events', () => {
  it('writes each queued event once when a flush is repeated after its Redis clean-up failed', async () => {
    const uidBytes = uuidv7();
    const uid = uidToString(uidBytes);
    uids.push(uid);
    const shard = shardOf(uidBytes, SHARDS);
    const eventsKey = RedisKeys.pendingEvents(shard);
    const client = fleet.app.get(RedisService).client;
    await client.del(eventsKey);

    // first_seen + connected, then health_changed: three events queued in Redis, nothing flushed yet.
    for (const [seq, healthy] of [
      [0n, true],
      [1n, false],
    ] as const) {
      const requestId = await gw.send({
        instanceUid: uidBytes,
        sequenceNum: seq,
        capabilities: 0x1n | 0x800n,
        ...(seq === 0n ? { agentDescription: DESCRIPTION } : {}),
        health: { healthy },
      });
      await waitFor(() => gw.replyTo(requestId), { timeoutMs: 10_000, description: `reply to seq ${seq}` });
    }
    const queued = (await client.lrange(eventsKey, 0, -1)).map((raw) => JSON.parse(raw) as AgentEvent);
    expect(queued.map((e) => e.type)).toEqual(['first_seen', 'connected', 'health_changed']);
    for (const e of queued) expect(e.key).toMatch(UUID_RE);
    expect(new Set(queued.map((e) => e.key)).size).toBe(queued.length);

    // The Postgres transaction commits, then Redis fails before the events are trimmed.
    const writeBehind = fleet.app.get(WriteBehindService);
    const multi = client.multi.bind(client);
    client.multi = ((...args: Parameters<typeof multi>) => {
      const m = multi(...args);
      m.exec = () => Promise.reject(new Error('injected: Redis lost after the Postgres commit'));
      return m;
    }) as typeof client.multi;
    try {
      await expect(writeBehind.flushShardOnce(shard)).rejects.toThrow('injected');
    } finally {
      client.multi = multi as typeof client.multi;
    }
    expect(await storedEvents(uid)).toHaveLength(3);
    expect(await client.llen(eventsKey), 'the events are still queued').toBe(3);

    // The next flush writes the same batch again: no second row, and the queue is cleared.
    await writeBehind.flushShardOnce(shard);
    const stored = await storedEvents(uid);
    expect(stored).toEqual(queued.map((e) => ({ type: e.type, key: e.key })));
    expect(await client.llen(eventsKey)).toBe(0);
  });
});

describe('AgentRepository.flush of events', () => {
  function row(uid: string): AgentRow {
    const now = new Date().toISOString();
    return {
      uid,
      agent_type: 'fluentbit',
      service_name: 'fluent-bit',
      service_version: null,
      host_name: null,
      os_type: null,
      description: null,
      capabilities: '1',
      health: null,
      healthy: null,
      effective_config: null,
      remote_config_status: null,
      custom_capabilities: [],
      connection_state: 'connected',
      transport: 'ws',
      sequence_num: '0',
      first_seen_at: now,
      last_seen_at: now,
      disconnected_at: null,
      replaced_by_uid: null,
      replaces_uid: null,
      enrollment_token_id: null,
    };
  }

  it('inserts a keyed event once however often it is flushed; keyless events (older queue) every time', async () => {
    const repo = fleet.app.get(AgentRepository);
    const uid = uidToString(uuidv7());
    uids.push(uid);
    const keyed: AgentEvent[] = ['first_seen', 'connected', 'disconnected'].map((type, i) => ({
      agentUid: uid,
      type: type as AgentEvent['type'],
      atMs: 1_700_000_000_000 + i,
      data: { i },
      key: uidToString(uuidv7()),
    }));
    const legacy: AgentEvent = { agentUid: uid, type: 'offline', atMs: 1_700_000_000_010, data: {} };

    expect(await repo.flush([row(uid)], [...keyed, legacy])).toEqual({ agents: 1, events: 4 });
    // Flushed again, and once more with a key repeated inside the batch and one invalid key.
    expect(await repo.flush([row(uid)], [...keyed, legacy])).toEqual({ agents: 1, events: 1 });
    const fresh = { ...keyed[0]!, type: 'health_changed' as const, key: uidToString(uuidv7()) };
    const broken = { ...keyed[0]!, type: 'health_changed' as const, key: 'not-a-uuid' };
    expect(await repo.flush([], [fresh, fresh, keyed[1]!, broken])).toEqual({ agents: 0, events: 2 });

    const stored = await storedEvents(uid);
    expect(stored.map((e) => e.type)).toEqual([
      'first_seen',
      'connected',
      'disconnected',
      'offline',
      'offline',
      'health_changed',
      'health_changed',
    ]);
    expect(stored.filter((e) => e.key !== null).map((e) => e.key)).toEqual([...keyed.map((e) => e.key), fresh.key]);
  });
});
