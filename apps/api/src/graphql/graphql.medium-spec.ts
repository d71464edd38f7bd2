// GraphQL at /graphql over HTTP and graphql-ws against real Postgres and Redis: the same services
// as REST behind it, authentication, roles per field, error codes, audit entries, and a
// subscription fed from the rollout event stream. Second pass: commands and command types, the
// fleet summary, label patches and forgetting, enrollment tokens, API keys and the audit log.
import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PrismaService } from '@opamp/database';
import { RolloutQueue, publishRolloutEvent } from '@opamp/rollouts';
import { cleanupRun, seedAgents } from '../../../../test/support/rollout-store-fixtures.js';
import { TEST_ADMIN_API_KEY } from '../../../../test/support/env.js';
import { loadApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { BusService } from '../redis/bus.service.js';
import { httpClient } from '../testing/http.js';

const RUN = `gq${randomBytes(4).toString('hex')}`;
const CONFIG = `gql-${RUN}`;
const CAP = `com.example.gql${RUN}`;
const STARTED_AT = new Date().toISOString();
const fluentBit = (output: string): string =>
  `[SERVICE]\n    Flush 1\n\n[INPUT]\n    Name dummy\n\n[OUTPUT]\n    Name  ${output}\n    Match *\n`;

let app: INestApplication;
let base: string;
let prisma: PrismaService;
let queue: RolloutQueue;
let viewerKey: string;
let operatorKey: string;
const clients: Client[] = [];

interface GqlReply {
  status: number;
  type: string;
  body: {
    data?: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test reads nested data freely
    errors?: Array<{ message: string; extensions: Record<string, unknown> }>;
    [k: string]: unknown;
  };
}

async function gql(
  query: string,
  variables?: Record<string, unknown>,
  key: string | null = TEST_ADMIN_API_KEY,
  body?: unknown,
): Promise<GqlReply> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'graphql-medium-spec' };
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers,
    body: body !== undefined ? (body as string) : JSON.stringify({ query, variables }),
  });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: (await res.json()) as GqlReply['body'],
  };
}

const codes = (r: GqlReply): unknown[] => (r.body.errors ?? []).map((e) => e.extensions.code);

