// Entries whose effects were committed but whose acknowledgement was lost (Redis hiccup at XACK
// time, or a replica killed between its MULTI/EXEC and its XACK) are delivered again. Their
// effects, the reply included, are already durable: the agent must not get a second reply.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsumerGroups, StreamKeys, shardOf } from '@opamp/bus';
import { uuidv7 } from '@opamp/protocol';
import { eventually, sleep, waitFor } from '../../../test/support/wait.js';
import { RedisService } from './infra/redis.service.js';
import { FakeGateway, startFleet, type A2SInit, type FleetInstance } from './testing/fleet-harness.js';

const DESCRIPTION: A2SInit['agentDescription'] = {
  identifyingAttributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'fluent-bit' } } }],
};

let fleet: FleetInstance;
let gw: FakeGateway;

beforeAll(async () => {
  fleet = await startFleet({ FLEET_REPLICA_ID: `redelivery-${Math.random().toString(36).slice(2, 8)}` });
  gw = await new FakeGateway(`gw-redelivery-${Math.random().toString(36).slice(2, 8)}`).start();
  await waitFor(() => fleet.ownership.owned.length === 4, { timeoutMs: 10_000, description: 'fleet owns every shard' });
});

afterAll(async () => {
  await gw?.stop();
  await fleet?.close();
});

describe('redelivered entries', () => {
  it('an entry processed but not acknowledged is processed again without a second reply', async () => {
    const streams = fleet.app.get(RedisService).streams;
    const xack = streams.xack.bind(streams);
    let failAcks = 1;
    // The first acknowledgement is lost: the consumer re-reads the entries from its pending list.
    streams.xack = ((...args: Parameters<typeof xack>) =>
      failAcks-- > 0 ? Promise.reject(new Error('injected: XACK lost')) : xack(...args)) as typeof streams.xack;
    try {
      const uid = uuidv7();
      const first = await gw.send({
        instanceUid: uid,
        sequenceNum: 0n,
        capabilities: 1n,
        agentDescription: DESCRIPTION,
      });
      await waitFor(() => gw.replyTo(first), { timeoutMs: 10_000, description: 'reply to the first message' });
      await waitFor(() => failAcks < 0, { timeoutMs: 10_000, description: 'the entry acknowledged on a retry' });
      const next = await gw.send({ instanceUid: uid, sequenceNum: 1n, capabilities: 1n });
      const reply = await waitFor(() => gw.replyTo(next), { timeoutMs: 10_000, description: 'reply to the next one' });
      expect(reply.flags, 'contiguous seq after the redelivery: no ReportFullState').toBe(0n);
      await sleep(300);
      expect(gw.received.filter((e) => e.requestId === first)).toHaveLength(1);
      expect(gw.received.filter((e) => e.requestId === next)).toHaveLength(1);
      // Nothing stays pending (a pending entry would also stop the stream from being trimmed).
      const shard = shardOf(uid, 4);
      await eventually(async () => {
        const [pending] = (await streams.xpending(StreamKeys.inbound(shard), ConsumerGroups.fleet)) as [number];
        expect(pending).toBe(0);
      });
    } finally {
      streams.xack = xack as typeof streams.xack;
    }
  });
});
