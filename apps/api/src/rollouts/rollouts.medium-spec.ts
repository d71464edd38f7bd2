// The rollouts routes over HTTP against real Postgres and Redis: configs and agents are inserted
// directly, then the routes are called with fetch. Every agent carries a per-run label and every
// selector includes it, so tests never see each other's rows.
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaService } from '@opamp/database';
import { RolloutQueue } from '@opamp/rollouts';
import {
  cleanupRun,
  seedAgents,
  seedConfig,
  type SeededConfig,
} from '../../../../test/support/rollout-store-fixtures.js';
import { loadApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { expectProblem, httpClient, type Json, type Reply } from '../testing/http.js';

const RUN = `ra${randomBytes(4).toString('hex')}`;
const CONFIG = `api-${RUN}`;

let app: INestApplication;
let base: string;
let prisma: PrismaService;
let config: SeededConfig;
let queue: RolloutQueue;

/** `advance` jobs waiting in the worker's queue for `rolloutId`. */
async function advanceJobs(rolloutId: string) {
  const jobs = await queue.queue.getJobs(['waiting', 'delayed', 'prioritized']);
  return jobs.filter((j) => j?.name === 'advance' && (j.data as { rolloutId?: string }).rolloutId === rolloutId);
}

const { get, post } = httpClient(() => base);
/** expectProblem with the problem type checked exactly (this file's argument order). */
const expectRolloutProblem = (r: Reply, status: number, type?: string, detail?: RegExp): void =>
  expectProblem(r, status, detail, type);

const sel = (group: string, extra = ''): string => `testrun=${RUN},group=${group}${extra ? `,${extra}` : ''}`;
const seed = (group: string, n: number, labels: Record<string, string> = {}) =>
  seedAgents(
    prisma,
    RUN,
    Array.from({ length: n }, () => ({ labels: { group, ...labels } })),
  );

beforeAll(async () => {
  const cfg = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(cfg, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  config = await seedConfig(prisma, CONFIG, 2);
  queue = RolloutQueue.connect(cfg.REDIS_URL, 'rollouts-medium-spec');
});

afterAll(async () => {
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

describe('POST /api/v1/rollouts', () => {
  it('dry run: 200 with the plan (200 agents in the default waves), nothing stored', async () => {
    await seed('dry', 200);
    const before = await prisma.rollout.count();
    const r = await post('/api/v1/rollouts', { config: CONFIG, version: 2, selector: sel('dry'), dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.location).toBeNull();
    expect(r.body).toMatchObject({
      id: null,
      dryRun: true,
      state: 'planned',
      config: { id: config.id, name: CONFIG },
      version: { number: 2, hash: config.versions[1]!.hash },
      plan: {
        targets: 200,
        stages: [{ name: 'all', agents: 200, waves: [2, 4, 8, 16, 32, 50, 50, 38] }],
        excluded: {
          noStage: 0,
          wrongAgentType: 0,
          noAcceptsRemoteConfig: 0,
          quarantined: 0,
          alreadyAtTarget: 0,
          inOtherRollout: 0,
        },
      },
      strategy: { firstWave: '1%', growthFactor: 2, maxWave: '25%', soakSeconds: 60 },
    });
    expect(await prisma.rollout.count()).toBe(before);
  });

  it('creates: 201 with id, state and plan, and a Location', async () => {
    await seed('new', 12);
    const r = await post('/api/v1/rollouts', {
      config: CONFIG,
      version: 1,
      selector: sel('new'),
      strategy: { firstWave: 3, soakSeconds: 30 },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ id: expect.any(String), state: 'running', plan: { targets: 12 } });
    expect((r.body.plan as { stages: Array<{ waves: number[] }> }).stages[0]!.waves).toEqual([3, 3, 3, 3]);
    expect(r.location).toBe(`/api/v1/rollouts/${r.body.id as string}`);
    expect(await prisma.rolloutTarget.count({ where: { rolloutId: r.body.id as string } })).toBe(12);
    // Who started it: the caller's API key.
    const stored = await prisma.rollout.findUniqueOrThrow({ where: { id: r.body.id as string } });
    const adminKey = await prisma.apiKey.findFirstOrThrow({ where: { bootstrap: true, revokedAt: null } });
    expect(stored.createdBy).toBe(`key:${adminKey.id}`);
    // The worker is asked to step the new rollout at once.
    expect(await advanceJobs(r.body.id as string)).toHaveLength(1);
    await post(`/api/v1/rollouts/${r.body.id as string}/abort`);
  });

  it.each([
    ['a body that is not JSON', '{"config":', /not valid JSON/],
    ['an array', [1], /must be a JSON object/],
    ['an unknown field', { config: CONFIG, version: 1, selector: '', strategi: {} }, /strategi: unknown field/],
    ['no config', { version: 1, selector: '' }, /config: is required/],
    ['a version that is not a whole number', { config: CONFIG, version: '1', selector: '' }, /version: is required/],
    ['no selector', { config: CONFIG, version: 1 }, /selector: is required/],
    ['a dryRun that is not a boolean', { config: CONFIG, version: 1, selector: '', dryRun: 'yes' }, /dryRun/],
  ])('400 for %s', async (_what, body, detail) => {
    expectRolloutProblem(await post('/api/v1/rollouts', body), 400, undefined, detail);
  });

  it('400 for a selector that does not parse, saying where', async () => {
    const r = await post('/api/v1/rollouts', { config: CONFIG, version: 1, selector: 'env in (a,' });
    expectRolloutProblem(r, 400, 'urn:opampcp:problem:invalid-label-selector', /^selector: .*at character \d+/);
    expect(r.body.invalidParams).toEqual([{ name: 'selector', reason: expect.any(String) }]);
  });

  it('404 for an unknown config or version', async () => {
    expectRolloutProblem(
      await post('/api/v1/rollouts', { config: `nope-${RUN}`, version: 1, selector: '' }),
      404,
      'urn:opampcp:problem:config-not-found',
      /No config named "nope-/,
    );
    expectRolloutProblem(
      await post('/api/v1/rollouts', { config: CONFIG, version: 7, selector: '', dryRun: true }),
      404,
      'urn:opampcp:problem:config-version-not-found',
      /has no version 7/,
    );
  });

  it('422 for an invalid strategy, listing every problem', async () => {
    const r = await post('/api/v1/rollouts', {
      config: CONFIG,
      version: 1,
      selector: sel('dry'),
      strategy: { growthFactor: 0.5, onFailure: 'explode', soakSecond: 5, stages: [{ name: 'A', selector: 'x=' }] },
    });
    expectRolloutProblem(r, 422, 'urn:opampcp:problem:invalid-rollout-strategy', /strategy\.growthFactor/);
    const names = (r.body.invalidParams as Array<{ name: string }>).map((p) => p.name).sort();
    expect(names).toEqual([
      'strategy.growthFactor',
      'strategy.onFailure',
      'strategy.soakSecond',
      'strategy.stages[0].name',
    ]);
  });

  it('409 for a rollout overlapping an active one, naming it', async () => {
    await seed('ovl', 5, { side: 'l' });
    await seed('ovl', 5, { side: 'r' });
    const first = await post('/api/v1/rollouts', { config: CONFIG, version: 1, selector: sel('ovl', 'side=l') });
    expect(first.status).toBe(201);
    const id = first.body.id as string;
    const r = await post('/api/v1/rollouts', { config: CONFIG, version: 2, selector: sel('ovl') });
    expectRolloutProblem(
      r,
      409,
      'urn:opampcp:problem:rollout-conflict',
      new RegExp(`5 agents .* active rollout ${id}`),
    );
    expect(r.body.conflictingRollouts).toEqual([{ id, agents: 5 }]);
    // A dry run shows them as excluded instead.
    const dry = await post('/api/v1/rollouts', { config: CONFIG, version: 2, selector: sel('ovl'), dryRun: true });
    expect(dry.body).toMatchObject({ plan: { targets: 5, excluded: { inOtherRollout: 5 } } });
    await post(`/api/v1/rollouts/${id}/abort`);
  });

  it('two concurrent overlapping creations: one 201, one 409 naming the winner', async () => {
    await seed('conc', 30);
    const replies = await Promise.all([
      post('/api/v1/rollouts', { config: CONFIG, version: 1, selector: sel('conc') }),
      post('/api/v1/rollouts', { config: CONFIG, version: 2, selector: sel('conc') }),
    ]);
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409]);
    const winner = replies.find((r) => r.status === 201)!;
    const loser = replies.find((r) => r.status === 409)!;
    expectRolloutProblem(loser, 409, 'urn:opampcp:problem:rollout-conflict');
    expect(loser.body.conflictingRollouts).toEqual([{ id: winner.body.id, agents: 30 }]);
    await post(`/api/v1/rollouts/${winner.body.id as string}/abort`);
  });
});

describe('GET /api/v1/rollouts and /api/v1/rollouts/{id}', () => {
  let ids: string[] = [];

  beforeAll(async () => {
    await seed('lst', 4, { part: 'a' });
    await seed('lst', 4, { part: 'b' });
    await seed('lst', 4, { part: 'c' });
    ids = [];
    for (const part of ['a', 'b', 'c']) {
      const r = await post('/api/v1/rollouts', { config: CONFIG, version: 1, selector: sel('lst', `part=${part}`) });
      expect(r.status).toBe(201);
      ids.push(r.body.id as string);
    }
    expect((await post(`/api/v1/rollouts/${ids[1]!}/pause`, { reason: 'checking' })).status).toBe(200);
  });

  afterAll(async () => {
    for (const id of ids) await post(`/api/v1/rollouts/${id}/abort`);
  });

  it('lists newest first, page by page, filtered by config and state', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const q: string = `/api/v1/rollouts?config=${CONFIG}&state=running,paused&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await get(q);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const items = r.body.items as Array<{ id: string; state: string; config: { name: string } }>;
      expect(items.every((i) => ['running', 'paused'].includes(i.state) && i.config.name === CONFIG)).toBe(true);
      seen.push(...items.map((i) => i.id));
      cursor = r.body.nextCursor as string | null;
      if (!cursor) break;
    }
    expect(seen).toEqual([ids[2], ids[1], ids[0]]);
    const paused = await get(`/api/v1/rollouts?config=${config.id}&state=paused`);
    expect((paused.body.items as Array<{ id: string; reason: string }>).map((i) => [i.id, i.reason])).toEqual([
      [ids[1], 'checking'],
    ]);
  });

  it('refuses an unknown state, a cursor of another query and a bad limit', async () => {
    expectRolloutProblem(await get('/api/v1/rollouts?state=runing'), 400, undefined, /unknown rollout state "runing"/);
    const first = await get(`/api/v1/rollouts?config=${CONFIG}&limit=1`);
    const cursor = first.body.nextCursor as string;
    expect(cursor).toEqual(expect.any(String));
    expectRolloutProblem(
      await get(`/api/v1/rollouts?config=${CONFIG}&state=paused&limit=1&cursor=${cursor}`),
      400,
      'urn:opampcp:problem:invalid-cursor',
    );
    expectRolloutProblem(await get('/api/v1/rollouts?cursor=garbage!'), 400, 'urn:opampcp:problem:invalid-cursor');
    expectRolloutProblem(await get('/api/v1/rollouts?limit=0'), 400, undefined, /limit/);
  });

  it('shows one rollout with its waves, their counts, overall counts and the reason of a pause', async () => {
    const r = await get(`/api/v1/rollouts/${ids[1]!}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: ids[1],
      state: 'paused',
      reason: 'checking',
      step: 1,
      selector: sel('lst', 'part=b'),
      config: { name: CONFIG },
      version: { number: 1 },
      stage: { index: 0, name: 'all', agents: 4 },
      targets: 4,
      counts: { pending: 4, applying: 0, applied: 0, failed: 0, timed_out: 0, skipped: 0 },
      currentWave: 0,
      rollback: null,
    });
    const waves = r.body.waves as Array<{ index: number; size: number; state: string; counts: Json }>;
    expect(waves.map((w) => [w.index, w.size, w.state])).toEqual([
      [0, 1, 'pending'],
      [1, 1, 'pending'],
      [2, 1, 'pending'],
      [3, 1, 'pending'],
    ]);
    expect(waves[0]!.counts).toEqual({ pending: 1, applying: 0, applied: 0, failed: 0, timed_out: 0, skipped: 0 });
  });

  it('404 for an unknown or malformed id', async () => {
    expectRolloutProblem(
      await get('/api/v1/rollouts/0192e3a4-5b6c-7d8e-9f01-23456789abcd'),
      404,
      'urn:opampcp:problem:rollout-not-found',
    );
    expectRolloutProblem(await get('/api/v1/rollouts/not-a-rollout'), 404, 'urn:opampcp:problem:rollout-not-found');
    expectRolloutProblem(
      await post('/api/v1/rollouts/0192e3a4-5b6c-7d8e-9f01-23456789abcd/pause'),
      404,
      'urn:opampcp:problem:rollout-not-found',
    );
  });
});

