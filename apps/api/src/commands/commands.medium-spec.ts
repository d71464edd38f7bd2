// The commands routes over HTTP against real Postgres and Redis: command types (CRUD, schema
// checks), custom commands validated against their type, restart and raw custom messages now
// stored as commands, listing and paging, and bulk commands by selector (dry run, cap, rows and
// control envelopes). Agents are inserted directly; every row carries a per-run label.
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVELOPE_FIELD, EVENT_FIELD, StreamKeys, createRedis, decodeInbound, shardOf } from '@opamp/bus';
import { PrismaService, type Prisma } from '@opamp/database';
import type { InboundEnvelope } from '@opamp/proto';
import { uidFromString, uidToString, uuidv7 } from '@opamp/protocol';
import { loadApiConfig, type ApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { expectProblem, httpClient, type Json } from '../testing/http.js';

const RUN = randomBytes(4).toString('hex');
const CAP = `com.example.medium${RUN}`;
const OTHER_CAP = `com.example.other${RUN}`;
const BULK_MAX = 4;

let app: INestApplication;
let base: string;
let prisma: PrismaService;
let redis: Redis;
let config: ApiConfig;

const { get, post, call } = httpClient(() => base);
const put = (path: string, body: unknown) => call('PUT', path, body);
const del = (path: string) => call('DELETE', path);

const newUid = (): string => uidToString(uuidv7());

function agentRow(uid: string, group: string, caps: bigint, custom: string[] = []): Prisma.AgentCreateManyInput {
  const now = new Date();
  return {
    uid,
    agentType: 'fluentbit',
    description: { identifying: {}, nonIdentifying: {} },
    labels: { testrun: RUN, group },
    connectionState: 'connected',
    capabilities: caps,
    customCapabilities: custom,
    firstSeenAt: now,
    lastSeenAt: now,
  };
}

/** The control envelope carrying `commandId` on the agent's inbound shard (removed once read). */
async function envelopeFor(uid: string, commandId: string): Promise<InboundEnvelope | undefined> {
  const key = StreamKeys.inbound(shardOf(uidFromString(uid)!, config.OPAMP_SHARDS));
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

const RESTART = 0x400n;
const restartable = newUid();
const customAgent = newUid();
const plain = newUid();

beforeAll(async () => {
  config = loadApiConfig({
    ...process.env,
    API_PORT: '0',
    LOG_LEVEL: 'error',
    API_BULK_COMMAND_MAX_AGENTS: String(BULK_MAX),
  });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  redis = createRedis(config.REDIS_URL, { name: 'commands-medium-spec' });
  await redis.connect();
  await prisma.agent.createMany({
    data: [
      agentRow(restartable, 'one', 0x1n | RESTART),
      agentRow(customAgent, 'one', 0x1n, [CAP]),
      agentRow(plain, 'one', 0x1n),
    ],
  });
});

afterAll(async () => {
  if (prisma) {
    const uids = (
      await prisma.$queryRaw<Array<{ uid: string }>>`
        SELECT uid::text AS uid FROM agents WHERE labels @> ${JSON.stringify({ testrun: RUN })}::jsonb`
    ).map((r) => r.uid);
    await prisma.$executeRaw`DELETE FROM commands WHERE agent_uid = ANY(${uids}::uuid[])`;
    await prisma.$executeRaw`DELETE FROM agents WHERE uid = ANY(${uids}::uuid[])`;
    await prisma.$executeRaw`DELETE FROM command_types WHERE capability IN (${CAP}, ${OTHER_CAP})`;
  }
  redis?.disconnect();
  await app?.close();
});

const FLUSH_SCHEMA = {
  type: 'object',
  properties: { input: { type: 'string', minLength: 1 }, seconds: { type: 'integer', minimum: 1 } },
  required: ['input'],
  additionalProperties: false,
};

describe('command types (admin settings)', () => {
  it('PUT creates (201) then replaces (200); GET lists them, by capability', async () => {
    const created = await put(`/api/v1/command-types/${CAP}/flush`, {
      description: 'Flush an input',
      parametersSchema: FLUSH_SCHEMA,
      timeoutSeconds: 30,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      capability: CAP,
      type: 'flush',
      description: 'Flush an input',
      parametersSchema: FLUSH_SCHEMA,
      timeoutSeconds: 30,
    });
    const replaced = await put(`/api/v1/command-types/${CAP}/flush`, { parametersSchema: FLUSH_SCHEMA });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ description: null, timeoutSeconds: 60 });
    expect((await put(`/api/v1/command-types/${CAP}/pause`, { parametersSchema: {} })).status).toBe(201);
    const list = await get(`/api/v1/command-types?capability=${CAP}`);
    expect(list.status).toBe(200);
    expect((list.body.items as Json[]).map((t) => t.type)).toEqual(['flush', 'pause']);
    expect(list.body.nextCursor).toBeNull();
    // The audit log names the command type by capability and type.
    const audited = await prisma.auditEvent.findFirst({
      where: { action: 'command_types.put', resourceId: `${CAP}/flush` },
      orderBy: { id: 'desc' },
    });
    expect(audited).toMatchObject({ resourceType: 'command_type', outcome: 'success', status: 200 });
  });

  it('refuses a schema ajv cannot use (422, each problem named), and bad names (400)', async () => {
    const bad = await put(`/api/v1/command-types/${CAP}/broken`, {
      parametersSchema: { type: 'object', propertiez: {} },
    });
    expectProblem(bad, 422, /propertiez/, 'urn:opampcp:problem:invalid-parameters-schema');
    const wrongType = await put(`/api/v1/command-types/${CAP}/broken`, { parametersSchema: { type: 'objekt' } });
    expectProblem(wrongType, 422);
    expect((wrongType.body.invalidParams as Json[])[0]!.name).toBe('parametersSchema/type');
    expectProblem(await put(`/api/v1/command-types/${CAP}/broken`, { timeoutSeconds: 0 }), 400);
    expectProblem(await put(`/api/v1/command-types/bad%20cap/x`, { parametersSchema: {} }), 400, /capability/);
  });

  it('DELETE answers the deleted type, then 404', async () => {
    await put(`/api/v1/command-types/${OTHER_CAP}/gone`, { parametersSchema: {} });
    const r = await del(`/api/v1/command-types/${OTHER_CAP}/gone`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ capability: OTHER_CAP, type: 'gone' });
    expectProblem(await del(`/api/v1/command-types/${OTHER_CAP}/gone`), 404, /gone/);
  });
});

