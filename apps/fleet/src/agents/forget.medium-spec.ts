// What the fleet does when the api forgets an agent (DELETE /api/v1/agents/{uid}): the `forget`
// control envelope makes the shard owner drop the agent from memory and delete its hot state,
// route, deadline and dirty mark; when the agent talks again it is an agent never seen before and
// enrols afresh. Real Redis and Postgres, an in-process fleet and a fake gateway.
import { create } from '@bufbuild/protobuf';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys, connectRedis, createRedis, shardOf, uidHex } from '@opamp/bus';
import { ControlCommandSchema } from '@opamp/proto';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { eventually, waitFor } from '../../../../test/support/wait.js';
import { FakeGateway, startFleet, type A2SInit, type FleetInstance } from '../testing/fleet-harness.js';

const SHARDS = 4;
const DESCRIPTION: A2SInit['agentDescription'] = {
  identifyingAttributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'fluent-bit' } } }],
  nonIdentifyingAttributes: [{ key: 'host.name', value: { value: { case: 'stringValue', value: 'forget-me' } } }],
};
const CAPS = 0x1n | 0x2000n; // ReportsStatus | ReportsHeartbeat

let redis: Redis;
let db: pg.Client;
let fleet: FleetInstance | undefined;
let gw: FakeGateway | undefined;

async function row(uid: string): Promise<Record<string, unknown> | undefined> {
  return (await db.query('SELECT * FROM agents WHERE uid = $1', [uid])).rows[0];
}

beforeAll(async () => {
  redis = createRedis(process.env.REDIS_URL!, { name: 'fleet-forget-medium-spec' });
  await connectRedis(redis, process.env.REDIS_URL!);
  db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
});

afterEach(async () => {
  await fleet?.close();
  await gw?.stop();
});

afterAll(async () => {
  await redis.quit();
  await db.end();
});

describe('fleet: forgetting an agent', () => {
  it('drops memory and hot state; the agent then re-enrols as a new agent', async () => {
    fleet = await startFleet({ OPAMP_SHARDS: String(SHARDS) });
    gw = await new FakeGateway(`gw-forget-${Date.now()}`, SHARDS).start();
    await waitFor(() => fleet!.ownership.owned.length === SHARDS, {
      timeoutMs: 10_000,
      description: 'all shards owned',
    });
    const bytes = uuidv7();
    const uid = uidToString(bytes);
    const hex = uidHex(bytes);
    const shard = shardOf(bytes, SHARDS);
    const reply = (requestId: string) => waitFor(() => gw!.replyTo(requestId), { timeoutMs: 10_000 });

    // Enrolled, connected, in the fleet's memory, stored; then given a label through the API.
    await reply(
      await gw.send({ instanceUid: bytes, sequenceNum: 0n, capabilities: CAPS, agentDescription: DESCRIPTION }),
    );
    const before = await waitFor(() => row(uid));
    await db.query(`UPDATE agents SET labels = '{"team":"a"}' WHERE uid = $1`, [uid]);
    expect(await redis.exists(RedisKeys.agentState(hex))).toBe(1);
    expect(await redis.exists(RedisKeys.route(hex))).toBe(1);

    // What the api does (apps/api agent-forget.service.ts), minus the Redis deletes it also makes:
    // here the fleet alone must remove the hot state.
    await db.query('DELETE FROM agents WHERE uid = $1', [uid]);
    await gw.control(
      bytes,
      create(ControlCommandSchema, { commandId: 'forget-1', command: { case: 'forget', value: {} } }),
    );
    await eventually(async () => {
      expect(await redis.exists(RedisKeys.agentState(hex))).toBe(0);
      expect(await redis.exists(RedisKeys.route(hex))).toBe(0);
    });
    expect(await redis.zscore(RedisKeys.deadlines(shard), hex)).toBeNull();
    expect(await redis.sismember(RedisKeys.dirty(shard), hex)).toBe(0);

    // It talks again on its connection, continuing its sequence: unknown now, so asked for its full state…
    const heartbeat = await reply(await gw.send({ instanceUid: bytes, sequenceNum: 1n, capabilities: CAPS }));
    expect(heartbeat.errorResponse).toBeUndefined();
    expect(heartbeat.flags & 1n).toBe(1n); // ReportFullState
    // …which it sends, and it is stored as a new agent: new first-seen time, no API labels, fresh history.
    await reply(
      await gw.send({ instanceUid: bytes, sequenceNum: 2n, capabilities: CAPS, agentDescription: DESCRIPTION }),
    );
    const after = await waitFor(() => row(uid), { timeoutMs: 10_000, description: 'the row written again' });
    expect(after).toMatchObject({ host_name: 'forget-me', connection_state: 'connected', labels: {} });
    expect((after.first_seen_at as Date).getTime()).toBeGreaterThan((before.first_seen_at as Date).getTime());
    await eventually(async () => {
      const events = (await db.query('SELECT type FROM agent_events WHERE agent_uid = $1', [uid])).rows.map(
        (r) => r.type,
      );
      expect(events).toContain('first_seen');
    });
    await db.query('DELETE FROM agents WHERE uid = $1', [uid]);
  });
});
