// Labels and per-agent config routes over HTTP against real Postgres and Redis: rows inserted
// directly, routes called with fetch, control envelopes read back from the agents' inbound shards.
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVELOPE_FIELD, StreamKeys, createRedis, decodeInbound, shardOf } from '@opamp/bus';
import { PrismaService, type Prisma } from '@opamp/database';
import type { InboundEnvelope } from '@opamp/proto';
import { uidFromString, uidToString, uuidv7 } from '@opamp/protocol';
import { loadApiConfig, type ApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { expectProblem, httpClient, type Json } from '../testing/http.js';

const RUN = randomBytes(4).toString('hex');
const FB_CONFIG = `agentcfg-fb-${RUN}`;
const OTEL_CONFIG = `agentcfg-otel-${RUN}`;
const GENERIC_CONFIG = `agentcfg-generic-${RUN}`;

let app: INestApplication;
let base: string;
let prisma: PrismaService;
let redis: Redis;
let config: ApiConfig;
const uids: string[] = [];
const STARTED_MS = Date.now();
const rolloutIds: string[] = [];

const { call } = httpClient(() => base);

async function seedAgent(
  opts: { agentType?: string; capabilities?: bigint; identifying?: Json; nonIdentifying?: Json; labels?: Json } = {},
): Promise<string> {
  const uid = uidToString(uuidv7());
  uids.push(uid);
  const now = new Date();
  await prisma.agent.create({
    data: {
      uid,
      agentType: opts.agentType ?? 'fluentbit',
      description: {
        identifying: opts.identifying ?? {},
        nonIdentifying: opts.nonIdentifying ?? {},
      } as Prisma.InputJsonObject,
      labels: (opts.labels ?? {}) as Prisma.InputJsonObject,
      capabilities: opts.capabilities ?? 0x1003n, // ReportsStatus | AcceptsRemoteConfig | ReportsRemoteConfig
      firstSeenAt: now,
      lastSeenAt: now,
    },
  });
  return uid;
}

/** The desired-config command `commandId` sent for `uid`, read from the agent's inbound shard. */
async function envelopeFor(
  uid: string,
  commandId: string,
): Promise<{ hash: string; configMap: Buffer; clearQuarantine: boolean }> {
  const bytes = uidFromString(uid)!;
  const key = StreamKeys.inbound(shardOf(bytes, config.OPAMP_SHARDS));
  const entries = (await redis.xrevrangeBuffer(key, '+', '-', 'COUNT', 200)) as Array<[Buffer, Buffer[]]>;
  for (const [, fields] of entries) {
    const i = fields.findIndex((f, j) => j % 2 === 0 && f.toString() === ENVELOPE_FIELD);
    const env: InboundEnvelope = decodeInbound(fields[i + 1]!);
    if (env.payload.case !== 'control' || env.payload.value.commandId !== commandId) continue;
    expect(uidToString(env.instanceUid)).toBe(uid);
    const c = env.payload.value.command;
    if (c.case !== 'desiredConfig') throw new Error(`command ${commandId} is ${c.case}`);
    return {
      hash: Buffer.from(c.value.configHash).toString('hex'),
      configMap: Buffer.from(c.value.configMap),
      clearQuarantine: c.value.clearQuarantine,
    };
  }
  throw new Error(`no envelope ${commandId} for ${uid}`);
}

const versions: Record<string, { id: bigint; hash: string; configMap: Buffer }> = {};

async function makeConfig(name: string, agentType: string, files: Json[]): Promise<void> {
  expect((await call('POST', '/api/v1/configs', { name, agentType })).status).toBe(201);
  const r = await call('POST', `/api/v1/configs/${name}/versions`, { files });
  expect(r.status).toBe(201);
  const row = await prisma.configVersion.findFirstOrThrow({ where: { config: { name }, version: 1 } });
  versions[name] = { id: row.id, hash: row.hash, configMap: Buffer.from(row.configMap) };
}

beforeAll(async () => {
  config = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  redis = createRedis(config.REDIS_URL, { name: 'agent-config-medium-spec' });
  await redis.connect();
  await makeConfig(FB_CONFIG, 'fluentbit', [
    {
      name: 'fluent-bit.conf',
      contentType: 'text/plain',
      content: '[INPUT]\n    Name cpu\n[OUTPUT]\n    Name stdout\n    Match *\n',
    },
  ]);
  await makeConfig(OTEL_CONFIG, 'otelcol', [
    { name: 'c.yaml', contentType: 'application/yaml', content: 'receivers:\n  otlp: {}\n' },
  ]);
  await makeConfig(GENERIC_CONFIG, 'generic', [
    { name: 'settings.json', contentType: 'application/json', content: '{}' },
  ]);
});

/** Deletes this file's envelopes, so tests that consume the inbound streams never see them. */
async function purgeEnvelopes(): Promise<void> {
  const ours = new Set(uids);
  for (let shard = 0; shard < config.OPAMP_SHARDS; shard++) {
    const key = StreamKeys.inbound(shard);
    const entries = (await redis.xrangeBuffer(key, `${STARTED_MS}-0`, '+')) as Array<[Buffer, Buffer[]]>;
    const ids = entries
      .filter(([, fields]) => {
        const i = fields.findIndex((f, j) => j % 2 === 0 && f.toString() === ENVELOPE_FIELD);
        return ours.has(uidToString(decodeInbound(fields[i + 1]!).instanceUid));
      })
      .map(([id]) => id);
    if (ids.length > 0) await redis.xdel(key, ...ids);
  }
}

afterAll(async () => {
  if (redis) await purgeEnvelopes();
  if (prisma) {
    await prisma.rollout.deleteMany({ where: { id: { in: rolloutIds } } });
    await prisma.agentDesiredConfig.deleteMany({ where: { agentUid: { in: uids } } });
    await prisma.configQuarantine.deleteMany({ where: { agentUid: { in: uids } } });
    await prisma.agent.deleteMany({ where: { uid: { in: uids } } });
    const ids = (
      await prisma.config.findMany({
        where: { name: { in: [FB_CONFIG, OTEL_CONFIG, GENERIC_CONFIG] } },
        select: { id: true },
      })
    ).map((c) => c.id);
    await prisma.configVersion.deleteMany({ where: { configId: { in: ids } } });
    await prisma.config.deleteMany({ where: { id: { in: ids } } });
  }
  redis?.disconnect();
  await app?.close();
});

describe('PUT /api/v1/agents/{uid}/labels', () => {
  it('replaces the API labels and answers with them and the merged labels', async () => {
    const uid = await seedAgent({
      identifying: { 'service.name': 'fluent-bit', env: 'from-attr' },
      nonIdentifying: { 'host.name': 'h1' },
      labels: { old: 'gone' },
    });
    const r = await call('PUT', `/api/v1/agents/${uid}/labels`, {
      labels: { env: 'prod', 'example.com/tier': 'edge', empty: '' },
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      uid,
      labels: { env: 'prod', 'example.com/tier': 'edge', empty: '' },
      mergedLabels: {
        'service.name': 'fluent-bit',
        env: 'prod',
        'host.name': 'h1',
        'example.com/tier': 'edge',
        empty: '',
      },
    });
    const agent = await call('GET', `/api/v1/agents/${uid}`);
    expect(agent.body.labels).toEqual({ env: 'prod', 'example.com/tier': 'edge', empty: '' });
    const found = await call(
      'GET',
      `/api/v1/agents?selector=${encodeURIComponent(`example.com/tier=edge,env=prod,host.name=h1`)}`,
    );
    expect((found.body.items as Array<{ uid: string }>).map((a) => a.uid)).toContain(uid);
    expect((await call('PUT', `/api/v1/agents/${uid}/labels`, { labels: {} })).body.labels).toEqual({});
  });

  it('refuses label syntax Kubernetes refuses (422), malformed bodies (400) and unknown agents (404)', async () => {
    const uid = await seedAgent();
    const bad = await call('PUT', `/api/v1/agents/${uid}/labels`, {
      labels: { '-bad': 'x', 'Example.COM/x': 'y', ok: 'has space', [`k${'x'.repeat(63)}`]: 'v' },
    });
    expectProblem(bad, 422);
    expect((bad.body.invalidParams as Array<{ name: string }>).map((p) => p.name)).toEqual([
      'labels["-bad"]',
      'labels["Example.COM/x"]',
      'labels["ok"]',
      `labels["k${'x'.repeat(63)}"]`,
    ]);
    expectProblem(await call('PUT', `/api/v1/agents/${uid}/labels`, { labels: { a: 1 } }), 400, /must be a string/);
    expectProblem(await call('PUT', `/api/v1/agents/${uid}/labels`, { tags: {} }), 400, /labels: is required/);
    expectProblem(await call('PUT', `/api/v1/agents/${uidToString(uuidv7())}/labels`, { labels: {} }), 404, /No agent/);
    expectProblem(await call('PUT', '/api/v1/agents/nope/labels', { labels: {} }), 400, /not an agent uid/);
  });
});

describe('PUT /api/v1/agents/{uid}/config', () => {
  it('assigns a version: stores the desired config and sends the raw hash and the stored config map', async () => {
    const uid = await seedAgent();
    const r = await call('PUT', `/api/v1/agents/${uid}/config`, { config: FB_CONFIG, version: 1 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      uid,
      desired: {
        config: FB_CONFIG,
        version: 1,
        hash: versions[FB_CONFIG]!.hash,
        source: 'assignment',
        rolloutId: null,
      },
      activeRolloutId: null,
      quarantine: [],
      commandId: expect.any(String),
    });
    const env = await envelopeFor(uid, r.body.commandId as string);
    expect(env.hash).toBe(versions[FB_CONFIG]!.hash);
    expect(env.configMap.equals(versions[FB_CONFIG]!.configMap)).toBe(true);
    expect(env.clearQuarantine).toBe(false);
    expect((await call('GET', `/api/v1/agents/${uid}/config`)).body).toMatchObject({
      desired: { config: FB_CONFIG, version: 1 },
    });
    // Idempotent: the same assignment again is a 200 with the same desired config.
    expect(await call('PUT', `/api/v1/agents/${uid}/config`, { config: FB_CONFIG, version: 1 })).toMatchObject({
      status: 200,
      body: { desired: { config: FB_CONFIG, version: 1 } },
    });
  });

  it('accepts generic configs for any agent type and refuses another type (422)', async () => {
    const uid = await seedAgent({ agentType: 'fluentbit' });
    expect((await call('PUT', `/api/v1/agents/${uid}/config`, { config: GENERIC_CONFIG, version: 1 })).status).toBe(
      200,
    );
    const r = await call('PUT', `/api/v1/agents/${uid}/config`, { config: OTEL_CONFIG, version: 1 });
    expectProblem(r, 422, /is for otelcol agents, but agent .* is a fluentbit agent/);
    expect(r.body).toMatchObject({ agentType: 'fluentbit', configAgentType: 'otelcol' });
  });

  it('refuses unknown agents, configs and versions (404) and malformed bodies (400)', async () => {
    const uid = await seedAgent();
    expectProblem(
      await call('PUT', `/api/v1/agents/${uidToString(uuidv7())}/config`, { config: FB_CONFIG, version: 1 }),
      404,
      /No agent/,
    );
    expectProblem(
      await call('PUT', `/api/v1/agents/${uid}/config`, { config: `missing-${RUN}`, version: 1 }),
      404,
      /No config named/,
    );
    expectProblem(
      await call('PUT', `/api/v1/agents/${uid}/config`, { config: FB_CONFIG, version: 5 }),
      404,
      /has no version 5/,
    );
    const bad = await call('PUT', `/api/v1/agents/${uid}/config`, { config: 7, version: '1', extra: true });
    expectProblem(bad, 400);
    expect((bad.body.invalidParams as Array<{ name: string }>).map((p) => p.name).sort()).toEqual([
      'config',
      'extra',
      'version',
    ]);
  });

  it('refuses agents in an active rollout, without AcceptsRemoteConfig, or that quarantined the version (409)', async () => {
    const inRollout = await seedAgent();
    const rollout = await prisma.rollout.create({
      data: {
        configId: (await prisma.config.findUniqueOrThrow({ where: { name: FB_CONFIG } })).id,
        configVersionId: versions[FB_CONFIG]!.id,
        selector: '',
        strategy: {},
        plan: {},
        state: 'running',
      },
    });
    rolloutIds.push(rollout.id);
    await prisma.rolloutTarget.create({ data: { rolloutId: rollout.id, agentUid: inRollout, stage: 0, waveIndex: 0 } });
    const r = await call('PUT', `/api/v1/agents/${inRollout}/config`, { config: FB_CONFIG, version: 1 });
    expectProblem(r, 409, new RegExp(`active rollout ${rollout.id}`));
    expect(r.body.rolloutId).toBe(rollout.id);
    expectProblem(await call('DELETE', `/api/v1/agents/${inRollout}/config`), 409, /active rollout/);
    expect((await call('GET', `/api/v1/agents/${inRollout}/config`)).body.activeRolloutId).toBe(rollout.id);

    const noCapability = await seedAgent({ capabilities: 0x1n });
    expectProblem(
      await call('PUT', `/api/v1/agents/${noCapability}/config`, { config: FB_CONFIG, version: 1 }),
      409,
      /AcceptsRemoteConfig/,
    );

    const quarantined = await seedAgent();
    await prisma.configQuarantine.create({
      data: { agentUid: quarantined, hash: versions[FB_CONFIG]!.hash, errorMessage: 'parse error line 3' },
    });
    expectProblem(
      await call('PUT', `/api/v1/agents/${quarantined}/config`, { config: FB_CONFIG, version: 1 }),
      409,
      /reported FAILED/,
    );
    const lifted = await call('PUT', `/api/v1/agents/${quarantined}/config`, {
      config: FB_CONFIG,
      version: 1,
      clearQuarantine: true,
    });
    expect(lifted.status).toBe(200);
    expect((await envelopeFor(quarantined, lifted.body.commandId as string)).clearQuarantine).toBe(true);
    expect((lifted.body.quarantine as Array<{ clearedAt: string | null; errorMessage: string }>)[0]).toMatchObject({
      errorMessage: 'parse error line 3',
      clearedAt: expect.any(String),
      config: FB_CONFIG,
      version: 1,
    });
  });
});

describe('DELETE /api/v1/agents/{uid}/config', () => {
  it('removes the desired config and sends an empty one; again is a no-op', async () => {
    const uid = await seedAgent();
    await call('PUT', `/api/v1/agents/${uid}/config`, { config: FB_CONFIG, version: 1 });
    const r = await call('DELETE', `/api/v1/agents/${uid}/config`);
    expect(r).toMatchObject({ status: 200, body: { uid, removed: true } });
    const env = await envelopeFor(uid, r.body.commandId as string);
    expect(env).toMatchObject({ hash: '', clearQuarantine: false });
    expect(env.configMap.length).toBe(0);
    expect((await call('GET', `/api/v1/agents/${uid}/config`)).body.desired).toBeNull();
    expect(await call('DELETE', `/api/v1/agents/${uid}/config`)).toMatchObject({
      status: 200,
      body: { removed: false },
    });
    expectProblem(await call('DELETE', `/api/v1/agents/${uidToString(uuidv7())}/config`), 404);
  });
});

describe('POST /api/v1/agents/{uid}/config/quarantine/{hash}/clear', () => {
  it('marks the entry cleared and resends the desired config with clear_quarantine when it is that hash', async () => {
    const uid = await seedAgent();
    const hash = versions[FB_CONFIG]!.hash;
    await prisma.agentDesiredConfig.create({
      data: { agentUid: uid, configVersionId: versions[FB_CONFIG]!.id, hash, source: 'rollout' },
    });
    await prisma.configQuarantine.create({ data: { agentUid: uid, hash, errorMessage: 'boom' } });
    const r = await call('POST', `/api/v1/agents/${uid}/config/quarantine/${hash}/clear`);
    expect(r).toMatchObject({ status: 200, body: { uid, hash, resent: true, clearedAt: expect.any(String) } });
    const env = await envelopeFor(uid, r.body.commandId as string);
    expect(env).toMatchObject({ hash, clearQuarantine: true });
    expect(env.configMap.equals(versions[FB_CONFIG]!.configMap)).toBe(true);
    const row = await prisma.configQuarantine.findUniqueOrThrow({ where: { agentUid_hash: { agentUid: uid, hash } } });
    expect(row.clearedAt?.toISOString()).toBe(r.body.clearedAt);
    // The desired config row itself is unchanged (still the rollout's).
    expect((await prisma.agentDesiredConfig.findUniqueOrThrow({ where: { agentUid: uid } })).source).toBe('rollout');
    // Clearing again keeps the first time.
    expect((await call('POST', `/api/v1/agents/${uid}/config/quarantine/${hash}/clear`)).body.clearedAt).toBe(
      r.body.clearedAt,
    );
  });

  it('clears without sending when the hash is not the desired config; 404 without an entry; 400 for a bad hash', async () => {
    const uid = await seedAgent();
    const otherHash = 'ab'.repeat(32);
    await prisma.configQuarantine.create({ data: { agentUid: uid, hash: otherHash } });
    expect(
      await call('POST', `/api/v1/agents/${uid}/config/quarantine/${otherHash.toUpperCase()}/clear`),
    ).toMatchObject({
      status: 200,
      body: { resent: false, commandId: null },
    });
    expectProblem(
      await call('POST', `/api/v1/agents/${uid}/config/quarantine/${'cd'.repeat(32)}/clear`),
      404,
      /no quarantined config/,
    );
    expectProblem(await call('POST', `/api/v1/agents/${uid}/config/quarantine/xyz/clear`), 400, /hash/);
    expectProblem(
      await call('POST', `/api/v1/agents/${uidToString(uuidv7())}/config/quarantine/${otherHash}/clear`),
      404,
      /No agent/,
    );
  });
});