describe('POST /api/v1/agents/{uid}/commands', () => {
  it('202 with the command; the CustomMessage data is {"commandId","parameters"}; the row is queued with its deadline', async () => {
    const before = Date.now();
    const r = await post(`/api/v1/agents/${customAgent}/commands`, {
      capability: CAP,
      type: 'flush',
      parameters: { input: 'tail.0', seconds: 5 },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const id = r.body.id as string;
    expect(r.body).toMatchObject({
      commandId: id,
      agentUid: customAgent,
      kind: 'custom',
      capability: CAP,
      type: 'flush',
      parameters: { input: 'tail.0', seconds: 5 },
      state: 'queued',
      reason: null,
      result: null,
      bulkId: null,
      sentAt: null,
      completedAt: null,
    });
    expect(r.body.createdBy).toMatch(/^key:/);
    // The type was replaced without a timeout: 60 s.
    const deadline = Date.parse(r.body.deadlineAt as string);
    expect(deadline - before).toBeGreaterThanOrEqual(59_000);
    expect(deadline - before).toBeLessThan(65_000);
    const env = await envelopeFor(customAgent, id);
    const cmd = env?.payload.case === 'control' ? env.payload.value.command : undefined;
    expect(cmd?.case).toBe('customMessage');
    if (cmd?.case === 'customMessage') {
      expect(cmd.value).toMatchObject({ capability: CAP, type: 'flush' });
      expect(JSON.parse(Buffer.from(cmd.value.data).toString('utf8'))).toEqual({
        commandId: id,
        parameters: { input: 'tail.0', seconds: 5 },
      });
    }
    expect((await get(`/api/v1/commands/${id}`)).body).toEqual(r.body);
  });

  it('422 for an unknown type, listing the known types of the capability', async () => {
    const r = await post(`/api/v1/agents/${customAgent}/commands`, { capability: CAP, type: 'reboot' });
    expectProblem(r, 422, /"flush", "pause"/, 'urn:opampcp:problem:unknown-command-type');
    expect(r.body.knownTypes).toEqual(['flush', 'pause']);
    const none = await post(`/api/v1/agents/${customAgent}/commands`, { capability: OTHER_CAP, type: 'x' });
    expectProblem(none, 422, /known types for it: none/);
  });

  it('422 with every schema violation as an invalid param', async () => {
    const r = await post(`/api/v1/agents/${customAgent}/commands`, {
      capability: CAP,
      type: 'flush',
      parameters: { seconds: 0, extra: true },
    });
    expectProblem(r, 422, undefined, 'urn:opampcp:problem:invalid-command-parameters');
    expect((r.body.invalidParams as Json[]).map((p) => p.name).sort()).toEqual([
      'parameters/extra',
      'parameters/input',
      'parameters/seconds',
    ]);
  });

  it('409 when the agent does not declare the capability, 404 unknown agent, 400 bad body', async () => {
    const body = { capability: CAP, type: 'flush', parameters: { input: 'x' } };
    expectProblem(await post(`/api/v1/agents/${plain}/commands`, body), 409, /declared: none/);
    expectProblem(await post(`/api/v1/agents/${newUid()}/commands`, body), 404);
    const bad = await post(`/api/v1/agents/${customAgent}/commands`, { capability: 'a b', extra: 1 });
    expectProblem(bad, 400);
    expect((bad.body.invalidParams as Json[]).map((p) => p.name).sort()).toEqual(['capability', 'extra', 'type']);
  });
});

describe('restart and raw custom messages are commands too', () => {
  it('restart: 202 with commandId and the command resource; the envelope carries its id', async () => {
    const r = await post(`/api/v1/agents/${restartable}/restart`);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({
      commandId: r.body.id,
      agentUid: restartable,
      kind: 'restart',
      state: 'queued',
      capability: null,
    });
    const env = await envelopeFor(restartable, r.body.id as string);
    expect(env?.payload.case === 'control' && env.payload.value.command.case).toBe('restart');
    expectProblem(await post(`/api/v1/agents/${plain}/restart`), 409, /AcceptsRestartCommand/);
  });

  it('custom-messages: the raw data goes out unchanged, the row records capability and type', async () => {
    const r = await post(`/api/v1/agents/${customAgent}/custom-messages`, {
      capability: CAP,
      type: 'raw',
      data: Buffer.from('hello').toString('base64'),
    });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ kind: 'custom', capability: CAP, type: 'raw', parameters: null, state: 'queued' });
    const env = await envelopeFor(customAgent, r.body.id as string);
    const cmd = env?.payload.case === 'control' ? env.payload.value.command : undefined;
    expect(cmd?.case === 'customMessage' && Buffer.from(cmd.value.data).toString()).toBe('hello');
  });

  it('every new command is announced on the command-events stream', async () => {
    const r = await post(`/api/v1/agents/${restartable}/restart`);
    const entries = await redis.xrevrange(StreamKeys.commandEvents, '+', '-', 'COUNT', 50);
    const events = entries.map(([, f]) => JSON.parse(f[f.indexOf(EVENT_FIELD) + 1]!) as Json);
    expect(events).toContainEqual({
      commandId: r.body.id,
      agentUid: restartable,
      kind: 'restart',
      state: 'queued',
      at: r.body.createdAt,
    });
  });
});

