// GraphQL at /graphql over HTTP and graphql-ws against real Postgres and Redis: the same services
// as REST behind it, authentication, roles per field, error codes, audit entries, and a
// subscription fed from the rollout event stream.
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
const fluentBit = (output: string): string =>
  `[SERVICE]\n    Flush 1\n\n[INPUT]\n    Name dummy\n\n[OUTPUT]\n    Name  ${output}\n    Match *\n`;

let app: INestApplication;
let base: string;
let prisma: PrismaService;
let queue: RolloutQueue;
let viewerKey: string;
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
