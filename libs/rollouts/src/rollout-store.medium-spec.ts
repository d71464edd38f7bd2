// The rollout store against real Postgres and Redis: plans and their exclusions, the target
// snapshot, exclusivity (also under a race), controls and their events. Agents carry a per-run
// label and every selector includes it, so other tests' rows never interfere.
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamKeys, connectRedis, createRedis } from '@opamp/bus';
import { PrismaService } from '@opamp/database';
import { RolloutStrategyError, waveSizes } from '@opamp/domain';
import { DATABASE_URL, REDIS_URL } from '../../../test/support/env.js';
import {
  cleanupRun,
  seedAgents,
  seedConfig,
  type AgentSeed,
  type SeededConfig,
} from '../../../test/support/rollout-store-fixtures.js';
import { waitFor } from '../../../test/support/wait.js';
import { parseRolloutEvent, type RolloutEvent } from './rollout-events.js';
import {
  RolloutConflictError,
  RolloutNotFoundError,
  RolloutReferenceError,
  RolloutSelectorError,
  RolloutTransitionError,
} from './rollout-store.errors.js';
import { RolloutStore } from './rollout-store.js';

const RUN = `rs${randomBytes(4).toString('hex')}`;
const CONFIG = `store-${RUN}`;
const OTHER_CONFIG = `store-other-${RUN}`;
const OTELCOL_CONFIG = `store-otelcol-${RUN}`;
const GENERIC_CONFIG = `store-generic-${RUN}`;

let prisma: PrismaService;
let redis: Redis;
let store: RolloutStore;
let config: SeededConfig;
let otherConfig: SeededConfig;
const kicked: string[] = [];

/** Selector of this run's agents in `group`. */
const sel = (group: string, extra = ''): string => `testrun=${RUN},group=${group}${extra ? `,${extra}` : ''}`;

const seed = (group: string, n: number, extra: Omit<AgentSeed, 'labels'> & { labels?: Record<string, string> } = {}) =>
  seedAgents(
    prisma,
    RUN,
    Array.from({ length: n }, () => ({ ...extra, labels: { group, ...extra.labels } })),
  );

async function eventsOf(rolloutId: string): Promise<RolloutEvent[]> {
  const entries = await redis.xrevrange(StreamKeys.rolloutEvents, '+', '-', 'COUNT', 500);
  return entries
    .map(([, fields]) => parseRolloutEvent(fields[fields.indexOf('event') + 1] ?? ''))
    .filter((e): e is RolloutEvent => e?.rolloutId === rolloutId)
    .reverse();
}

beforeAll(async () => {
  prisma = new PrismaService({ url: DATABASE_URL, poolSize: 6 });
  await prisma.onModuleInit();
  redis = createRedis(REDIS_URL, { name: 'rollout-store-medium-spec' });
  await connectRedis(redis, REDIS_URL);
  store = new RolloutStore({ prisma, redis, kick: async (id) => void kicked.push(id) });
  config = await seedConfig(prisma, CONFIG, 3);
  otherConfig = await seedConfig(prisma, OTHER_CONFIG, 1);
  await seedConfig(prisma, OTELCOL_CONFIG, 1, 'otelcol');
  await seedConfig(prisma, GENERIC_CONFIG, 1, 'generic');
});

afterAll(async () => {
  if (prisma) {
    await cleanupRun(prisma, RUN, [CONFIG, OTHER_CONFIG, OTELCOL_CONFIG, GENERIC_CONFIG]);
    await prisma.onApplicationShutdown();
  }
  redis?.disconnect();
});