beforeAll(async () => {
  const cfg = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(cfg, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  queue = RolloutQueue.connect(cfg.REDIS_URL, 'graphql-medium-spec');
  const key = await httpClient(() => base).post('/api/v1/api-keys', { name: `viewer-${RUN}`, role: 'viewer' });
  expect(key.status, JSON.stringify(key.body)).toBe(201);
  viewerKey = key.body.key as string;
  const op = await httpClient(() => base).post('/api/v1/api-keys', { name: `operator-${RUN}`, role: 'operator' });
  expect(op.status, JSON.stringify(op.body)).toBe(201);
  operatorKey = op.body.key as string;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  if (prisma) {
    // No worker runs here: drop the advance jobs this file's rollouts left in the queue.
    const ids = new Set(
      (await prisma.rollout.findMany({ where: { config: { name: CONFIG } }, select: { id: true } })).map((r) => r.id),
    );
    for (const job of await queue.queue.getJobs(['waiting', 'delayed', 'prioritized'])) {
      if (job && ids.has((job.data as { rolloutId?: string }).rolloutId ?? ''))
        await job.remove().catch(() => undefined);
    }
    await cleanupRun(prisma, RUN, [CONFIG]);
    await prisma.$executeRaw`DELETE FROM command_types WHERE capability = ${CAP}`;
    await prisma.enrollmentToken.deleteMany({ where: { name: { startsWith: RUN } } });
  }
  await queue?.close();
  await app?.close();
});

describe('POST /graphql: authentication and request errors', () => {
  it('refuses a request without a valid key with a problem+json 401, like REST', async () => {
    for (const key of [null, 'opk_not-a-real-key-0000000000000000000000000000']) {
      const r = await gql('{ me { id } }', undefined, key);
      expect(r.status).toBe(401);
      expect(r.type).toMatch(/^application\/problem\+json/);
      expect(r.body).toMatchObject({ status: 401, detail: expect.any(String) });
    }
    const get = await fetch(`${base}/graphql`, { headers: { authorization: `Bearer ${TEST_ADMIN_API_KEY}` } });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('answers who is calling', async () => {
    expect((await gql('{ me { id type role } }')).body.data).toEqual({
      me: { id: expect.stringMatching(/^key:/), type: 'api_key', role: 'admin' },
    });
    expect((await gql('{ me { role } }', undefined, viewerKey)).body.data).toEqual({ me: { role: 'viewer' } });
  });

  it('answers 400 with a code for documents that do not parse or validate, subscriptions, bad variables and bodies', async () => {
    const parseError = await gql('{ me { id }');
    expect([parseError.status, codes(parseError)]).toEqual([400, ['GRAPHQL_PARSE_FAILED']]);
    const unknownField = await gql('{ me { id password } }');
    expect([unknownField.status, codes(unknownField)]).toEqual([400, ['GRAPHQL_VALIDATION_FAILED']]);
    const sub = await gql('subscription { rolloutProgress { id } }');
    expect([sub.status, codes(sub)]).toEqual([400, ['BAD_REQUEST']]);
    const variable = await gql('query ($n: Int) { agents(limit: $n) { nextCursor } }', { n: 'ten' });
    expect([variable.status, codes(variable)]).toEqual([400, ['BAD_USER_INPUT']]);
    const notGraphql = await gql('', undefined, TEST_ADMIN_API_KEY, JSON.stringify({ mutation: 'x' }));
    expect([notGraphql.status, codes(notGraphql)]).toEqual([400, ['BAD_REQUEST']]);
  });
});

describe('queries and mutations over the REST services', () => {
  it('creates a config and versions (idempotent), reads them back and diffs them; invalid content is BAD_USER_INPUT with the problems', async () => {
    const create = `mutation ($in: CreateConfigInput!) { createConfig(input: $in) { created config { name agentType versionCount } } }`;
    const input = { name: CONFIG, agentType: 'fluentbit', description: null };
    expect((await gql(create, { in: input })).body.data).toEqual({
      createConfig: { created: true, config: { name: CONFIG, agentType: 'fluentbit', versionCount: 0 } },
    });
    expect((await gql(create, { in: input })).body.data?.createConfig.created).toBe(false);

    const add = `mutation ($c: String!, $f: [ConfigFileInput!]!) { addConfigVersion(config: $c, files: $f) { created version { version hash files { name size } } } }`;
    const file = (output: string) => [
      { name: 'fluent-bit.conf', contentType: 'text/plain', content: fluentBit(output), encoding: null },
    ];
    const v1 = await gql(add, { c: CONFIG, f: file('stdout') });
    expect(v1.body.data?.addConfigVersion).toMatchObject({
      created: true,
      version: { version: 1, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect((await gql(add, { c: CONFIG, f: file('stdout') })).body.data?.addConfigVersion).toMatchObject({
      created: false,
      version: { version: 1 },
    });
    expect((await gql(add, { c: CONFIG, f: file('null') })).body.data?.addConfigVersion.version.version).toBe(2);

    const invalid = await gql(add, {
      c: CONFIG,
      f: [{ name: 'fluent-bit.conf', contentType: 'text/plain', content: '[INPUT]\n    Tag x\n' }],
    });
    expect(invalid.status).toBe(200);
    expect(invalid.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      status: 422,
      problems: expect.any(Array),
    });

    const read = await gql(
      `query ($c: String!) {
        versions(config: $c, limit: 1) { items { version } nextCursor }
        version(config: $c, version: 1) { files { name encoding content } }
        diff(config: $c, from: 1, to: 2) { identical summary { changed } files { name status patch } }
        missing: config(name: "no-such-config-${RUN}") { name }
      }`,
      { c: CONFIG },
    );
    expect(read.body.data).toMatchObject({
      versions: { items: [{ version: 2 }], nextCursor: expect.any(String) },
      version: { files: [{ name: 'fluent-bit.conf', encoding: 'utf8', content: fluentBit('stdout') }] },
      diff: {
        identical: false,
        summary: { changed: 1 },
        files: [{ name: 'fluent-bit.conf', status: 'changed', patch: expect.stringContaining('+    Name  null') }],
      },
      missing: null,
    });
    expect(read.body.errors).toEqual([
      expect.objectContaining({
        path: ['missing'],
        extensions: expect.objectContaining({ code: 'NOT_FOUND', status: 404 }),
      }),
    ]);
  });

  it('lists agents with the REST filters and cursor, reads one, and sets its labels', async () => {
    const uids = await seedAgents(prisma, RUN, [
      { labels: { group: 'a' } },
      { labels: { group: 'a' } },
      { labels: { group: 'a' }, connectionState: 'offline' },
    ]);
    const list = `query ($s: String, $c: String) { agents(selector: $s, status: [connected], limit: 1, cursor: $c) { items { uid labels capabilities { names } connectionState } nextCursor } }`;
    const selector = `testrun=${RUN},group=a`;
    const p1 = await gql(list, { s: selector });
    const p2 = await gql(list, { s: selector, c: p1.body.data?.agents.nextCursor });
    const connected = [...uids.slice(0, 2)].sort();
    expect([p1.body.data?.agents.items[0].uid, p2.body.data?.agents.items[0].uid]).toEqual(connected);
    expect(p2.body.data?.agents.nextCursor).toBeNull();
    expect(p1.body.data?.agents.items[0]).toMatchObject({
      connectionState: 'connected',
      capabilities: { names: expect.arrayContaining(['AcceptsRemoteConfig']) },
    });
    const wrongCursor = await gql(list, { s: `testrun=${RUN}`, c: p1.body.data?.agents.nextCursor });
    expect(wrongCursor.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      invalidParams: [{ name: 'cursor' }],
    });

    const set = await gql(
      `mutation ($u: ID!, $l: JSON!) { setAgentLabels(uid: $u, labels: $l) { labels mergedLabels } }`,
      {
        u: uids[0],
        l: { testrun: RUN, group: 'a', tier: 'edge' },
      },
    );
    expect(set.body.data?.setAgentLabels).toMatchObject({
      labels: { tier: 'edge' },
      mergedLabels: { 'service.name': 'fluent-bit', tier: 'edge' },
    });
    const badLabel = await gql(`mutation ($u: ID!, $l: JSON!) { setAgentLabels(uid: $u, labels: $l) { uid } }`, {
      u: uids[0],
      l: { '-bad': 'x' },
    });
    expect(badLabel.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', status: 422 });

    const one = await gql(
      `query ($u: ID!) { agent(uid: $u) { uid labels customCapabilities effectiveConfig { hash } } }`,
      { u: uids[0]!.toUpperCase() },
    );
    expect(one.body.data?.agent).toMatchObject({ uid: uids[0], labels: { tier: 'edge' }, customCapabilities: [] });
    const restart = await gql(`mutation ($u: ID!) { restartAgent(uid: $u) { id state } }`, { u: uids[0] });
    expect(restart.body.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', status: 409 });
  });

  it('plans, starts and controls a rollout; an invalid transition is CONFLICT', async () => {
    await seedAgents(prisma, RUN, [{ labels: { group: 'r' } }, { labels: { group: 'r' } }]);
    const create = `mutation ($in: CreateRolloutInput!) { createRollout(input: $in) { id dryRun state plan { targets stages { waves } } rollout { id state createdBy } } }`;
    const input = {
      config: CONFIG,
      version: 2,
      selector: `testrun=${RUN},group=r`,
      strategy: { firstWave: 1, soakSeconds: 1 },
    };
    const dry = await gql(create, { in: { ...input, dryRun: true } });
    expect(dry.body.data?.createRollout).toEqual({
      id: null,
      dryRun: true,
      state: 'planned',
      plan: { targets: 2, stages: [{ waves: [1, 1] }] },
      rollout: null,
    });
    const created = await gql(create, { in: input });
    const id = created.body.data?.createRollout.id as string;
    expect(created.body.data?.createRollout).toMatchObject({
      dryRun: false,
      state: 'running',
      rollout: { id, state: 'running', createdBy: expect.stringMatching(/^key:/) },
    });

    const paused = await gql(`mutation ($id: ID!) { pauseRollout(id: $id, reason: "checking") { state reason } }`, {
      id,
    });
    expect(paused.body.data?.pauseRollout).toEqual({ state: 'paused', reason: 'checking' });
    const cause = await gql(`query ($id: ID!) { rollout(id: $id) { pauseCause } }`, { id });
    expect(cause.body.data?.rollout).toEqual({ pauseCause: 'person' });
    const aborted = await gql(`mutation ($id: ID!) { abortRollout(id: $id) { state } }`, { id });
    expect(aborted.body.data?.abortRollout.state).toBe('aborted');
    const resume = await gql(`mutation ($id: ID!) { resumeRollout(id: $id) { state } }`, { id });
    expect(resume.body.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', status: 409, state: 'aborted' });

    const listed = await gql(
      `query ($c: String) { rollouts(config: $c, state: [aborted]) { items { id state targets } } }`,
      { c: CONFIG },
    );
    expect(listed.body.data?.rollouts.items).toEqual([{ id, state: 'aborted', targets: 2 }]);
    const detail = await gql(
      `query ($id: ID!) { rollout(id: $id) { counts { skipped } waves { size } stages { name } } }`,
      { id },
    );
    expect(detail.body.data?.rollout).toMatchObject({ waves: [{ size: 1 }, { size: 1 }], stages: [{ name: 'all' }] });
  });
});

describe('roles and audit', () => {
  it('a viewer may read but not mutate (FORBIDDEN); GraphQL mutations are in the audit log, denied ones too', async () => {
    const read = await gql(`query ($n: String!) { config(name: $n) { name } }`, { n: CONFIG }, viewerKey);
    expect(read.body.data).toEqual({ config: { name: CONFIG } });
    const denied = await gql(
      `mutation ($in: CreateConfigInput!) { createConfig(input: $in) { created } }`,
      { in: { name: `${CONFIG}-x`, agentType: 'generic' } },
      viewerKey,
    );
    expect(denied.status).toBe(200);
    expect(codes(denied)).toEqual(['FORBIDDEN']);
    expect(denied.body.errors?.[0]?.message).toMatch(/needs the operator role/);

    const audit = await httpClient(() => base).get(`/api/v1/audit?action=configs.create&resourceId=${CONFIG}-x`);
    expect(audit.body.items).toEqual([
      expect.objectContaining({
        interface: 'graphql',
        outcome: 'denied',
        status: 403,
        actorRole: 'viewer',
        userAgent: 'graphql-medium-spec',
      }),
    ]);
    const created = await httpClient(() => base).get(
      `/api/v1/audit?action=configs.create&resourceId=${CONFIG}&outcome=success`,
    );
    expect(created.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ interface: 'graphql', path: '/graphql', actorRole: 'admin', status: 200 }),
      ]),
    );
  });
});

describe('commands, fleet, credentials and the audit log', () => {
  const RESTART = 0x400n;
  const selector = `testrun=${RUN},group=cmd`;
  let custom: string;

  beforeAll(async () => {
    [, custom] = await seedAgents(prisma, RUN, [
      { labels: { group: 'cmd' }, capabilities: 0x1n | RESTART },
      { labels: { group: 'cmd' } },
      { labels: { group: 'cmd' }, connectionState: 'offline' },
    ]);
    await prisma.agent.update({ where: { uid: custom }, data: { customCapabilities: [CAP] } });
  });

  it('manages command types as admin only; sendCommand refuses bad input with BAD_USER_INPUT and invalidParams', async () => {
    const put = `mutation ($c: String!, $t: String!, $s: JSON!) { putCommandType(capability: $c, type: $t, parametersSchema: $s, timeoutSeconds: 30) { created commandType { capability type parametersSchema timeoutSeconds } } }`;
    const schema = { type: 'object', properties: { input: { type: 'string' } }, required: ['input'] };
    const denied = await gql(put, { c: CAP, t: 'flush', s: schema }, operatorKey);
    expect(codes(denied)).toEqual(['FORBIDDEN']);
    expect(denied.body.errors?.[0]?.message).toMatch(/needs the admin role/);
    const created = await gql(put, { c: CAP, t: 'flush', s: schema });
    expect(created.body.data?.putCommandType).toEqual({
      created: true,
      commandType: { capability: CAP, type: 'flush', parametersSchema: schema, timeoutSeconds: 30 },
    });
    expect((await gql(put, { c: CAP, t: 'flush', s: schema })).body.data?.putCommandType.created).toBe(false);
    const badSchema = await gql(put, { c: CAP, t: 'broken', s: { type: 'objekt' } });
    expect(badSchema.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', status: 422 });
    const listed = await gql(`query ($c: String) { commandTypes(capability: $c) { items { type } nextCursor } }`, {
      c: CAP,
    });
    expect(listed.body.data?.commandTypes).toEqual({ items: [{ type: 'flush' }], nextCursor: null });

    const send = `mutation ($u: ID!, $c: String!, $t: String!, $p: JSON) { sendCommand(uid: $u, capability: $c, type: $t, parameters: $p) { id state } }`;
    const shape = await gql(send, { u: custom, c: 'not a capability', t: '', p: null }, operatorKey);
    expect(shape.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      status: 400,
      invalidParams: [{ name: 'capability' }, { name: 'type' }],
    });
    const params = await gql(send, { u: custom, c: CAP, t: 'flush', p: { input: 7 } }, operatorKey);
    expect(params.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      status: 422,
      invalidParams: [expect.objectContaining({ name: expect.stringContaining('input') })],
    });
    const unknownType = await gql(send, { u: custom, c: CAP, t: 'nope', p: {} }, operatorKey);
    expect(unknownType.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      status: 422,
      knownTypes: ['flush'],
    });
    const badUid = await gql(send, { u: 'nope', c: CAP, t: 'flush', p: {} }, operatorKey);
    expect(badUid.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      invalidParams: [{ name: 'uid' }],
    });

    const read = await gql(
      `query ($u: ID!, $id: ID!) { commands(agent: $u, state: [queued, sent]) { items { id } nextCursor } command(id: $id) { id } }`,
      {
        u: custom,
        id: randomUUID(),
      },
    );
    expect(read.body.data).toEqual({ commands: { items: [], nextCursor: null }, command: null });
    expect(codes(read)).toEqual(['NOT_FOUND']);

    const deleted = await gql(`mutation ($c: String!) { deleteCommandType(capability: $c, type: "flush") { type } }`, {
      c: CAP,
    });
    expect(deleted.body.data?.deleteCommandType).toEqual({ type: 'flush' });
    const again = await gql(`mutation ($c: String!) { deleteCommandType(capability: $c, type: "flush") { type } }`, {
      c: CAP,
    });
    expect(codes(again)).toEqual(['NOT_FOUND']);
  });

  it('bulkCommand with dryRun counts matched, eligible and ineligible agents; refuses a malformed command', async () => {
    const bulk = `mutation ($s: String!, $c: BulkCommandInput!) { bulkCommand(selector: $s, command: $c, dryRun: true) { dryRun matched eligible ineligible bulkId queued } }`;
    const restart = await gql(bulk, { s: selector, c: { kind: 'restart' } }, operatorKey);
    expect(restart.body).toEqual({
      data: {
        bulkCommand: {
          dryRun: true,
          matched: 3,
          eligible: 1,
          ineligible: { noAcceptsRestartCommand: 2 },
          bulkId: null,
          queued: null,
        },
      },
    });
    await gql(
      `mutation ($c: String!) { putCommandType(capability: $c, type: "pause", parametersSchema: {}) { created } }`,
      { c: CAP },
    );
    const customDry = await gql(
      bulk,
      { s: selector, c: { kind: 'custom', capability: CAP, type: 'pause' } },
      operatorKey,
    );
    expect(customDry.body.data?.bulkCommand).toMatchObject({
      matched: 3,
      eligible: 1,
      ineligible: { capabilityNotDeclared: 2 },
    });
    const malformed = await gql(bulk, { s: selector, c: { kind: 'restart', capability: CAP } }, operatorKey);
    expect(malformed.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      invalidParams: [{ name: 'command.capability' }],
    });
    const viewer = await gql(bulk, { s: selector, c: { kind: 'restart' } }, viewerKey);
    expect(codes(viewer)).toEqual(['FORBIDDEN']);
  });

  it('summarises the fleet a selector matches', async () => {
    const q = `query ($s: String, $t: Int) { fleetSummary(selector: $s, top: $t) { total status { connected disconnected offline } health { healthy unhealthy unknown } agentTypes versions { top { serviceName serviceVersion count } other distinct } configHashes { top { hash count } other none distinct } drift { inSync noDesired } generatedAt } }`;
    const r = await gql(q, { s: selector, t: 1 }, viewerKey);
    expect(r.body).toEqual({
      data: {
        fleetSummary: {
          total: 3,
          status: { connected: 2, disconnected: 0, offline: 1 },
          health: { healthy: 0, unhealthy: 0, unknown: 3 },
          agentTypes: { fluentbit: 3 },
          versions: { top: [{ serviceName: null, serviceVersion: null, count: 3 }], other: 0, distinct: 1 },
          configHashes: { top: [], other: 0, none: 3, distinct: 0 },
          drift: { inSync: 0, noDesired: 3 },
          generatedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        },
      },
    });
    const bad = await gql(q, { s: selector, t: 0 }, viewerKey);
    expect(bad.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      invalidParams: [{ name: 'top' }],
    });
  });

  it('patches an agent’s labels and forgets agents (CONFLICT while connected unless force)', async () => {
    const [connected, offline] = await seedAgents(prisma, RUN, [
      { labels: { group: 'lab', zone: 'a' } },
      { labels: { group: 'lab' }, connectionState: 'offline' },
    ]);
    const patch = `mutation ($u: ID!, $set: JSON, $rm: [String!]) { patchAgentLabels(uid: $u, set: $set, remove: $rm) { uid labels } }`;
    const patched = await gql(patch, { u: connected, set: { tier: 'edge' }, rm: ['zone'] }, operatorKey);
    expect(patched.body.data?.patchAgentLabels).toEqual({
      uid: connected,
      labels: { testrun: RUN, group: 'lab', tier: 'edge' },
    });
    const both = await gql(patch, { u: connected, set: { tier: 'x' }, rm: ['tier'] }, operatorKey);
    expect(both.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', status: 400 });
    const one = await gql(`query ($u: ID!) { agent(uid: $u) { labels enrollmentTokenId } }`, { u: connected });
    expect(one.body.data?.agent).toEqual({
      labels: { testrun: RUN, group: 'lab', tier: 'edge' },
      enrollmentTokenId: null,
    });

    const forget = `mutation ($u: ID!, $f: Boolean) { forgetAgent(uid: $u, force: $f) { uid forgotten wasConnected deleted { events } } }`;
    const refused = await gql(forget, { u: connected }, operatorKey);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', status: 409 });
    expect((await gql(forget, { u: connected, f: true }, operatorKey)).body.data?.forgetAgent).toEqual({
      uid: connected,
      forgotten: true,
      wasConnected: true,
      deleted: { events: 0 },
    });
    expect((await gql(forget, { u: offline }, operatorKey)).body.data?.forgetAgent).toMatchObject({
      forgotten: true,
      wasConnected: false,
    });
    const gone = await gql(`query ($u: ID!) { agent(uid: $u) { uid } }`, { u: connected });
    expect([gone.body.data?.agent, codes(gone)]).toEqual([null, ['NOT_FOUND']]);
  });

  it('creates and revokes enrollment tokens as admin (the token once); an operator gets FORBIDDEN', async () => {
    const create = `mutation ($in: CreateEnrollmentTokenInput!) { createEnrollmentToken(input: $in) { id name prefix labels status createdBy expiresAt token } }`;
    const input = { name: `${RUN}-edge`, labels: { env: 'prod' }, ttlSeconds: 3600 };
    const denied = await gql(create, { in: input }, operatorKey);
    expect(codes(denied)).toEqual(['FORBIDDEN']);
    const list = `query { enrollmentTokens(includeRevoked: true, limit: 500) { items { id status } } }`;
    expect(codes(await gql(list, undefined, operatorKey))).toEqual(['FORBIDDEN']);

    const created = await gql(create, { in: input });
    const token = created.body.data?.createEnrollmentToken;
    expect(token).toMatchObject({
      name: `${RUN}-edge`,
      labels: { env: 'prod' },
      status: 'active',
      createdBy: expect.stringMatching(/^key:/),
      expiresAt: expect.stringMatching(/^\d{4}-/),
      token: expect.stringMatching(/^oet_/),
    });
    expect(token.token.startsWith(token.prefix)).toBe(true);
    const read = await gql(`query ($id: ID!) { enrollmentToken(id: $id) { id status } }`, { id: token.id });
    expect(read.body.data?.enrollmentToken).toEqual({ id: token.id, status: 'active' });
    expect(JSON.stringify(read.body)).not.toContain(token.token);
    const badLabels = await gql(create, { in: { name: `${RUN}-bad`, labels: { '-x': 'y' } } });
    expect(badLabels.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', status: 422 });
    const past = await gql(create, { in: { name: `${RUN}-past`, expiresAt: '2020-01-01T00:00:00Z' } });
    expect(past.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      invalidParams: [{ name: 'expiresAt', reason: 'must be in the future' }],
    });

    const revoke = `mutation ($id: ID!) { revokeEnrollmentToken(id: $id) { id status revokedBy revokedAt } }`;
    const revoked = await gql(revoke, { id: token.id });
    expect(revoked.body.data?.revokeEnrollmentToken).toMatchObject({
      id: token.id,
      status: 'revoked',
      revokedBy: expect.stringMatching(/^key:/),
    });
    const twice = await gql(revoke, { id: token.id });
    expect(twice.body.data?.revokeEnrollmentToken.revokedAt).toBe(revoked.body.data?.revokeEnrollmentToken.revokedAt);
    const listed = await gql(list);
    expect(listed.body.data?.enrollmentTokens.items).toEqual(
      expect.arrayContaining([{ id: token.id, status: 'revoked' }]),
    );
    expect(codes(await gql(revoke, { id: randomUUID() }))).toEqual(['NOT_FOUND']);
  });

  it('createApiKey answers the key once, it works, and revokeApiKey stops it', async () => {
    const created = await gql(
      `mutation ($in: CreateApiKeyInput!) { createApiKey(input: $in) { id name role prefix status rateLimitPerMinute key } }`,
      { in: { name: `${RUN}-ci`, role: 'operator', rateLimitPerMinute: 600 } },
    );
    const key = created.body.data?.createApiKey;
    expect(key).toMatchObject({
      name: `${RUN}-ci`,
      role: 'operator',
      status: 'active',
      rateLimitPerMinute: 600,
      key: expect.stringMatching(/^opk_/),
    });
    expect((await gql('{ me { id role } }', undefined, key.key)).body.data?.me).toEqual({
      id: `key:${key.id}`,
      role: 'operator',
    });
    const read = await gql(`query ($id: ID!) { apiKey(id: $id) { id prefix lastUsedAt } }`, { id: key.id });
    expect(read.body.data?.apiKey).toMatchObject({ id: key.id, prefix: key.prefix });
    expect(JSON.stringify(read.body)).not.toContain(key.key);
    expect(codes(await gql(`{ apiKeys { nextCursor } }`, undefined, operatorKey))).toEqual(['FORBIDDEN']);
    const shortTtl = await gql(`mutation { createApiKey(input: {name: "x", role: admin, ttlSeconds: 5}) { id } }`);
    expect(shortTtl.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      invalidParams: [{ name: 'ttlSeconds' }],
    });

    const revoked = await gql(`mutation ($id: ID!) { revokeApiKey(id: $id) { status revokedBy } }`, { id: key.id });
    expect(revoked.body.data?.revokeApiKey).toEqual({ status: 'revoked', revokedBy: expect.stringMatching(/^key:/) });
    expect((await gql('{ me { id } }', undefined, key.key)).status).toBe(401);
    const all = await gql(`{ apiKeys(includeRevoked: true, limit: 500) { items { id status } } }`);
    expect(all.body.data?.apiKeys.items).toEqual(expect.arrayContaining([{ id: key.id, status: 'revoked' }]));
  });

  it('auditEvents shows the GraphQL mutations of this file with interface graphql, denied ones too', async () => {
    const admin = (await gql('{ me { id } }')).body.data?.me.id as string;
    const operator = (await gql('{ me { id } }', undefined, operatorKey)).body.data?.me.id as string;
    const q = `query ($actor: String, $action: String, $outcome: AuditOutcome, $since: DateTime) {
      auditEvents(actor: $actor, action: $action, outcome: $outcome, since: $since, limit: 500) {
        items { action resourceType resourceId interface path outcome status actorRole detail }
      }
    }`;
    const tokens = await gql(q, { actor: admin, action: 'enrollment_tokens.*', since: STARTED_AT }, viewerKey);
    const items = tokens.body.data?.auditEvents.items as Array<Record<string, unknown>>;
    expect(items.map((e) => [e.action, e.outcome, e.interface])).toEqual(
      expect.arrayContaining([
        ['enrollment_tokens.create', 'success', 'graphql'],
        ['enrollment_tokens.revoke', 'success', 'graphql'],
        ['enrollment_tokens.create', 'failure', 'graphql'],
      ]),
    );
    expect(items.filter((e) => e.interface === 'graphql').every((e) => e.path === '/graphql')).toBe(true);

    const dry = await gql(q, { actor: operator, action: 'commands.bulk', since: STARTED_AT }, viewerKey);
    expect(dry.body.data?.auditEvents.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          interface: 'graphql',
          outcome: 'success',
          actorRole: 'operator',
          detail: expect.objectContaining({
            field: 'Mutation.bulkCommand',
            dryRun: true,
            // What was asked, as the REST audit keeps a body.
            args: expect.objectContaining({ selector: expect.any(String), dryRun: true }),
          }),
        }),
      ]),
    );
    const denied = await gql(
      q,
      { actor: operator, action: 'command_types.put', outcome: 'denied', since: STARTED_AT },
      viewerKey,
    );
    expect(denied.body.data?.auditEvents.items).toEqual([
      expect.objectContaining({
        resourceType: 'command_type',
        resourceId: `${CAP}/flush`,
        status: 403,
        actorRole: 'operator',
      }),
    ]);
    const forgotten = await gql(q, { actor: operator, action: 'agents.forget', outcome: 'success', since: STARTED_AT });
    expect(forgotten.body.data?.auditEvents.items).toHaveLength(2);
    const bad = await gql(`{ auditEvents(action: "") { nextCursor } }`);
    expect(bad.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      invalidParams: [{ name: 'action' }],
    });
  });
});