describe('POST /api/v1/rollouts/{id}/pause|resume|promote|rollback|abort', () => {
  it('moves through the states, answering 409 with the current state for an invalid transition', async () => {
    await seed('ctl', 6);
    const created = await post('/api/v1/rollouts', { config: CONFIG, version: 1, selector: sel('ctl') });
    const id = created.body.id as string;
    const path = (action: string): string => `/api/v1/rollouts/${id}/${action}`;

    const paused = await post(path('pause'), { reason: 'hold on' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ id, state: 'paused', reason: 'hold on', step: 1 });

    const again = await post(path('pause'));
    expectRolloutProblem(again, 409, 'urn:opampcp:problem:invalid-rollout-transition', /it is paused/);
    expect(again.body.state).toBe('paused');
    expectRolloutProblem(await post(path('promote')), 409, undefined, /use resume/);

    expect((await post(path('resume'), {})).body).toMatchObject({ state: 'running', reason: null, step: 2 });
    expect((await post(path('rollback'), { reason: 'bad config' })).body).toMatchObject({
      state: 'rolling_back',
      reason: 'bad config',
      step: 3,
    });
    expectRolloutProblem(await post(path('resume')), 409, undefined, /rolling back/);
    const aborted = await post(path('abort'));
    expect(aborted.body).toMatchObject({ state: 'aborted', step: 4, counts: { skipped: 6 } });
    const late = await post(path('resume'));
    expectRolloutProblem(late, 409, 'urn:opampcp:problem:invalid-rollout-transition', /it is aborted/);
    expect(late.body.state).toBe('aborted');
  });

  it('400 for a control body with unknown fields or an overlong reason', async () => {
    const id = '0192e3a4-5b6c-7d8e-9f01-23456789abcd';
    expectRolloutProblem(
      await post(`/api/v1/rollouts/${id}/pause`, { why: 'x' }),
      400,
      undefined,
      /why: unknown field/,
    );
    expectRolloutProblem(
      await post(`/api/v1/rollouts/${id}/pause`, { reason: 'x'.repeat(501) }),
      400,
      undefined,
      /at most 500/,
    );
  });
});