describe('GET /api/v1/commands', () => {
  it('filters by agent, kind and state, newest first, with cursor pages', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await post(`/api/v1/agents/${restartable}/restart`)).body.id as string);
    const page1 = await get(`/api/v1/commands?agent=${restartable}&kind=restart&state=queued&limit=2`);
    expect(page1.status).toBe(200);
    const items1 = page1.body.items as Json[];
    expect(items1.map((c) => c.id)).toEqual([ids[2], ids[1]]);
    const page2 = await get(
      `/api/v1/commands?agent=${restartable}&kind=restart&state=queued&limit=2&cursor=${page1.body.nextCursor as string}`,
    );
    expect((page2.body.items as Json[])[0]!.id).toBe(ids[0]);
    expect((await get(`/api/v1/commands?agent=${restartable}&kind=custom`)).body.items).toEqual([]);
    expectProblem(
      await get(`/api/v1/commands?agent=${customAgent}&cursor=${page1.body.nextCursor as string}`),
      400,
      /cursor/,
    );
    expectProblem(await get('/api/v1/commands?state=done'), 400, /unknown state "done"/);
  });

  it('GET /commands/{id}: 404 unknown, 400 not an id', async () => {
    expectProblem(await get(`/api/v1/commands/${newUid()}`), 404, /No command/);
    expectProblem(await get('/api/v1/commands/42'), 400);
  });
});

