// Every agent event the fleet queues for Postgres is also on the shared agent-events stream
// (field `event`: the same JSON, key included), committed in the same MULTI as the state: the
// api follows it for live updates and command outcomes. Real fleet, real Redis and Postgres.
import { create } from '@bufbuild/protobuf';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_FIELD, RedisKeys, StreamKeys, shardOf } from '@opamp/bus';
import type { AgentEvent } from '@opamp/domain';
import { ControlCommandSchema } from '@opamp/proto';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { waitFor } from '../../../../test/support/wait.js';
import { RedisService } from '../infra/redis.service.js';
import { FakeGateway, startFleet, type A2SInit, type FleetInstance } from '../testing/fleet-harness.js';

const SHARDS = 4;
const DESCRIPTION: A2SInit['agentDescription'] = {
  identifyingAttributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'fluent-bit' } } }],
};

let fleet: FleetInstance;
let gw: FakeGateway;
const uids: string[] = [];

beforeAll(async () => {
  // No timed flush during the test: the queued events stay in Redis to compare with the stream.
  fleet = await startFleet({
    OPAMP_SHARDS: String(SHARDS),
    FLEET_FLUSH_INTERVAL_MS: '600000',
    FLEET_REPLICA_ID: `events-stream-${Math.random().toString(36).slice(2, 8)}`,
  });
  gw = await new FakeGateway(`gw-events-stream-${Math.random().toString(36).slice(2, 8)}`, SHARDS).start();
  await waitFor(() => fleet.ownership.owned.length === SHARDS, {
    timeoutMs: 10_000,
    description: 'fleet owns every shard',
  });
});

afterAll(async () => {
  await gw?.stop();
  await fleet?.close();
  if (uids.length > 0) {
    const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    await db.query('DELETE FROM agents WHERE uid = ANY($1::uuid[])', [uids]);
    await db.end();
  }
});

describe('agent events on the agent-events stream', () => {
  it('carries each queued event once, with the same key, in order; a command_sent keeps its commandId', async () => {
    const client = fleet.app.get(RedisService).client;
    const uidBytes = uuidv7();
    const uid = uidToString(uidBytes);
    uids.push(uid);
    const shard = shardOf(uidBytes, SHARDS);
    const since = (await client.xadd(StreamKeys.agentEvents, '*', 'marker', uid))!;

    const caps = 0x1n | 0x400n | 0x800n; // ReportsStatus, AcceptsRestartCommand, ReportsHealth
    for (const [seq, healthy] of [
      [0n, true],
      [1n, false],
    ] as const) {
      const requestId = await gw.send({
        instanceUid: uidBytes,
        sequenceNum: seq,
        capabilities: caps,
        ...(seq === 0n ? { agentDescription: DESCRIPTION } : {}),
        health: { healthy },
      });
      await waitFor(() => gw.replyTo(requestId), { timeoutMs: 10_000, description: `reply to seq ${seq}` });
    }
    const commandId = uidToString(uuidv7());
    await gw.control(uidBytes, create(ControlCommandSchema, { commandId, command: { case: 'restart', value: {} } }));

    const streamed = async (): Promise<AgentEvent[]> =>
      (await client.xrange(StreamKeys.agentEvents, `(${since}`, '+'))
        .map(([, fields]) => fields[fields.indexOf(EVENT_FIELD) + 1])
        .filter((text): text is string => text !== undefined)
        .map((text) => JSON.parse(text) as AgentEvent)
        .filter((e) => e.agentUid === uid);
    const events = await waitFor(
      async () => {
        const list = await streamed();
        return list.length >= 4 ? list : undefined;
      },
      { timeoutMs: 10_000, description: 'four events on the stream' },
    );
    expect(events.map((e) => e.type)).toEqual(['first_seen', 'connected', 'health_changed', 'command_sent']);
    expect(events[3]!.data).toMatchObject({ command: 'restart', commandId, delivery: 'push' });

    // Exactly what was queued for Postgres (same JSON, same keys).
    const queued = (await client.lrange(RedisKeys.pendingEvents(shard), 0, -1))
      .map((raw) => JSON.parse(raw) as AgentEvent)
      .filter((e) => e.agentUid === uid);
    expect(events).toEqual(queued);
    for (const e of events) expect(e.key).toMatch(/^[0-9a-f-]{36}$/);
  });
});
