// GET /api/v1/events (SSE) over HTTP against real Redis and Postgres: events are appended to the
// streams the way the fleet, the rollout worker and the command tracker append them, and read back
// through the api's live hub.
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_FIELD, StreamKeys } from '@opamp/bus';
import { PrismaService } from '@opamp/database';
import { publishRolloutEvent, type RolloutEvent } from '@opamp/rollouts';
import type { Redis } from 'ioredis';
import { cleanupRun, seedAgents } from '../../../../test/support/rollout-store-fixtures.js';
import { TEST_ADMIN_API_KEY } from '../../../../test/support/env.js';
import { waitFor } from '../../../../test/support/wait.js';
import { loadApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { BusService } from '../redis/bus.service.js';
import { connectSse, type SseEvent, type SseStream } from '../testing/sse.js';
import { LiveHub } from './live-hub.service.js';

const RUN = `lv${randomBytes(4).toString('hex')}`;
const auth = { authorization: `Bearer ${TEST_ADMIN_API_KEY}` };

let app: INestApplication;
let base: string;
let redis: Redis;
let prisma: PrismaService;
const open: SseStream[] = [];

beforeAll(async () => {
  const cfg = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(cfg, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  redis = app.get(BusService).redis;
  prisma = app.get(PrismaService);
});

afterAll(async () => {
  for (const s of open) s.close();
  if (prisma) await cleanupRun(prisma, RUN, []);
  await app?.close();
});

async function stream(query: string, headers: Record<string, string> = {}, read = true): Promise<SseStream> {
  const r = await connectSse(`${base}/api/v1/events?${query}`, { ...auth, ...headers }, { read });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  open.push(r.stream!);
  return r.stream!;
}

function rolloutEvent(rolloutId: string, step: number, type = 'wave_started'): RolloutEvent {
  return {
    rolloutId,
    step,
    at: new Date().toISOString(),
    type,
    state: 'running',
    stage: 0,
    wave: step,
    counts: { pending: 1, applying: 0, applied: step, failed: 0, timed_out: 0, skipped: 0 },
  };
}

const agentEvent = (agentUid: string, type: string, data: Record<string, unknown> = {}): string =>
  JSON.stringify({ agentUid, type, atMs: Date.now(), data, key: randomUUID() });

const json = (e: SseEvent): Record<string, unknown> => JSON.parse(e.data) as Record<string, unknown>;

describe('GET /api/v1/events', () => {
  it('refuses a request without a key (401) and unknown parameters (400) with problem+json', async () => {
    const anon = await connectSse(`${base}/api/v1/events`);
    expect(anon.status).toBe(401);
    expect(anon.type).toMatch(/^application\/problem\+json/);
    const bad = await connectSse(`${base}/api/v1/events?types=rollouts`, auth);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ invalidParams: [{ name: 'types' }] });
    const badId = await connectSse(`${base}/api/v1/events`, { ...auth, 'last-event-id': 'yesterday' });
    expect(badId.status).toBe(400);
  });

  it('streams the events of one rollout with resumable ids; Last-Event-ID resumes exactly after the last one seen', async () => {
    const id = randomUUID();
    const other = randomUUID();
    const s = await stream(`types=rollout&rollout=${id}`);
    // Appended after the stream opened, one of another rollout in between.
    const entry1 = await publishRolloutEvent(redis, rolloutEvent(id, 1));
    await publishRolloutEvent(redis, rolloutEvent(other, 1));
    const entry2 = await publishRolloutEvent(redis, rolloutEvent(id, 2));
    const first = await s.next();
    expect(first).toMatchObject({ id: `rollout:${entry1}`, event: 'rollout' });
    expect(json(first)).toMatchObject({ rolloutId: id, step: 1, type: 'wave_started', state: 'running', wave: 1 });
    const second = await s.next();
    expect(second.id).toBe(`rollout:${entry2}`);
    s.close();

    // Missed while disconnected: steps 3 and 4. Reconnecting with the last id seen sends just those.
    const entry3 = await publishRolloutEvent(redis, rolloutEvent(id, 3));
    await publishRolloutEvent(redis, rolloutEvent(other, 2));
    const entry4 = await publishRolloutEvent(redis, rolloutEvent(id, 4, 'completed'));
    const resumed = await stream(`types=rollout&rollout=${id}`, { 'last-event-id': second.id! });
    expect((await resumed.next()).id).toBe(`rollout:${entry3}`);
    expect((await resumed.next()).id).toBe(`rollout:${entry4}`);
    // ... then continues live, without repeating anything.
    const entry5 = await publishRolloutEvent(redis, rolloutEvent(id, 5));
    expect((await resumed.next()).id).toBe(`rollout:${entry5}`);
  });

  it('filters agent and command events by agent and by label selector (labels read from Postgres)', async () => {
    const [tagged, untagged] = await seedAgents(prisma, RUN, [
      { labels: { tier: 'edge' } },
      { labels: { tier: 'core' } },
    ]);
    const s = await stream(`types=agent,command&selector=${encodeURIComponent(`testrun=${RUN},tier=edge`)}`);
    const one = await stream(`types=command&agent=${untagged!.toUpperCase()}`);
    await redis.xadd(StreamKeys.agentEvents, '*', EVENT_FIELD, agentEvent(untagged!, 'connected'));
    await redis.xadd(StreamKeys.agentEvents, '*', EVENT_FIELD, agentEvent(randomUUID(), 'first_seen'));
    await redis.xadd(
      StreamKeys.agentEvents,
      '*',
      EVENT_FIELD,
      agentEvent(tagged!, 'health_changed', { healthy: false }),
    );
    const command = (agentUid: string) =>
      JSON.stringify({
        commandId: randomUUID(),
        agentUid,
        kind: 'restart',
        state: 'sent',
        at: new Date().toISOString(),
      });
    await redis.xadd(StreamKeys.commandEvents, '*', EVENT_FIELD, command(untagged!));
    await redis.xadd(StreamKeys.commandEvents, '*', EVENT_FIELD, command(tagged!));

    const agent = await s.next();
    expect(agent.event).toBe('agent');
    expect(json(agent)).toMatchObject({ agentUid: tagged, type: 'health_changed', data: { healthy: false } });
    const cmd = await s.next();
    expect(cmd.event).toBe('command');
    expect(json(cmd)).toMatchObject({ agentUid: tagged, kind: 'restart', state: 'sent' });
    const onlyUntagged = await one.next();
    expect(json(onlyUntagged)).toMatchObject({ agentUid: untagged, state: 'sent' });
  });

  it('drops a client that stops reading with an error event instead of buffering without bound', async () => {
    const hub = app.get(LiveHub);
    const uid = randomUUID();
    // A raw socket that reads nothing: the server's writes back up once the socket buffers are full.
    const socket = net.connect((app.getHttpServer().address() as net.AddressInfo).port, '127.0.0.1');
    socket.pause();
    const before = hub.subscriberCount;
    socket.write(
      `GET /api/v1/events?types=agent&agent=${uid} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n` +
        `Authorization: Bearer ${TEST_ADMIN_API_KEY}\r\n\r\n`,
    );
    await waitFor(() => hub.subscriberCount > before, { description: 'the stream to subscribe' });
    // ~24 MB of events: far more than the socket buffers hold, so the subscriber's queue fills.
    const pad = 'x'.repeat(8 * 1024);
    const pipeline = redis.pipeline();
    for (let i = 0; i < 3000; i++) {
      pipeline.xadd(StreamKeys.agentEvents, '*', EVENT_FIELD, agentEvent(uid, 'health_changed', { i, pad }));
    }
    await pipeline.exec();
    await waitFor(() => hub.subscriberCount === before, {
      timeoutMs: 20_000,
      description: 'the hub to drop the subscriber',
    });

    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.resume();
    await new Promise((resolve) => socket.once('end', resolve));
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text).toMatch(/event: error\ndata: \{"code":"SLOW_CONSUMER"/);
    const delivered = text.match(/^event: agent$/gm)?.length ?? 0;
    expect(delivered).toBeLessThan(3000);
    socket.destroy();
    await redis.xtrim(StreamKeys.agentEvents, 'MAXLEN', 1000);
  });
});