describe('POST /api/v1/commands/bulk', () => {
  const group = 'bulk';
  const eligible = [newUid(), newUid(), newUid()];
  const ineligible = [newUid(), newUid()];

  beforeAll(async () => {
    await prisma.agent.createMany({
      data: [
        ...eligible.map((u) => agentRow(u, group, 0x1n | RESTART, [CAP])),
        ...ineligible.map((u) => agentRow(u, group, 0x1n)),
      ],
    });
  });

  const selector = `testrun=${RUN},group=${group}`;

  it('dry run: counts only (matched, eligible, ineligible by reason), nothing stored', async () => {
    const r = await post('/api/v1/commands/bulk', { selector, command: { kind: 'restart' }, dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ dryRun: true, matched: 5, eligible: 3, ineligible: { noAcceptsRestartCommand: 2 } });
    const custom = await post('/api/v1/commands/bulk', {
      selector,
      command: { kind: 'custom', capability: CAP, type: 'flush', parameters: { input: 'x' } },
      dryRun: true,
    });
    expect(custom.body).toEqual({ dryRun: true, matched: 5, eligible: 3, ineligible: { capabilityNotDeclared: 2 } });
    const none = await prisma.$queryRaw<Array<{ n: number }>>`
      SELECT count(*)::int AS n FROM commands WHERE agent_uid = ANY(${eligible}::uuid[])`;
    expect(none[0]!.n).toBe(0);
  });

  it('creates one command per eligible agent (one bulk id) and hands each its own envelope', async () => {
    const r = await post('/api/v1/commands/bulk', {
      selector,
      command: { kind: 'custom', capability: CAP, type: 'flush', parameters: { input: 'tail.0' } },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ matched: 5, queued: 3, skipped: 2, failed: 0 });
    const bulkId = r.body.bulkId as string;
    const list = await get(`/api/v1/commands?bulkId=${bulkId}`);
    const items = list.body.items as Json[];
    expect(items.map((c) => c.agentUid).sort()).toEqual([...eligible].sort());
    for (const c of items) {
      expect(c).toMatchObject({ bulkId, state: 'queued', kind: 'custom', parameters: { input: 'tail.0' } });
      const env = await envelopeFor(c.agentUid as string, c.id as string);
      const cmd = env?.payload.case === 'control' ? env.payload.value.command : undefined;
      expect(cmd?.case === 'customMessage' && JSON.parse(Buffer.from(cmd.value.data).toString())).toEqual({
        commandId: c.id,
        parameters: { input: 'tail.0' },
      });
    }
  });

  it(`refuses (422) a bulk over API_BULK_COMMAND_MAX_AGENTS (${BULK_MAX} here) and checks custom commands`, async () => {
    await prisma.agent.createMany({
      data: [newUid(), newUid()].map((u) => agentRow(u, group, 0x1n | RESTART)),
    });
    const r = await post('/api/v1/commands/bulk', { selector, command: { kind: 'restart' } });
    expectProblem(r, 422, /addresses 5 eligible agents; one bulk command may address at most 4/);
    // The dry run still counts (so a person can see why).
    expect(
      (await post('/api/v1/commands/bulk', { selector, command: { kind: 'restart' }, dryRun: true })).body,
    ).toMatchObject({ eligible: 5 });
    const unknownType = await post('/api/v1/commands/bulk', {
      selector,
      command: { kind: 'custom', capability: CAP, type: 'nope' },
      dryRun: true,
    });
    expectProblem(unknownType, 422, /known types/);
    const badParams = await post('/api/v1/commands/bulk', {
      selector,
      command: { kind: 'custom', capability: CAP, type: 'flush', parameters: {} },
    });
    expectProblem(badParams, 422, /parameters\/input/);
    expectProblem(await post('/api/v1/commands/bulk', { selector: 'a in (', command: { kind: 'restart' } }), 400);
  });
});