describe('graphql-ws at /graphql', () => {
  const wsUrl = (): string => `${base.replace('http', 'ws')}/graphql`;

  function client(connectionParams: Record<string, unknown>): Client {
    const c = createClient({ url: wsUrl(), webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
    clients.push(c);
    return c;
  }

  it('closes a connection without valid credentials with 4401', async () => {
    for (const payload of [{}, { authorization: 'Bearer opk_nope' }]) {
      const ws = new WebSocket(wsUrl(), 'graphql-transport-ws');
      await new Promise((resolve) => ws.once('open', resolve));
      ws.send(JSON.stringify({ type: 'connection_init', payload }));
      const [code, reason] = await new Promise<[number, string]>((resolve) =>
        ws.once('close', (c, r) => resolve([c, r.toString()])),
      );
      expect(code).toBe(4401);
      expect(reason).toMatch(/API key|Bearer/);
    }
  });

  it('delivers rollout progress of the subscribed rollout only, with the token in connection_init', async () => {
    const id = randomUUID();
    const redis = app.get(BusService).redis;
    const c = client({ token: viewerKey });
    const events = c.iterate<{
      rolloutProgress: { id: string; rolloutId: string; type: string; step: number; counts: { applied: number } };
    }>({
      query: `subscription ($id: ID) { rolloutProgress(id: $id) { id rolloutId type step counts { applied } } }`,
      variables: { id },
    });
    // The server subscribes once the client's subscribe message arrives: publish (with noise of
    // another rollout) until the first event gets through.
    const first = events.next();
    let delivered = false;
    void first.then(() => (delivered = true));
    for (let step = 1; step <= 50 && !delivered; step++) {
      const at = new Date().toISOString();
      await publishRolloutEvent(redis, {
        rolloutId: randomUUID(),
        step,
        at,
        type: 'noise',
        state: 'running',
        stage: 0,
        wave: null,
      });
      await publishRolloutEvent(redis, {
        rolloutId: id,
        step,
        at,
        type: 'wave_passed',
        state: 'running',
        stage: 0,
        wave: 0,
        counts: { pending: 0, applying: 0, applied: 5, failed: 0, timed_out: 0, skipped: 0 },
      });
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await first;
    expect(r.value?.data?.rolloutProgress).toMatchObject({
      rolloutId: id,
      type: 'wave_passed',
      counts: { applied: 5 },
    });
    expect(r.value?.data?.rolloutProgress.id).toMatch(/^rollout:\d+-\d+$/);
    await events.return?.();
  });

  it('checks roles per operation over WebSocket too', async () => {
    const c = client({ authorization: `Bearer ${viewerKey}` });
    const result = await new Promise<{ errors?: Array<{ extensions?: Record<string, unknown> }> }>(
      (resolve, reject) => {
        c.subscribe(
          { query: `mutation { abortRollout(id: "${randomUUID()}") { id } }` },
          { next: (v) => resolve(v as never), error: reject, complete: () => undefined },
        );
      },
    );
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
