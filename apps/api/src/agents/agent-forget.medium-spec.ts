// PATCH /api/v1/agents/{uid}/labels and DELETE /api/v1/agents/{uid} (forget) over HTTP against
// real Postgres and Redis. What the fleet does with the forget envelope is tested in
// apps/fleet/src/agents/forget.medium-spec.ts.
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVELOPE_FIELD, RedisKeys, StreamKeys, createRedis, decodeInbound, shardOf, uidHex } from '@opamp/bus';
import { PrismaService, type Prisma } from '@opamp/database';
import type { InboundEnvelope } from '@opamp/proto';
import { uidFromString, uidToString, uuidv7 } from '@opamp/protocol';
import { loadApiConfig, type ApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { expectProblem, httpClient } from '../testing/http.js';

const RUN = randomBytes(4).toString('hex');
const CONFIG = `forget-${RUN}`;
const STARTED_MS = Date.now();

let app: INestApplication;
let base: string;
let prisma: PrismaService;
let redis: Redis;
let config: ApiConfig;
let versionId: bigint;
const uids: string[] = [];
const { call } = httpClient(() => base);

async function seedAgent(
  opts: {
    state?: 'connected' | 'disconnected' | 'offline';
    labels?: Record<string, string>;
    description?: Prisma.InputJsonObject;
  } = {},
): Promise<string> {
  const uid = uidToString(uuidv7());
  uids.push(uid);
  const now = new Date();
  await prisma.agent.create({
    data: {
      uid,
      agentType: 'fluentbit',
      description: opts.description ?? {
        identifying: { 'service.name': 'fluent-bit' },
        nonIdentifying: { 'host.name': 'h1' },
      },
      labels: { testrun: RUN, ...opts.labels },
      connectionState: opts.state ?? 'disconnected',
      firstSeenAt: now,
      lastSeenAt: now,
    },
  });
  return uid;
}

/** Control envelopes of this file for `uid` on its inbound shard, oldest first. */
async function controlsFor(uid: string): Promise<InboundEnvelope[]> {
  const key = StreamKeys.inbound(shardOf(uidFromString(uid)!, config.OPAMP_SHARDS));
  const entries = (await redis.xrangeBuffer(key, `${STARTED_MS}-0`, '+')) as Array<[Buffer, Buffer[]]>;
  const out: InboundEnvelope[] = [];
  for (const [, fields] of entries) {
    const i = fields.findIndex((f, j) => j % 2 === 0 && f.toString() === ENVELOPE_FIELD);
    const env = decodeInbound(fields[i + 1]!);
    if (env.payload.case === 'control' && uidToString(env.instanceUid) === uid) out.push(env);
  }
  return out;
}

beforeAll(async () => {
  config = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  redis = createRedis(config.REDIS_URL, { name: 'agent-forget-medium-spec' });
  await redis.connect();
  const cfg = await prisma.config.create({ data: { name: CONFIG, agentType: 'generic' } });
  versionId = (
    await prisma.configVersion.create({
      data: {
        configId: cfg.id,
        version: 1,
        hash: 'ab'.repeat(32),
        configMap: Buffer.alloc(0),
        files: [],
        sizeBytes: 0,
      },
    })
  ).id;
});

afterAll(async () => {
  if (redis) {
    // This file's envelopes go, so tests that consume the inbound streams never see them.
    for (let shard = 0; shard < config.OPAMP_SHARDS; shard++) {
      const key = StreamKeys.inbound(shard);
      const entries = (await redis.xrangeBuffer(key, `${STARTED_MS}-0`, '+')) as Array<[Buffer, Buffer[]]>;
      const ids = entries
        .filter(([, fields]) => {
          const i = fields.findIndex((f, j) => j % 2 === 0 && f.toString() === ENVELOPE_FIELD);
          return uids.includes(uidToString(decodeInbound(fields[i + 1]!).instanceUid));
        })
        .map(([id]) => id);
      if (ids.length > 0) await redis.xdel(key, ...ids);
    }
    for (const uid of uids) {
      const hex = uidHex(uidFromString(uid)!);
      await redis.del(RedisKeys.agentState(hex), RedisKeys.route(hex));
    }
    redis.disconnect();
  }
  if (prisma) {
    await prisma.agentDesiredConfig.deleteMany({ where: { agentUid: { in: uids } } });
    await prisma.configQuarantine.deleteMany({ where: { agentUid: { in: uids } } });
    await prisma.agent.deleteMany({ where: { uid: { in: uids } } });
    await prisma.configVersion.deleteMany({ where: { config: { name: CONFIG } } });
    await prisma.config.deleteMany({ where: { name: CONFIG } });
  }
  await app?.close();
});

describe('PATCH /api/v1/agents/{uid}/labels', () => {
  it('sets and removes some labels, keeps the others, and answers with the merged labels', async () => {
    const uid = await seedAgent({ labels: { keep: 'me', drop: 'x', change: 'old' } });
    const r = await call('PATCH', `/api/v1/agents/${uid}/labels`, {
      set: { change: 'new', 'example.com/tier': 'edge', 'host.name': 'override' },
      remove: ['drop', 'never-there'],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const labels = { testrun: RUN, keep: 'me', change: 'new', 'example.com/tier': 'edge', 'host.name': 'override' };
    expect(r.body).toEqual({ uid, labels, mergedLabels: { 'service.name': 'fluent-bit', ...labels } });
    expect((await call('GET', `/api/v1/agents/${uid}`)).body.labels).toEqual(labels);
    // Only one of the two, and an empty patch, are fine too.
    expect((await call('PATCH', `/api/v1/agents/${uid}/labels`, { remove: ['keep'] })).body.labels).not.toHaveProperty(
      'keep',
    );
    expect((await call('PATCH', `/api/v1/agents/${uid}/labels`, {})).status).toBe(200);
  });

  it('loses no update when patches of different keys race', async () => {
    const uid = await seedAgent();
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call('PATCH', `/api/v1/agents/${uid}/labels`, { set: { [`k${i}`]: `v${i}` } }),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    const row = await prisma.agent.findUniqueOrThrow({ where: { uid } });
    expect(Object.keys(row.labels as object).sort()).toEqual([
      'k0',
      'k1',
      'k2',
      'k3',
      'k4',
      'k5',
      'k6',
      'k7',
      'k8',
      'k9',
      'testrun',
    ]);
  });

  it('refuses malformed bodies (400), label syntax (422), too many labels (422) and unknown agents (404)', async () => {
    const uid = await seedAgent();
    const url = `/api/v1/agents/${uid}/labels`;
    expectProblem(await call('PATCH', url, { set: { a: 'b' }, remove: ['a'] }), 400, /remove\["a"\]: is also in set/);
    expectProblem(await call('PATCH', url, { set: ['a'] }), 400, /set: must be an object/);
    expectProblem(await call('PATCH', url, { remove: 'a' }), 400, /remove: must be an array/);
    expectProblem(await call('PATCH', url, { remove: [1] }), 400, /remove\[0\]: must be a label key/);
    expectProblem(await call('PATCH', url, { set: { a: 1 } }), 400, /set\["a"\]: must be a string/);
    expectProblem(await call('PATCH', url, { labels: {} }), 400, /labels: unknown field \(allowed: set, remove\)/);
    expectProblem(await call('PATCH', url, [1]), 400, /JSON object/);
    const bad = await call('PATCH', url, { set: { '-bad': 'x', ok: 'has space' } });
    expectProblem(bad, 422, /invalid key/);
    expect((bad.body.invalidParams as Array<{ name: string }>).map((p) => p.name)).toEqual([
      'labels["-bad"]',
      'labels["ok"]',
    ]);
    // 63 more keys on top of testrun → 64 is the limit; one more is refused and nothing is stored.
    const many = Object.fromEntries(Array.from({ length: 63 }, (_, i) => [`n${i}`, 'v']));
    expect((await call('PATCH', url, { set: many })).status).toBe(200);
    expectProblem(await call('PATCH', url, { set: { extra: 'v' } }), 422, /would have 65 labels; at most 64/);
    expect(Object.keys((await prisma.agent.findUniqueOrThrow({ where: { uid } })).labels as object)).toHaveLength(64);
    expectProblem(
      await call('PATCH', `/api/v1/agents/${uidToString(uuidv7())}/labels`, { set: { a: 'b' } }),
      404,
      /No agent/,
    );
    expectProblem(await call('PATCH', '/api/v1/agents/nope/labels', {}), 400, /not an agent uid/);
  });
});

describe('DELETE /api/v1/agents/{uid} (forget)', () => {
  it('deletes the row, its events, desired config, quarantine and hot state, and tells the fleet', async () => {
    const uid = await seedAgent({ state: 'offline' });
    const hex = uidHex(uidFromString(uid)!);
    await prisma.agentEvent.createMany({
      data: [1, 2, 3].map((n) => ({ agentUid: uid, type: 'connected', at: new Date(), data: { n } })),
    });
    await prisma.agentDesiredConfig.create({
      data: { agentUid: uid, configVersionId: versionId, hash: 'ab'.repeat(32), source: 'assignment' },
    });
    await prisma.configQuarantine.create({ data: { agentUid: uid, hash: 'cd'.repeat(32) } });
    await redis.hset(RedisKeys.agentState(hex), 'core', 'x');

    const r = await call('DELETE', `/api/v1/agents/${uid}`);
    expect(r).toMatchObject({
      status: 200,
      body: { uid, forgotten: true, wasConnected: false, deleted: { events: 3, desiredConfig: 1, quarantine: 1 } },
    });
    expect(await prisma.agent.findUnique({ where: { uid } })).toBeNull();
    expect(await prisma.agentEvent.count({ where: { agentUid: uid } })).toBe(0);
    expect(await prisma.agentDesiredConfig.findUnique({ where: { agentUid: uid } })).toBeNull();
    expect(await prisma.configQuarantine.count({ where: { agentUid: uid } })).toBe(0);
    expect(await redis.exists(RedisKeys.agentState(hex))).toBe(0);
    const controls = await controlsFor(uid);
    expect(controls).toHaveLength(1);
    expect(controls[0]!.payload.case === 'control' && controls[0]!.payload.value.command.case).toBe('forget');

    expectProblem(await call('GET', `/api/v1/agents/${uid}`), 404);
    expectProblem(await call('DELETE', `/api/v1/agents/${uid}`), 404, /No agent/);
  });

  it('409 while the agent is connected (in Postgres, or by its live route in Redis) unless force=true', async () => {
    const connected = await seedAgent({ state: 'connected' });
    const r = await call('DELETE', `/api/v1/agents/${connected}`);
    expectProblem(
      r,
      409,
      /is connected: forgotten now, it would enrol again as a new agent.*\?force=true/,
      'urn:opampcp:problem:conflict',
    );
    expect(await prisma.agent.findUnique({ where: { uid: connected } })).not.toBeNull();
    expect(await controlsFor(connected)).toHaveLength(0);
    expect((await call('DELETE', `/api/v1/agents/${connected}?force=false`)).status).toBe(409);

    // Postgres still says disconnected (write-behind lag), but the fleet holds a live connection.
    const routed = await seedAgent({ state: 'disconnected' });
    const hex = uidHex(uidFromString(routed)!);
    await redis.set(RedisKeys.route(hex), 'gw-1 conn-1', 'PX', 60_000);
    expectProblem(await call('DELETE', `/api/v1/agents/${routed}`), 409, /is connected/);

    for (const uid of [connected, routed]) {
      expect(await call('DELETE', `/api/v1/agents/${uid}?force=true`)).toMatchObject({
        status: 200,
        body: { uid, forgotten: true, wasConnected: true },
      });
      expect(await prisma.agent.findUnique({ where: { uid } })).toBeNull();
    }
    expect(await redis.exists(RedisKeys.route(hex))).toBe(0);
  });

  it('refuses a bad force value and a bad uid (400)', async () => {
    const uid = await seedAgent();
    expectProblem(await call('DELETE', `/api/v1/agents/${uid}?force=yes`), 400, /force: must be true or false/);
    expectProblem(await call('DELETE', '/api/v1/agents/not-a-uid'), 400, /canonical UUID form/);
    expect(await prisma.agent.findUnique({ where: { uid } })).not.toBeNull();
  });
});
