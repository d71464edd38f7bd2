// The api over HTTP against real Postgres and Redis: rows are inserted directly, then the REST
// routes are called with fetch. Every row carries a per-run label so tests never see each other.
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVELOPE_FIELD, StreamKeys, createRedis, decodeInbound, shardOf } from '@opamp/bus';
import { PrismaService, type Prisma } from '@opamp/database';
import { agentLabels, matchesLabelSelector, parseLabelSelector } from '@opamp/domain';
import { uidFromString, uidToString, uuidv7 } from '@opamp/protocol';
import { loadApiConfig, type ApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { expectProblem, httpClient, type Json } from '../testing/http.js';

const RUN = randomBytes(4).toString('hex');

let app: INestApplication;
let base: string;
let prisma: PrismaService;
let redis: Redis;
let config: ApiConfig;

const { get, post } = httpClient(() => base);

interface Seed {
  name: string;
  identifying?: Json;
  nonIdentifying?: Json;
  labels?: Record<string, string>;
  state?: 'connected' | 'disconnected' | 'offline';
  capabilities?: bigint;
  customCapabilities?: string[];
  uid?: string;
}

function newUid(): string {
  return uidToString(uuidv7());
}

function row(seed: Seed, group: string): Prisma.AgentCreateManyInput {
  const now = new Date();
  return {
    uid: seed.uid ?? newUid(),
    agentType: 'fluentbit',
    description: {
      identifying: seed.identifying ?? {},
      nonIdentifying: seed.nonIdentifying ?? {},
    } as Prisma.InputJsonObject,
    labels: { testrun: RUN, group, ...seed.labels },
    connectionState: seed.state ?? 'connected',
    capabilities: seed.capabilities ?? 0x1n,
    customCapabilities: seed.customCapabilities ?? [],
    firstSeenAt: now,
    lastSeenAt: now,
  };
}

beforeAll(async () => {
  config = loadApiConfig({
    ...process.env,
    API_PORT: '0',
    LOG_LEVEL: 'error',
  });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  redis = createRedis(config.REDIS_URL, { name: 'api-medium-spec' });
  await redis.connect();
});

afterAll(async () => {
  if (prisma) await prisma.$executeRaw`DELETE FROM agents WHERE labels @> ${JSON.stringify({ testrun: RUN })}::jsonb`;
  redis?.disconnect();
  await app?.close();
});

describe('GET /api/v1/agents: label selectors', () => {
  const seeds: Seed[] = [
    {
      name: 'A',
      identifying: { 'service.name': 'fluent-bit' },
      nonIdentifying: { env: 'prod', 'host.name': 'h-a' },
      labels: { tier: 'edge' },
    },
    {
      name: 'B',
      identifying: { 'service.name': 'fluent-bit' },
      nonIdentifying: { env: 'stage', canary: 'true' },
      state: 'disconnected',
    },
    {
      name: 'C',
      identifying: { 'service.name': 'otelcol' },
      nonIdentifying: { env: 'dev' },
      labels: { tier: '' },
      state: 'offline',
    },
    // The API label overrides the reported attribute: D's env is "stage".
    {
      name: 'D',
      identifying: { 'service.name': 'fluent-bit' },
      nonIdentifying: { env: 'prod' },
      labels: { env: 'stage' },
    },
    {
      name: 'E',
      identifying: { 'service.name': 'fluentd', replicas: 3 },
      nonIdentifying: { enabled: true, ratio: 0.5, nested: { a: 1 } },
    },
    { name: 'F', identifying: { 'service.name': 'fluent-bit' }, nonIdentifying: { note: null }, state: 'offline' },
  ];
  const byUid = new Map<string, Seed>();

  beforeAll(async () => {
    const rows = seeds.map((s) => {
      const r = row(s, 'sel');
      byUid.set(r.uid, s);
      return r;
    });
    await prisma.agent.createMany({ data: rows });
  });

  async function names(selector: string, extra = ''): Promise<string[]> {
    const full = `testrun=${RUN},group=sel${selector ? `,${selector}` : ''}`;
    const r = await get(`/api/v1/agents?selector=${encodeURIComponent(full)}${extra}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return (r.body.items as Array<{ uid: string }>).map((i) => byUid.get(i.uid)!.name).sort();
  }

  /** The same selector evaluated in memory over the seeds (libs/domain), for cross-checking. */
  function expected(selector: string): string[] {
    const s = parseLabelSelector(selector);
    return seeds
      .filter((seed) =>
        matchesLabelSelector(
          s,
          agentLabels({
            identifying: seed.identifying,
            nonIdentifying: seed.nonIdentifying,
            labels: { ...seed.labels },
          }),
        ),
      )
      .map((seed) => seed.name)
      .sort();
  }

  it.each([
    ['service.name=fluent-bit', ['A', 'B', 'D', 'F']],
    ['service.name==fluent-bit', ['A', 'B', 'D', 'F']],
    ['env=prod', ['A']],
    ['env=stage', ['B', 'D']],
    ['env!=prod', ['B', 'C', 'D', 'E', 'F']],
    ['env in (prod,dev)', ['A', 'C']],
    ['env notin (prod,stage)', ['C', 'E', 'F']],
    ['tier', ['A', 'C']],
    ['!tier', ['B', 'D', 'E', 'F']],
    ['!canary', ['A', 'C', 'D', 'E', 'F']],
    ['tier=', ['C']],
    ['tier!=', ['A', 'B', 'D', 'E', 'F']],
    ['replicas=3', ['E']],
    ['replicas in (2,3)', ['E']],
    ['enabled=true', ['E']],
    ['ratio=0.5', ['E']],
    ['nested', ['E']],
    ['note', []],
    ['service.name=fluent-bit,env in (prod,stage),!canary,tier', ['A']],
    ['host.name=h-a', ['A']],
    ['nope=x', []],
  ])('%s', async (selector, want) => {
    expect(await names(selector)).toEqual(want);
    expect(expected(selector)).toEqual(want); // SQL and libs/domain agree
  });

  it('filters by connection state (single, comma list, repeated parameter)', async () => {
    expect(await names('', '&status=connected')).toEqual(['A', 'D', 'E']);
    expect(await names('', '&status=disconnected,offline')).toEqual(['B', 'C', 'F']);
    expect(await names('', '&status=offline&status=disconnected')).toEqual(['B', 'C', 'F']);
    expect(await names('service.name=fluent-bit', '&status=offline')).toEqual(['F']);
  });

  it('rejects malformed selectors and states with a readable problem', async () => {
    expectProblem(
      await get(`/api/v1/agents?selector=${encodeURIComponent('env in (prod')}`),
      400,
      /selector: missing "\)"/,
    );
    expectProblem(await get(`/api/v1/agents?selector=${encodeURIComponent("env=prod' OR 1=1 --")}`), 400, /selector/);
    expectProblem(await get('/api/v1/agents?status=sleeping'), 400, /unknown connection state "sleeping"/);
    expectProblem(await get('/api/v1/agents?selector=a&selector=b'), 400, /selector: must be given at most once/);
  });

  it('returns the list item shape', async () => {
    const r = await get(`/api/v1/agents?selector=${encodeURIComponent(`testrun=${RUN},group=sel,env=prod`)}`);
    const item = (r.body.items as Json[])[0]!;
    expect(item).toMatchObject({
      uid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      agentType: 'fluentbit',
      description: {
        identifying: { 'service.name': 'fluent-bit' },
        nonIdentifying: { env: 'prod', 'host.name': 'h-a' },
      },
      labels: { testrun: RUN, group: 'sel', tier: 'edge' },
      capabilities: { value: '1', hex: '0x1', names: ['ReportsStatus'] },
      connectionState: 'connected',
      firstSeenAt: expect.stringMatching(/Z$/),
    });
    expect(r.body.nextCursor).toBeNull();
  });
});

describe('GET /api/v1/agents: cursor pagination', () => {
  const uids: string[] = [];

  beforeAll(async () => {
    const rows = Array.from({ length: 120 }, (_, i) =>
      row({ name: `p${i}`, state: i % 3 === 0 ? 'offline' : 'connected' }, 'page'),
    );
    uids.push(...rows.map((r) => r.uid));
    await prisma.agent.createMany({ data: rows });
  });

  async function walk(limit: number, extra = ''): Promise<{ seen: string[]; pages: number }> {
    const selector = encodeURIComponent(`testrun=${RUN},group=page`);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await get(
        `/api/v1/agents?selector=${selector}&limit=${limit}${extra}${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const items = r.body.items as Array<{ uid: string }>;
      expect(items.length).toBeLessThanOrEqual(limit);
      seen.push(...items.map((i) => i.uid));
      cursor = r.body.nextCursor as string | null;
      pages++;
      expect(pages).toBeLessThan(200);
    } while (cursor);
    return { seen, pages };
  }

  it('returns every agent exactly once, ordered by uid, for several page sizes', async () => {
    const sorted = [...uids].sort();
    for (const limit of [1, 7, 50, 120, 500]) {
      const { seen, pages } = await walk(limit);
      expect(seen).toEqual(sorted);
      expect(new Set(seen).size).toBe(120);
      // limit + 1 rows are read, so an exactly full last page already says "no more" (no empty page).
      expect(pages).toBe(Math.ceil(120 / limit));
    }
  });

  it('paginates a filtered query without gaps', async () => {
    const offline = uids.filter((_, i) => i % 3 === 0).sort();
    const { seen } = await walk(9, '&status=offline');
    expect(seen).toEqual(offline);
  });

  it('defaults to 50 and validates limit', async () => {
    const r = await get(`/api/v1/agents?selector=${encodeURIComponent(`testrun=${RUN},group=page`)}`);
    expect((r.body.items as unknown[]).length).toBe(50);
    expect(typeof r.body.nextCursor).toBe('string');
    for (const bad of ['0', '501', '-1', '1.5', 'ten']) {
      expectProblem(await get(`/api/v1/agents?limit=${bad}`), 400, /limit/);
    }
  });

  it('rejects foreign, forged and mismatched cursors', async () => {
    const selector = encodeURIComponent(`testrun=${RUN},group=page`);
    const first = await get(`/api/v1/agents?selector=${selector}&limit=5`);
    const cursor = first.body.nextCursor as string;
    expectProblem(await get(`/api/v1/agents?selector=${selector}&limit=5&cursor=not-a-cursor!`), 400, /cursor/);
    const forged = Buffer.from(JSON.stringify({ k: "x' OR 1=1", q: 'zz' })).toString('base64url');
    expectProblem(await get(`/api/v1/agents?selector=${selector}&cursor=${forged}`), 400, /cursor/);
    // Same cursor, different filters.
    expectProblem(
      await get(`/api/v1/agents?selector=${selector}&status=offline&cursor=${cursor}`),
      400,
      /different filters/,
    );
    // A different limit is fine (limit is not part of the query identity).
    expect((await get(`/api/v1/agents?selector=${selector}&limit=7&cursor=${cursor}`)).status).toBe(200);
  });
});

describe('GET /api/v1/agents/{uid}', () => {
  const uid = newUid();

  beforeAll(async () => {
    await prisma.agent.create({
      data: {
        ...row({ name: 'detail', uid, customCapabilities: ['io.opampcp.simulator.echo'] }, 'detail'),
        serviceName: 'fluent-bit',
        serviceVersion: '3.2.4',
        hostName: 'node-7',
        osType: 'linux',
        capabilities: 0x3d07n,
        sequenceNum: 42n,
        transport: 'ws',
        healthy: true,
        health: {
          healthy: true,
          startTimeUnixNano: '1763750000000000000',
          lastError: '',
          status: 'running',
          statusTimeUnixNano: '1763750001000000000',
          componentHealthMap: { 'input:tail.0': { healthy: true, status: 'running' } },
          attributes: [],
        },
        effectiveConfig: {
          hash: 'ab'.repeat(32),
          configMap: {
            'fluent-bit.yaml': { contentType: 'text/yaml', body: 'service:\n  flush: 1\n' },
            'plugin.so': {
              contentType: 'application/octet-stream',
              bodyBase64: Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('base64'),
            },
          },
        },
        remoteConfigStatus: { lastRemoteConfigHash: 'cd'.repeat(32), status: 'FAILED', errorMessage: 'bad output' },
        disconnectedAt: new Date('2026-11-21T10:00:00Z'),
      },
    });
  });

  it('returns the full agent document', async () => {
    const r = await get(`/api/v1/agents/${uid}`);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^application\/json/);
    expect(r.body).toMatchObject({
      uid,
      agentType: 'fluentbit',
      serviceName: 'fluent-bit',
      hostName: 'node-7',
      capabilities: {
        value: String(0x3d07),
        hex: '0x3d07',
        names: [
          'ReportsStatus',
          'AcceptsRemoteConfig',
          'ReportsEffectiveConfig',
          'AcceptsOpAMPConnectionSettings',
          'AcceptsRestartCommand',
          'ReportsHealth',
          'ReportsRemoteConfig',
          'ReportsHeartbeat',
        ],
      },
      health: { healthy: true, status: 'running', componentHealthMap: { 'input:tail.0': { healthy: true } } },
      effectiveConfig: {
        hash: 'ab'.repeat(32),
        files: [
          {
            name: 'fluent-bit.yaml',
            contentType: 'text/yaml',
            size: 20,
            encoding: 'utf-8',
            body: 'service:\n  flush: 1\n',
          },
          { name: 'plugin.so', contentType: 'application/octet-stream', size: 4, encoding: 'base64', body: '//4AAQ==' },
        ],
      },
      remoteConfigStatus: { status: 'FAILED', lastRemoteConfigHash: 'cd'.repeat(32), errorMessage: 'bad output' },
      customCapabilities: ['io.opampcp.simulator.echo'],
      labels: { testrun: RUN, group: 'detail' },
      connectionState: 'connected',
      transport: 'ws',
      sequenceNum: '42',
      disconnectedAt: '2026-11-21T10:00:00.000Z',
      replacedByUid: null,
    });
  });

  it('accepts upper-case uids and answers in canonical lower case', async () => {
    const r = await get(`/api/v1/agents/${uid.toUpperCase()}`);
    expect(r.status).toBe(200);
    expect(r.body.uid).toBe(uid);
  });

  it.each(['abc', uid.replace(/-/g, ''), `{${uid}}`, `${uid}0`, 'urn:uuid:' + uid, '%20'])(
    '400 for uid %j',
    async (bad) => {
      expectProblem(await get(`/api/v1/agents/${encodeURIComponent(bad)}`), 400, /canonical UUID form/);
    },
  );

  it('404 for an unknown agent', async () => {
    expectProblem(await get(`/api/v1/agents/${newUid()}`), 404, /No agent with uid/);
  });
});

describe('GET /api/v1/agents/{uid}/events', () => {
  const uid = newUid();

  beforeAll(async () => {
    await prisma.agent.create({ data: row({ name: 'events', uid }, 'events') });
    const t0 = Date.parse('2026-11-21T00:00:00Z');
    await prisma.agentEvent.createMany({
      data: Array.from({ length: 23 }, (_, i) => ({
        agentUid: uid,
        type: i % 2 ? 'heartbeat_gap' : 'connected',
        at: new Date(t0 + i * 1000),
        data: { n: i },
      })),
    });
  });

  it('pages newest first without duplicates', async () => {
    const seen: Array<{ id: string; data: { n: number } }> = [];
    let cursor: string | null = null;
    do {
      const r = await get(`/api/v1/agents/${uid}/events?limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      seen.push(...(r.body.items as typeof seen));
      cursor = r.body.nextCursor as string | null;
    } while (cursor);
    expect(seen.map((e) => e.data.n)).toEqual(Array.from({ length: 23 }, (_, i) => 22 - i));
    expect(new Set(seen.map((e) => e.id)).size).toBe(23);
    expect(seen[0]).toMatchObject({
      id: expect.stringMatching(/^\d+$/),
      type: 'connected',
      at: '2026-11-21T00:00:22.000Z',
    });
  });

  it('404 for an unknown agent, 400 for a bad uid or cursor', async () => {
    expectProblem(await get(`/api/v1/agents/${newUid()}/events`), 404);
    expectProblem(await get('/api/v1/agents/xyz/events'), 400);
    const otherAgentCursor = (await get(`/api/v1/agents/${uid}/events?limit=1`)).body.nextCursor as string;
    expectProblem(await get(`/api/v1/agents/${newUid()}/events?cursor=${otherAgentCursor}`), 400, /cursor/);
  });
});

describe('POST /api/v1/agents/{uid}/restart and /custom-messages', () => {
  const restartable = newUid();
  const plain = newUid();

  beforeAll(async () => {
    await prisma.agent.createMany({
      data: [
        row(
          {
            name: 'restartable',
            uid: restartable,
            capabilities: 0x3d07n,
            customCapabilities: ['io.opampcp.simulator.echo'],
          },
          'cmd',
        ),
        row({ name: 'plain', uid: plain, capabilities: 0x1007n }, 'cmd'),
      ],
    });
  });

  /** The control envelope with `commandId` on the agent's inbound shard stream. */
  async function envelopeFor(uid: string, commandId: string) {
    const bytes = uidFromString(uid)!;
    const key = StreamKeys.inbound(shardOf(bytes, config.OPAMP_SHARDS));
    const entries = (await redis.xrangeBuffer(key, '-', '+')) as Array<[Buffer, Buffer[]]>;
    for (const [id, fields] of entries) {
      const i = fields.findIndex((f, j) => j % 2 === 0 && f.toString() === ENVELOPE_FIELD);
      const env = decodeInbound(fields[i + 1]!);
      if (env.payload.case === 'control' && env.payload.value.commandId === commandId) {
        await redis.xdel(key, id);
        return env;
      }
    }
    return undefined;
  }

  it('restart: 202 with a commandId and a control envelope on the agent shard', async () => {
    const r = await post(`/api/v1/agents/${restartable}/restart`);
    expect(r.status).toBe(202);
    // The command resource (apps/api/src/commands); `commandId` stays for older clients.
    expect(r.body).toMatchObject({ commandId: expect.stringMatching(/^[0-9a-f-]{36}$/), state: 'queued' });
    expect(r.body.id).toBe(r.body.commandId);
    const env = await envelopeFor(restartable, r.body.commandId as string);
    expect(env).toBeDefined();
    expect(uidToString(env!.instanceUid)).toBe(restartable);
    expect(env!.payload.case === 'control' && env!.payload.value.command.case).toBe('restart');
    expect(env!.receivedAtMs).toBeGreaterThan(0n);
  });

  it('restart: 409 without AcceptsRestartCommand, 404 when unknown, 400 for a bad uid', async () => {
    expectProblem(await post(`/api/v1/agents/${plain}/restart`), 409, /AcceptsRestartCommand/);
    expectProblem(await post(`/api/v1/agents/${newUid()}/restart`), 404);
    expectProblem(await post('/api/v1/agents/42/restart'), 400);
  });

  it('custom message: 202 and the payload on the shard', async () => {
    const data = Buffer.from('hello agent').toString('base64');
    const r = await post(`/api/v1/agents/${restartable}/custom-messages`, {
      capability: 'io.opampcp.simulator.echo',
      type: 'ping',
      data,
    });
    expect(r.status).toBe(202);
    const env = await envelopeFor(restartable, r.body.commandId as string);
    const cmd = env?.payload.case === 'control' ? env.payload.value.command : undefined;
    expect(cmd?.case).toBe('customMessage');
    if (cmd?.case === 'customMessage') {
      expect(cmd.value.capability).toBe('io.opampcp.simulator.echo');
      expect(cmd.value.type).toBe('ping');
      expect(Buffer.from(cmd.value.data).toString()).toBe('hello agent');
    }
  });

  it('custom message: 409 for an undeclared capability, 404 unknown, 400 invalid body', async () => {
    expectProblem(
      await post(`/api/v1/agents/${plain}/custom-messages`, {
        capability: 'io.opampcp.simulator.echo',
        type: 't',
        data: '',
      }),
      409,
      /declared: none/,
    );
    expectProblem(
      await post(`/api/v1/agents/${newUid()}/custom-messages`, { capability: 'x', type: 't', data: '' }),
      404,
    );
    const bad = await post(`/api/v1/agents/${restartable}/custom-messages`, { capability: '', data: '***', extra: 1 });
    expectProblem(bad, 400);
    expect((bad.body.invalidParams as Array<{ name: string }>).map((p) => p.name).sort()).toEqual([
      'capability',
      'data',
      'extra',
      'type',
    ]);
    expectProblem(await post(`/api/v1/agents/${restartable}/custom-messages`, '{not json'), 400, /not valid JSON/);
    expectProblem(await post(`/api/v1/agents/${restartable}/custom-messages`, [1, 2]), 400, /JSON object/);
  });
});

describe('errors, health and metrics', () => {
  it('404 problem for unknown routes and methods', async () => {
    expectProblem(await get('/api/v1/nothing-here'), 404, /no route GET \/api\/v1\/nothing-here/);
    const del = await fetch(`${base}/api/v1/agents`, { method: 'DELETE' });
    expect(del.status).toBe(404);
    expect(del.headers.get('content-type')).toMatch(/problem\+json/);
  });

  it('serves /healthz, /readyz (Postgres and Redis) and /metrics with the request histogram', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', checks: { postgres: true, redis: true } });
    await get(`/api/v1/agents/${newUid()}`);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(
      /opamp_api_http_request_duration_seconds_bucket\{[^}]*route="\/api\/v1\/agents\/:uid"[^}]*status="404"/,
    );
    expect(metrics).toMatch(/opamp_api_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/agents"/);
  });
});