describe('plan', () => {
  it('splits 200 agents into the documented default waves and writes nothing', async () => {
    await seed('p200', 200);
    const before = await prisma.rollout.count();
    const planned = await store.plan({ config: CONFIG, version: 2, selector: sel('p200') });
    expect(planned.plan.targets).toBe(200);
    expect(planned.plan.stages).toEqual([
      { name: 'all', selector: '', promotion: 'auto', agents: 200, waves: [2, 4, 8, 16, 32, 50, 50, 38] },
    ]);
    expect(planned.plan.stages[0]!.waves).toEqual(waveSizes(200, planned.strategy));
    expect(planned.plan.minimumDurationSeconds).toBe(8 * 60);
    expect(planned.version).toMatchObject({ number: 2, hash: config.versions[1]!.hash });
    expect(planned.strategy).toMatchObject({ firstWave: '1%', growthFactor: 2, maxWave: '25%', onFailure: 'pause' });
    expect(await prisma.rollout.count()).toBe(before);
  });

  it('accepts the config id as well as its name', async () => {
    const planned = await store.plan({ config: config.id, version: 2, selector: sel('p200') });
    expect(planned.config).toMatchObject({ id: config.id, name: CONFIG });
    expect(planned.plan.targets).toBe(200);
  });

  it('counts each excluded agent once, under its first reason', async () => {
    const hash = config.versions[0]!.hash;
    const v1 = config.versions[0]!.id;
    await seed('ex', 5);
    await seed('ex', 3, { capabilities: 0x1n }); // no AcceptsRemoteConfig
    const quarantined = await seed('ex', 2);
    const cleared = await seed('ex', 1);
    await prisma.configQuarantine.createMany({
      data: [
        ...quarantined.map((agentUid) => ({ agentUid, hash })),
        ...cleared.map((agentUid) => ({ agentUid, hash, clearedAt: new Date() })), // lifted: targeted
      ],
    });
    const atTarget = await seed('ex', 4, { remoteConfigStatus: { lastRemoteConfigHash: hash, status: 'APPLIED' } });
    // Reports the hash but its desired config is another version: still targeted.
    const reportsOnly = await seed('ex', 1, { remoteConfigStatus: { lastRemoteConfigHash: hash, status: 'APPLIED' } });
    // Desired already, but FAILED: targeted again.
    const failed = await seed('ex', 1, { remoteConfigStatus: { lastRemoteConfigHash: hash, status: 'FAILED' } });
    await prisma.agentDesiredConfig.createMany({
      data: [
        ...[...atTarget, ...failed].map((agentUid) => ({ agentUid, configVersionId: v1, hash, source: 'assignment' })),
        ...reportsOnly.map((agentUid) => ({
          agentUid,
          configVersionId: config.versions[1]!.id,
          hash: config.versions[1]!.hash,
          source: 'assignment',
        })),
      ],
    });
    const busy = await seed('ex', 2, { labels: { busy: 'yes' } });
    const other = await store.create({ config: OTHER_CONFIG, version: 1, selector: sel('ex', 'busy=yes') });
    expect(other.plan.targets).toBe(busy.length);
    // Agents of another type: excluded for this fluentbit config, whatever else is true of them.
    await seed('ex', 2, { agentType: 'otelcol' });
    const fluentdQuarantined = await seed('ex', 1, { agentType: 'fluentd', capabilities: 0x1n });
    await prisma.configQuarantine.createMany({ data: fluentdQuarantined.map((agentUid) => ({ agentUid, hash })) });

    const planned = await store.plan({ config: CONFIG, version: 1, selector: sel('ex') });
    expect(planned.plan.excluded).toEqual({
      noStage: 0,
      wrongAgentType: 3,
      noAcceptsRemoteConfig: 3,
      quarantined: 2,
      alreadyAtTarget: 4,
      inOtherRollout: 2,
    });
    expect(planned.plan.targets).toBe(5 + 1 + 1 + 1);
    await store.abort(other.id);
    expect((await store.plan({ config: CONFIG, version: 1, selector: sel('ex') })).plan.excluded.inOtherRollout).toBe(
      0,
    );
  });

  it('puts an agent in the first stage it matches and counts those matching none', async () => {
    await seed('st', 6, { labels: { ring: 'canary' } });
    await seed('st', 10, { labels: { ring: 'main' } });
    await seed('st', 3, { labels: { ring: 'lab' } });
    const planned = await store.plan({
      config: CONFIG,
      version: 1,
      selector: sel('st'),
      strategy: {
        firstWave: 2,
        stages: [
          { name: 'canary', selector: 'ring=canary', promotion: 'manual' },
          { name: 'rest', selector: 'ring in (canary,main)' },
        ],
      },
    });
    expect(planned.plan.stages.map((s) => [s.name, s.promotion, s.agents, s.waves])).toEqual([
      ['canary', 'manual', 6, [2, 2, 2]],
      ['rest', 'auto', 10, [2, 3, 3, 2]],
    ]);
    expect(planned.plan.excluded.noStage).toBe(3);
  });

  it('targets only agents of the config’s type, and every type for a generic config', async () => {
    await seed('ty', 4, { agentType: 'fluentbit' });
    await seed('ty', 3, { agentType: 'otelcol' });
    await seed('ty', 2, { agentType: 'fluentd' });
    await seed('ty', 1, { agentType: 'generic' });
    const byConfig = async (name: string) => (await store.plan({ config: name, version: 1, selector: sel('ty') })).plan;
    expect(await byConfig(CONFIG)).toMatchObject({ targets: 4, excluded: { wrongAgentType: 6 } });
    expect(await byConfig(OTELCOL_CONFIG)).toMatchObject({ targets: 3, excluded: { wrongAgentType: 7 } });
    expect(await byConfig(GENERIC_CONFIG)).toMatchObject({ targets: 10, excluded: { wrongAgentType: 0 } });
  });

  it('refuses an unknown config or version, a bad selector and a bad strategy', async () => {
    await expect(store.plan({ config: `nope-${RUN}`, version: 1, selector: '' })).rejects.toThrow(
      expect.objectContaining({ name: 'RolloutReferenceError', what: 'config' }),
    );
    await expect(store.plan({ config: CONFIG, version: 9, selector: '' })).rejects.toThrow(
      new RolloutReferenceError('version', `Config "${CONFIG}" has no version 9.`),
    );
    const bad = store.plan({ config: CONFIG, version: 1, selector: 'env in (prod' });
    await expect(bad).rejects.toBeInstanceOf(RolloutSelectorError);
    await expect(bad).rejects.toThrow(/at character/);
    const err = await store
      .plan({
        config: CONFIG,
        version: 1,
        selector: '',
        strategy: { growthFactor: 1, stages: [{ name: 'x', selector: '(' }] },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutStrategyError);
    expect((err as RolloutStrategyError).problems.map((p) => p.field).sort()).toEqual([
      'growthFactor',
      'stages[0].selector',
    ]);
  });
});

describe('create', () => {
  it('snapshots the targets into the planned waves in a stable hashed order, with their previous config', async () => {
    const uids = await seed('cr', 40);
    const prev = config.versions[0]!;
    await prisma.agentDesiredConfig.createMany({
      data: uids
        .slice(0, 10)
        .map((agentUid) => ({ agentUid, configVersionId: prev.id, hash: prev.hash, source: 'rollout' })),
    });
    kicked.length = 0;
    const r = await store.create({
      config: CONFIG,
      version: 2,
      selector: sel('cr'),
      strategy: { firstWave: 4 },
      createdBy: 'alice',
    });
    expect(r).toMatchObject({ state: 'running', step: 0, reason: null, plan: { targets: 40 } });
    expect(r.plan.stages[0]!.waves).toEqual([4, 8, 10, 10, 8]);
    expect(kicked).toEqual([r.id]);

    const waves = await prisma.rolloutWave.findMany({ where: { rolloutId: r.id }, orderBy: { index: 'asc' } });
    expect(waves.map((w) => [w.direction, w.index, w.stage, w.size, w.state])).toEqual([
      ['forward', 0, 0, 4, 'pending'],
      ['forward', 1, 0, 8, 'pending'],
      ['forward', 2, 0, 10, 'pending'],
      ['forward', 3, 0, 10, 'pending'],
      ['forward', 4, 0, 8, 'pending'],
    ]);
    const targets = await prisma.rolloutTarget.findMany({ where: { rolloutId: r.id } });
    expect(targets).toHaveLength(40);
    expect(targets.every((t) => t.state === 'pending' && t.active && t.stage === 0)).toBe(true);
    // Order within the stage: md5(rollout id ‖ uid), cut at the wave boundaries.
    const order = [...uids].sort((a, b) => {
      const ha = createHash('md5')
        .update(r.id + a)
        .digest('hex');
      const hb = createHash('md5')
        .update(r.id + b)
        .digest('hex');
      return ha < hb ? -1 : ha > hb ? 1 : 0;
    });
    const waveOf = new Map(targets.map((t) => [t.agentUid, t.waveIndex]));
    expect(order.map((u) => waveOf.get(u))).toEqual([
      ...Array<number>(4).fill(0),
      ...Array<number>(8).fill(1),
      ...Array<number>(10).fill(2),
      ...Array<number>(10).fill(3),
      ...Array<number>(8).fill(4),
    ]);
    const withPrev = targets.filter((t) => t.previousVersionId !== null);
    expect(withPrev.map((t) => t.agentUid).sort()).toEqual(uids.slice(0, 10).sort());
    expect(withPrev.every((t) => t.previousVersionId === prev.id && t.previousHash === prev.hash)).toBe(true);

    const row = await prisma.rollout.findUniqueOrThrow({ where: { id: r.id } });
    expect(row).toMatchObject({ state: 'running', createdBy: 'alice', followNewAgents: true, selector: sel('cr') });
    expect(row.startedAt).not.toBeNull();
    expect(row.plan).toEqual(r.plan);
    const events = await eventsOf(r.id);
    expect(events).toEqual([
      expect.objectContaining({ type: 'created', state: 'running', step: 0, stage: 0, wave: 0, reason: null }),
    ]);
    expect(events[0]!.counts).toMatchObject({ pending: 40, applying: 0 });
    await store.abort(r.id);
  });

  it('refuses a rollout overlapping an active one, naming it, and writes nothing', async () => {
    await seed('ov', 10, { labels: { half: 'a' } });
    await seed('ov', 10, { labels: { half: 'b' } });
    const first = await store.create({ config: CONFIG, version: 1, selector: sel('ov', 'half=a') });
    const before = await prisma.rollout.count();
    const err = await store.create({ config: CONFIG, version: 2, selector: sel('ov') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutConflictError);
    expect((err as RolloutConflictError).conflicts).toEqual([{ rolloutId: first.id, agents: 10 }]);
    expect((err as Error).message).toContain(first.id);
    expect(await prisma.rollout.count()).toBe(before);
    // The other half is free.
    const second = await store.create({ config: CONFIG, version: 2, selector: sel('ov', 'half=b') });
    expect(second.plan.targets).toBe(10);
    await store.abort(first.id);
    await store.abort(second.id);
  });

  it('lets exactly one of two concurrent overlapping creations win', async () => {
    await seed('race', 50);
    const results = await Promise.allSettled([
      store.create({ config: CONFIG, version: 1, selector: sel('race') }),
      store.create({ config: CONFIG, version: 2, selector: sel('race') }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const winner = (won[0] as PromiseFulfilledResult<{ id: string }>).value;
    const reason = (lost[0] as PromiseRejectedResult).reason as unknown;
    expect(reason).toBeInstanceOf(RolloutConflictError);
    expect((reason as RolloutConflictError).rolloutIds).toEqual([winner.id]);
    expect(await prisma.rolloutTarget.count({ where: { active: true, rolloutId: winner.id } })).toBe(50);
    await store.abort(winner.id);
  });

  it('turns the unique index violation of a creation committed mid-flight into a conflict', async () => {
    const [agent] = await seed('mid', 1);
    // An "other creation" holds an uncommitted active target on the agent while ours runs: our
    // overlap check cannot see it, our INSERT waits on the index and fails once it commits.
    let otherId = '';
    let creation: Promise<unknown> | undefined;
    await prisma.$transaction(
      async (tx) => {
        const other = await tx.rollout.create({
          data: {
            configId: otherConfig.id,
            configVersionId: otherConfig.versions[0]!.id,
            selector: sel('mid'),
            strategy: {},
            plan: { targets: 1, stages: [], excluded: {}, minimumDurationSeconds: 0 },
            state: 'running',
          },
        });
        otherId = other.id;
        await tx.rolloutTarget.create({ data: { rolloutId: other.id, agentUid: agent!, stage: 0, waveIndex: 0 } });
        creation = store.create({ config: CONFIG, version: 1, selector: sel('mid') }).catch((e: unknown) => e);
        await waitFor(
          async () =>
            (
              await prisma.$queryRaw<Array<{ n: number }>>`
                SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO rollout_targets%'`
            )[0]!.n > 0,
          { description: 'the creation to wait on the unique index' },
        );
      },
      { timeout: 20_000 },
    );
    const err = await creation;
    expect(err).toBeInstanceOf(RolloutConflictError);
    expect((err as RolloutConflictError).rolloutIds).toEqual([otherId]);
    await store.abort(otherId);
  });

  it('snapshots only agents of the config’s type; others in another rollout are no conflict', async () => {
    const fluentbit = await seed('crt', 3, { agentType: 'fluentbit' });
    const otelcol = await seed('crt', 2, { agentType: 'otelcol' });
    // The otelcol agents are busy in another rollout: irrelevant to a fluentbit rollout.
    const busy = await store.create({ config: OTELCOL_CONFIG, version: 1, selector: sel('crt') });
    expect(busy.plan).toMatchObject({ targets: 2, excluded: { wrongAgentType: 3 } });

    const r = await store.create({ config: CONFIG, version: 1, selector: sel('crt') });
    expect(r.plan).toMatchObject({ targets: 3, excluded: { wrongAgentType: 2, inOtherRollout: 0 } });
    const targets = await prisma.rolloutTarget.findMany({ where: { rolloutId: r.id } });
    expect(targets.map((t) => t.agentUid).sort()).toEqual([...fluentbit].sort());
    const busyTargets = await prisma.rolloutTarget.findMany({ where: { rolloutId: busy.id } });
    expect(busyTargets.map((t) => t.agentUid).sort()).toEqual([...otelcol].sort());
    await store.abort(r.id);
    await store.abort(busy.id);
  });

  it('stores a rollout with nothing to do as completed', async () => {
    await seed('none', 2, { capabilities: 0x1n });
    const r = await store.create({ config: CONFIG, version: 1, selector: sel('none') });
    expect(r).toMatchObject({ state: 'completed', plan: { targets: 0, excluded: { noAcceptsRemoteConfig: 2 } } });
    expect(r.reason).toMatch(/nothing to do/);
    const d = await store.get(r.id);
    expect(d).toMatchObject({ state: 'completed', waves: [], targets: 0, counts: { pending: 0 }, currentWave: null });
    expect(d.finishedAt).not.toBeNull();
  });
});

describe('get and list', () => {
  it('reports per-wave, per-stage and overall counts and the current wave', async () => {
    await seed('get', 6, { labels: { ring: 'canary' } });
    await seed('get', 12, { labels: { ring: 'main' } });
    const r = await store.create({
      config: CONFIG,
      version: 1,
      selector: sel('get'),
      strategy: {
        firstWave: 3,
        maxWave: 6,
        stages: [
          { name: 'canary', selector: 'ring=canary', promotion: 'manual' },
          { name: 'main', selector: 'ring=main' },
        ],
      },
    });
    // Waves: canary 3, 3; main 3, 6, 3.
    await prisma.$executeRaw`UPDATE rollout_targets SET state = 'applied' WHERE rollout_id = ${r.id}::uuid AND wave_index = 0`;
    await prisma.$executeRaw`
      UPDATE rollout_targets SET state = (CASE WHEN rn = 1 THEN 'failed' WHEN rn = 2 THEN 'timed_out' ELSE 'applying' END)::rollout_target_state
      FROM (SELECT agent_uid, row_number() OVER (ORDER BY agent_uid) AS rn FROM rollout_targets
            WHERE rollout_id = ${r.id}::uuid AND wave_index = 1) x
      WHERE rollout_id = ${r.id}::uuid AND rollout_targets.agent_uid = x.agent_uid`;
    await prisma.rolloutWave.update({
      where: { rolloutId_direction_index: { rolloutId: r.id, direction: 'forward', index: 0 } },
      data: { state: 'passed' },
    });
    const d = await store.get(r.id);
    expect(d.waves.map((w) => [w.index, w.stage, w.size, w.state])).toEqual([
      [0, 0, 3, 'passed'],
      [1, 0, 3, 'pending'],
      [2, 1, 3, 'pending'],
      [3, 1, 6, 'pending'],
      [4, 1, 3, 'pending'],
    ]);
    expect(d.waves[0]!.counts).toEqual({ pending: 0, applying: 0, applied: 3, failed: 0, timed_out: 0, skipped: 0 });
    expect(d.waves[1]!.counts).toEqual({ pending: 0, applying: 1, applied: 0, failed: 1, timed_out: 1, skipped: 0 });
    expect(d.waves[3]!.counts.pending).toBe(6);
    expect(d.targets).toBe(18);
    expect(d.counts).toEqual({
      pending: 12,
      applying: 1,
      applied: 3,
      failed: 1,
      timed_out: 1,
      skipped: 0,
    });
    expect(d.stages.map((s) => [s.name, s.promotion, s.agents, s.counts.applied, s.counts.pending])).toEqual([
      ['canary', 'manual', 6, 3, 0],
      ['main', 'auto', 12, 0, 12],
    ]);
    expect(d.stage).toMatchObject({ index: 0, name: 'canary' });
    expect(d.currentWave).toBe(1);
    expect(d.rollback).toBeNull();
    expect(d.config).toEqual({ id: config.id, name: CONFIG });
    expect(d.version).toEqual({ id: config.versions[0]!.id.toString(), number: 1, hash: config.versions[0]!.hash });
    await store.abort(r.id);
  });

  it('says an unknown or malformed id is not found', async () => {
    await expect(store.get('0192e3a4-5b6c-7d8e-9f01-23456789abcd')).rejects.toBeInstanceOf(RolloutNotFoundError);
    await expect(store.get('nope')).rejects.toBeInstanceOf(RolloutNotFoundError);
    await expect(store.pause('nope')).rejects.toBeInstanceOf(RolloutNotFoundError);
  });

  it('lists newest first, filtered by state and config, page by page', async () => {
    await seed('ls', 3);
    const a = await store.create({ config: OTHER_CONFIG, version: 1, selector: sel('ls', 'x!=1') });
    await store.abort(a.id);
    const b = await store.create({ config: OTHER_CONFIG, version: 1, selector: sel('ls') });
    await store.pause(b.id);
    const c = await store.create({ config: OTHER_CONFIG, version: 1, selector: sel('ls', 'nothere') }); // nothing to do
    const all = await store.list({ config: OTHER_CONFIG, limit: 50 });
    const mine = all.filter((r) => [a.id, b.id, c.id].includes(r.id));
    expect(mine.map((r) => [r.id, r.state])).toEqual([
      [c.id, 'completed'],
      [b.id, 'paused'],
      [a.id, 'aborted'],
    ]);
    expect(mine[1]).toMatchObject({
      config: { name: OTHER_CONFIG },
      version: { number: 1 },
      targets: 3,
      reason: 'paused by an operator',
    });
    const byId = await store.list({ config: otherConfig.id, states: ['paused'], limit: 50 });
    expect(byId.map((r) => r.id)).toContain(b.id);
    expect(byId.every((r) => r.state === 'paused')).toBe(true);
    const terminal = await store.list({ config: OTHER_CONFIG, states: ['aborted', 'completed'], limit: 50 });
    expect(terminal.map((r) => r.id)).toEqual(expect.arrayContaining([a.id, c.id]));
    expect(terminal.map((r) => r.id)).not.toContain(b.id);
    // Pages of one: limit + 1 rows tell whether more exist; the cursor continues after the last.
    const p1 = await store.list({ config: OTHER_CONFIG, limit: 1 });
    expect(p1).toHaveLength(2);
    const p2 = await store.list({
      config: OTHER_CONFIG,
      limit: 1,
      after: { createdAt: p1[0]!.createdAt, id: p1[0]!.id },
    });
    expect(p2[0]!.id).toBe(p1[1]!.id);
    expect(await store.list({ config: `nope-${RUN}`, limit: 5 })).toEqual([]);
    await store.abort(b.id);
  });
});

describe('controls', () => {
  it('pause, resume, rollback and abort move the state, bump step and publish an event each', async () => {
    await seed('ctl', 8);
    const r = await store.create({ config: CONFIG, version: 3, selector: sel('ctl'), strategy: { firstWave: 2 } });
    kicked.length = 0;

    const paused = await store.pause(r.id, { reason: 'looking at dashboards' });
    expect(paused).toMatchObject({ state: 'paused', step: 1, reason: 'looking at dashboards', pauseCause: 'person' });
    const again = await store.pause(r.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(RolloutTransitionError);
    expect(again).toMatchObject({ state: 'paused', action: 'pause' });
    expect((again as Error).message).toMatch(/it is paused\. It is already paused/);

    // Two targets failed and one applied before the resume: acknowledged.
    await prisma.$executeRaw`
      UPDATE rollout_targets SET state = (CASE WHEN x.rn <= 2 THEN 'failed' ELSE 'applied' END)::rollout_target_state
      FROM (SELECT agent_uid, row_number() OVER (ORDER BY agent_uid) AS rn FROM rollout_targets
            WHERE rollout_id = ${r.id}::uuid) x
      WHERE rollout_id = ${r.id}::uuid AND rollout_targets.agent_uid = x.agent_uid AND x.rn <= 3`;
    const resumed = await store.resume(r.id);
    expect(resumed).toMatchObject({
      state: 'running',
      step: 2,
      reason: null,
      failuresAcknowledged: 2,
      resolvedAcknowledged: 3,
      pauseCause: null,
    });
    await expect(store.resume(r.id)).rejects.toThrow(/it is running\. It is already running/);
    await expect(store.promote(r.id)).rejects.toBeInstanceOf(RolloutTransitionError);

    const rb = await store.rollback(r.id);
    expect(rb).toMatchObject({ state: 'rolling_back', step: 3, reason: 'rollback requested by an operator' });
    await expect(store.pause(r.id)).rejects.toBeInstanceOf(RolloutTransitionError);
    await expect(store.rollback(r.id)).rejects.toThrow(/already rolling back/);

    const aborted = await store.abort(r.id, { reason: 'enough' });
    expect(aborted).toMatchObject({ state: 'aborted', step: 4, reason: 'enough' });
    expect(aborted.finishedAt).not.toBeNull();
    expect(aborted.counts).toMatchObject({ pending: 0, failed: 2, applied: 1, skipped: 5 });
    expect(await prisma.rolloutTarget.count({ where: { rolloutId: r.id, active: true } })).toBe(0);
    for (const action of ['pause', 'resume', 'abort', 'rollback', 'promote'] as const) {
      const e = await store.control(r.id, action).catch((x: unknown) => x);
      expect(e, action).toBeInstanceOf(RolloutTransitionError);
      expect((e as Error).message).toMatch(/it is aborted\. The rollout is finished/);
    }

    const events = await eventsOf(r.id);
    expect(events.map((e) => [e.type, e.state, e.step])).toEqual([
      ['created', 'running', 0],
      ['paused', 'paused', 1],
      ['resumed', 'running', 2],
      ['rollback_requested', 'rolling_back', 3],
      ['aborted', 'aborted', 4],
    ]);
    expect(events[1]!.reason).toBe('looking at dashboards');
    expect(events[4]!.counts).toMatchObject({ skipped: 5, failed: 2, applied: 1 });
    expect(kicked).toEqual([r.id, r.id, r.id, r.id]);

    // The agents are free again.
    expect((await store.plan({ config: CONFIG, version: 3, selector: sel('ctl') })).plan.excluded.inOtherRollout).toBe(
      0,
    );
  });

  it('promote moves a rollout holding after a manual stage to the next stage; resume does not', async () => {
    await seed('pro', 2, { labels: { ring: 'canary' } });
    await seed('pro', 4, { labels: { ring: 'main' } });
    const r = await store.create({
      config: CONFIG,
      version: 1,
      selector: sel('pro'),
      strategy: {
        stages: [
          { name: 'canary', selector: 'ring=canary', promotion: 'manual' },
          { name: 'main', selector: '' },
        ],
      },
    });
    // Not holding yet: stage 0 has waves to go.
    await store.pause(r.id);
    await expect(store.promote(r.id)).rejects.toThrow(/not waiting for promotion of a stage: use resume/);
    // What the engine does at the end of a manual stage: its waves passed, paused with a reason.
    await prisma.$executeRaw`UPDATE rollout_waves SET state = 'passed' WHERE rollout_id = ${r.id}::uuid AND stage = 0`;
    await prisma.$executeRaw`UPDATE rollouts SET reason = 'stage "canary" passed; waiting for promotion to "main"' WHERE id = ${r.id}::uuid`;
    await expect(store.resume(r.id)).rejects.toThrow(/waiting for promotion of the next stage: use promote/);
    const promoted = await store.promote(r.id);
    expect(promoted).toMatchObject({ state: 'running', stageIndex: 1, reason: null, stage: { name: 'main' } });
    expect((await eventsOf(r.id)).at(-1)).toMatchObject({ type: 'promoted', stage: 1, state: 'running' });
    await store.abort(r.id);
  });

  it('holds after a manual stage, even an empty one, while a later stage has agents; never after an auto one', async () => {
    await seed('hold', 2, { labels: { ring: 'canary' } });
    await seed('hold', 2, { labels: { ring: 'main' } });
    const passStage = async (id: string, stage: number): Promise<void> => {
      await prisma.$executeRaw`UPDATE rollout_waves SET state = 'passed' WHERE rollout_id = ${id}::uuid AND stage = ${stage}`;
    };
    const manual = await store.create({
      config: CONFIG,
      version: 1,
      selector: sel('hold'),
      strategy: {
        stages: [
          { name: 'canary', selector: 'ring=canary', promotion: 'manual' },
          { name: 'gate', selector: 'ring=none', promotion: 'manual' },
          { name: 'main', selector: '' },
        ],
      },
    });
    expect(manual.plan.stages.map((s) => s.agents)).toEqual([2, 0, 2]);
    await store.pause(manual.id);
    await passStage(manual.id, 0);
    expect(await store.promote(manual.id)).toMatchObject({ state: 'running', stageIndex: 1 });
    // The engine holds again at the empty manual stage "gate".
    await store.pause(manual.id);
    expect(await store.promote(manual.id)).toMatchObject({ state: 'running', stageIndex: 2 });
    await store.pause(manual.id);
    await passStage(manual.id, 2);
    await expect(store.promote(manual.id)).rejects.toThrow(/use resume/); // the last stage: nothing to promote to
    await store.abort(manual.id);

    const auto = await store.create({
      config: CONFIG,
      version: 1,
      selector: sel('hold'),
      strategy: {
        stages: [
          { name: 'first', selector: 'ring=canary' },
          { name: 'second', selector: '' },
        ],
      },
    });
    await store.pause(auto.id);
    await passStage(auto.id, 0);
    await expect(store.promote(auto.id)).rejects.toThrow(/use resume/);
    expect(await store.resume(auto.id)).toMatchObject({ state: 'running', stageIndex: 0 });
    await store.abort(auto.id);
  });
});
