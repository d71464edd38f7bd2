// The rollout engine against real Postgres and Redis, stepped by hand with a fake clock. Rollouts
// are created by the real RolloutStore; "agents" are rows whose remote_config_status the test
// writes the way the fleet's write-behind would. Every agent carries a per-run label, and every
// selector includes it, so other tests' rows never interfere.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusPublisher, StreamKeys, connectRedis, createRedis } from '@opamp/bus';
import { PrismaService } from '@opamp/database';
import { OFFLINE_AT_SEND, type RolloutStrategyInput } from '@opamp/domain';
import { DATABASE_URL, REDIS_URL } from '../../../test/support/env.js';
import { cleanupRun, seedAgents, seedConfig, type SeededConfig } from '../../../test/support/rollout-store-fixtures.js';
import { DesiredConfigService } from './desired-config.service.js';
import { FOLLOWED_AFTER_OFFLINE } from './engine-follow.js';
import { RolloutEngine, type DesiredConfigWriter, type RolloutStepResult } from './engine.js';
import { parseRolloutEvent, type RolloutEvent } from './rollout-events.js';
import { RolloutStore } from './rollout-store.js';

const RUN = `re${randomBytes(4).toString('hex')}`;
const CONFIG = `engine-${RUN}`;
/** ReportsStatus | AcceptsRemoteConfig | ReportsRemoteConfig | ReportsHealth. */
const CAPS = 0x1n | 0x2n | 0x1000n | 0x800n;
/** Accepts remote config but never reports its status. */
const SILENT_CAPS = 0x1n | 0x2n;

let prisma: PrismaService;
let redis: Redis;
let desired: DesiredConfigService;
let store: RolloutStore;
let config: SeededConfig;
let v1: SeededConfig['versions'][number];
let v2: SeededConfig['versions'][number];

/** Counts every agent the engine asks to be sent a desired config (delegates to the real service). */
class CountingWriter implements DesiredConfigWriter {
  readonly sends = new Map<string, number>();
  constructor(private readonly inner: DesiredConfigWriter) {}
  assign: DesiredConfigWriter['assign'] = async (uids, ...rest) => {
    for (const u of uids) this.sends.set(u, (this.sends.get(u) ?? 0) + 1);
    return this.inner.assign(uids, ...rest);
  };
  clear: DesiredConfigWriter['clear'] = async (uids, ...rest) => {
    for (const u of uids) this.sends.set(u, (this.sends.get(u) ?? 0) + 1);
    return this.inner.clear(uids, ...rest);
  };
}

const sel = (group: string): string => `testrun=${RUN},group=${group}`;

async function seed(group: string, n: number, capabilities = CAPS): Promise<string[]> {
  return seedAgents(
    prisma,
    RUN,
    Array.from({ length: n }, () => ({ labels: { group }, capabilities })),
  );
}

async function create(group: string, version: number, strategy: RolloutStrategyInput): Promise<string> {
  const r = await store.create({ config: CONFIG, version, selector: sel(group), strategy });
  return r.id;
}

/** What the fleet's write-behind would write after the agents processed their new config. */
async function report(uids: readonly string[], hash: string, status: 'APPLIED' | 'FAILED' | 'APPLYING'): Promise<void> {
  if (uids.length === 0) return;
  await prisma.$executeRaw`
    UPDATE agents SET remote_config_status = jsonb_build_object(
      'lastRemoteConfigHash', ${hash}::text, 'status', ${status}::text,
      'errorMessage', CASE WHEN ${status} = 'FAILED' THEN 'parse error at line 3' ELSE '' END),
      updated_at = now()
    WHERE uid = ANY(${[...uids]}::uuid[])`;
}

interface Target {
  uid: string;
  wave: number;
  state: string;
  detail: string | null;
  active: boolean;
  rollbackState: string | null;
  dispatchedAt: Date | null;
}

async function targets(id: string): Promise<Target[]> {
  return prisma.$queryRaw<Target[]>`
    SELECT agent_uid::text AS uid, wave_index AS wave, state::text AS state, detail, active,
           rollback_state AS "rollbackState", dispatched_at AS "dispatchedAt"
    FROM rollout_targets WHERE rollout_id = ${id}::uuid ORDER BY wave_index, agent_uid`;
}

async function applyingUids(id: string): Promise<string[]> {
  return (await targets(id)).filter((t) => t.state === 'applying').map((t) => t.uid);
}

async function rolloutRow(id: string) {
  return prisma.rollout.findUniqueOrThrow({ where: { id } });
}

async function waves(id: string, direction = 'forward') {
  return prisma.rolloutWave.findMany({ where: { rolloutId: id, direction }, orderBy: { index: 'asc' } });
}

async function eventsOf(rolloutId: string): Promise<RolloutEvent[]> {
  const entries = await redis.xrevrange(StreamKeys.rolloutEvents, '+', '-', 'COUNT', 2000);
  return entries
    .map(([, fields]) => parseRolloutEvent(fields[fields.indexOf('event') + 1] ?? ''))
    .filter((e): e is RolloutEvent => e?.rolloutId === rolloutId)
    .reverse();
}

interface DriveOptions {
  /** Called after every step: the "fleet" side (agents report what they were sent). */
  agents?: (id: string) => Promise<void>;
  until: (r: RolloutStepResult) => boolean;
  maxSteps?: number;
}

/** A fake clock shared by a test's engines; waits advance it instead of sleeping. */
class Clock {
  now = Date.now();
  advance(ms: number): void {
    this.now += ms;
  }
}

async function drive(
  engine: RolloutEngine,
  clock: Clock,
  id: string,
  opts: DriveOptions,
): Promise<RolloutStepResult[]> {
  const log: RolloutStepResult[] = [];
  for (let i = 0; i < (opts.maxSteps ?? 300); i++) {
    const r = await engine.step(id, clock.now);
    log.push(r);
    if (opts.until(r)) return log;
    await opts.agents?.(id);
    if (r.action?.type === 'wait') clock.advance(r.nextStepInMs ?? 1000);
  }
  throw new Error(`rollout ${id} did not get there in ${opts.maxSteps ?? 300} steps: ${JSON.stringify(log.at(-1))}`);
}

/** Every agent sent the config applies it, except `failing` ones, which report FAILED. */
const applyAll =
  (hash: string, failing: ReadonlySet<string> = new Set()) =>
  async (id: string): Promise<void> => {
    const sent = await applyingUids(id);
    await report(
      sent.filter((u) => !failing.has(u)),
      hash,
      'APPLIED',
    );
    await report(
      sent.filter((u) => failing.has(u)),
      hash,
      'FAILED',
    );
  };

const finished = (r: RolloutStepResult): boolean => r.action?.type === 'idle' || r.nextStepInMs === null;

function newEngine(clock: Clock, writer: DesiredConfigWriter = desired, extra: { maxDispatchPerStep?: number } = {}) {
  return new RolloutEngine({ prisma, desired: writer, redis, now: () => clock.now, ...extra });
}

beforeAll(async () => {
  prisma = new PrismaService({ url: DATABASE_URL, poolSize: 8 });
  await prisma.onModuleInit();
  redis = createRedis(REDIS_URL, { name: 'engine-medium-spec' });
  await connectRedis(redis, REDIS_URL);
  desired = new DesiredConfigService({ prisma, publisher: new BusPublisher(redis, 4) });
  store = new RolloutStore({ prisma, redis });
  config = await seedConfig(prisma, CONFIG, 2);
  [v1, v2] = config.versions as [typeof v1, typeof v2];
});

afterAll(async () => {
  if (prisma) {
    await cleanupRun(prisma, RUN, [CONFIG]);
    await prisma.onApplicationShutdown();
  }
  redis?.disconnect();
});

describe('a rollout, step by step', () => {
  it('runs its waves in order with the planned sizes, soaks each, and completes', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    const uids = await seed('ramp', 10);
    const id = await create('ramp', 1, { soakSeconds: 30 });
    const start = clock.now;

    const log = await drive(engine, clock, id, { agents: applyAll(v1.hash), until: finished });

    const row = await rolloutRow(id);
    expect(row.state).toBe('completed');
    expect(row.finishedAt).not.toBeNull();
    const w = await waves(id);
    expect(w.map((x) => [x.size, x.state])).toEqual([
      [1, 'passed'],
      [2, 'passed'],
      [3, 'passed'],
      [3, 'passed'],
      [1, 'passed'],
    ]);
    for (let i = 1; i < w.length; i++) {
      expect(w[i]!.startedAt!.getTime()).toBeGreaterThanOrEqual(w[i - 1]!.finishedAt!.getTime());
      // Each wave soaked 30 s after its last agent resolved.
      expect(w[i - 1]!.finishedAt!.getTime() - w[i - 1]!.resolvedAt!.getTime()).toBeGreaterThanOrEqual(30_000);
    }
    expect(clock.now - start).toBeGreaterThanOrEqual(5 * 30_000);
    const t = await targets(id);
    expect(t.every((x) => x.state === 'applied' && !x.active)).toBe(true);
    const rows = await prisma.agentDesiredConfig.findMany({ where: { agentUid: { in: uids } } });
    expect(rows.map((r) => [r.configVersionId, r.source, r.rolloutId])).toEqual(Array(10).fill([v1.id, 'rollout', id]));
    // Dispatches happened wave by wave, one send each.
    expect(log.filter((r) => r.action?.type === 'dispatch').map((r) => (r.action as { count: number }).count)).toEqual([
      1, 2, 3, 3, 1,
    ]);
    expect(row.step).toBe(log.filter((r) => r.action && !['wait', 'idle'].includes(r.action.type)).length);

    const types = (await eventsOf(id)).map((e) => e.type);
    expect(types.filter((x) => x === 'wave_passed')).toHaveLength(5);
    expect(types.at(-1)).toBe('completed');
    const last = (await eventsOf(id)).at(-1)!;
    expect(last).toMatchObject({ state: 'completed', counts: { applied: 10 } });
  });

  it('paces sends at maxRestartsPerSecond', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    await seed('paced', 12);
    const id = await create('paced', 1, {
      firstWave: '100%',
      maxWave: '100%',
      soakSeconds: 0,
      maxRestartsPerSecond: 5,
    });

    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: finished });

    const sent = (await targets(id)).map((t) => t.dispatchedAt!.getTime()).sort((a, b) => a - b);
    expect(sent).toHaveLength(12);
    for (let i = 5; i < sent.length; i++) expect(sent[i]! - sent[i - 5]!).toBeGreaterThanOrEqual(1000);
  });

  it('pauses when the failure budget is exceeded, says why, and quarantines the FAILED hash', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    const uids = await seed('budget', 20);
    const id = await create('budget', 1, { firstWave: 2, soakSeconds: 5, maxFailurePercent: 10 });
    const firstWave = (await targets(id)).filter((t) => t.wave === 0).map((t) => t.uid);
    const bad = new Set([firstWave[0]!]);

    await drive(engine, clock, id, { agents: applyAll(v1.hash, bad), until: (r) => r.state === 'paused' });

    const row = await rolloutRow(id);
    expect(row.reason).toBe(
      'failure budget exceeded: 1 of 2 targets failed or timed out (maxFailurePercent 10% allows 0)',
    );
    expect((await store.get(id)).pauseCause, 'the detail says the budget paused it').toBe('budget');
    const t = await targets(id);
    expect(t.filter((x) => x.state === 'failed').map((x) => [x.uid, x.detail])).toEqual([
      [firstWave[0], 'parse error at line 3'],
    ]);
    expect(t.filter((x) => x.state === 'pending')).toHaveLength(18);
    const q = await prisma.configQuarantine.findMany({ where: { agentUid: { in: uids } } });
    expect(q.map((x) => [x.agentUid, x.hash, x.errorMessage, x.rolloutId])).toEqual([
      [firstWave[0], v1.hash, 'parse error at line 3', id],
    ]);
    expect((await eventsOf(id)).at(-1)).toMatchObject({ type: 'paused', state: 'paused', reason: row.reason });

    // Paused: nothing more is sent, however long it stays so.
    clock.advance(60_000);
    const idle = await engine.step(id, clock.now);
    expect(idle.action).toEqual({ type: 'wait', reason: 'paused', retryAfterMs: null });
    expect((await targets(id)).filter((x) => x.state === 'pending')).toHaveLength(18);

    // Resumed: the failure is acknowledged and the rollout carries on to the end.
    await store.resume(id);
    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: finished });
    expect((await rolloutRow(id)).state).toBe('completed');
  });

  it('times out silent agents and fails applied ones that turn unhealthy or offline during the soak', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    await seed('soak', 4);
    const id = await create('soak', 1, {
      firstWave: 4,
      maxWave: '100%',
      soakSeconds: 60,
      applyTimeoutSeconds: 30,
      maxFailurePercent: 100,
    });
    const [silent, sick, gone, fine] = (await targets(id)).map((t) => t.uid) as [string, string, string, string];
    await drive(engine, clock, id, {
      agents: async () => report([sick, gone, fine], v1.hash, 'APPLIED'),
      until: (r) => r.action?.type === 'waveResolved',
    });
    let t = await targets(id);
    expect(t.find((x) => x.uid === silent)).toMatchObject({
      state: 'timed_out',
      detail: 'no APPLIED or FAILED report within 30 s',
    });

    await prisma.agent.update({ where: { uid: sick }, data: { healthy: false } });
    // Went offline after it applied the config (the fleet's liveness deadline passed since).
    await prisma.agent.update({
      where: { uid: gone },
      data: { connectionState: 'offline', disconnectedAt: new Date(clock.now) },
    });
    await drive(engine, clock, id, { until: finished });
    t = await targets(id);
    expect(t.find((x) => x.uid === sick)).toMatchObject({ state: 'failed', detail: 'unhealthy during soak' });
    expect(t.find((x) => x.uid === gone)).toMatchObject({ state: 'failed', detail: 'offline during soak' });
    expect(t.find((x) => x.uid === fine)).toMatchObject({ state: 'applied' });
    expect((await rolloutRow(id)).state).toBe('completed');
  });

  it('does not fail an applied target whose agent the fleet had declared offline before the send', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    // Agents without ReportsRemoteConfig count as applied when sent, so the "applied" target of an
    // agent that was in fact already gone (the fleet's row still said connected at the send) soaks.
    await seed('soak-late', 2, SILENT_CAPS);
    const id = await create('soak-late', 1, {
      firstWave: '100%',
      maxWave: '100%',
      soakSeconds: 60,
      maxFailurePercent: 0,
    });
    await drive(engine, clock, id, { until: (r) => r.action?.type === 'waveResolved' });
    const [early, late] = (await targets(id)) as [Target, Target];
    const sentAt = early.dispatchedAt!.getTime();
    await prisma.agent.update({
      where: { uid: early.uid },
      data: { connectionState: 'offline', disconnectedAt: new Date(sentAt - 5_000) },
    });
    await drive(engine, clock, id, { until: finished });
    expect((await targets(id)).find((x) => x.uid === early.uid)).toMatchObject({
      state: 'applied',
      detail: 'applied when sent (the agent does not report remote config status)',
    });
    expect((await rolloutRow(id)).state).toBe('completed');

    // One that goes offline after the send, during the soak, fails (the rollout pauses).
    const again = await create('soak-late', 2, { firstWave: '100%', maxWave: '100%', soakSeconds: 60 });
    await drive(engine, clock, again, { until: (r) => r.action?.type === 'waveResolved' });
    await prisma.agent.update({
      where: { uid: late.uid },
      data: { connectionState: 'offline', disconnectedAt: new Date(clock.now) },
    });
    await drive(engine, clock, again, { until: (r) => r.state === 'paused' || finished(r) });
    expect((await targets(again)).find((x) => x.uid === late.uid)).toMatchObject({
      state: 'failed',
      detail: 'offline during soak',
    });
    await store.abort(again);
  });

  it('skips agents that are not connected at send (offline at send) without spending the budget', async () => {
    const clock = new Clock();
    const counting = new CountingWriter(desired);
    const engine = newEngine(clock, counting);
    const online = await seed('offl', 16);
    const [offline, disconnected] = await seedAgents(prisma, RUN, [
      { labels: { group: 'offl' }, capabilities: CAPS, connectionState: 'offline' },
      { labels: { group: 'offl' }, capabilities: CAPS, connectionState: 'connected' },
    ]);
    const [retyped] = await seed('offl', 1);
    // 0 %: a single failure or time-out would pause the rollout.
    const id = await create('offl', 1, { firstWave: 4, maxWave: '100%', soakSeconds: 1, maxFailurePercent: 0 });
    expect((await rolloutRow(id)).plan).toMatchObject({ targets: 19 });
    // After creation: one agent's WebSocket closes, another turns out to be an otelcol agent.
    await prisma.agent.update({
      where: { uid: disconnected! },
      data: { connectionState: 'disconnected', disconnectedAt: new Date() },
    });
    await prisma.agent.update({ where: { uid: retyped! }, data: { agentType: 'otelcol' } });

    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: finished });

    const row = await rolloutRow(id);
    expect([row.state, row.reason]).toEqual(['completed', null]);
    const t = await targets(id);
    expect(t.filter((x) => x.state === 'skipped').map((x) => [x.uid, x.detail])).toEqual(
      expect.arrayContaining([
        [offline, OFFLINE_AT_SEND],
        [disconnected, OFFLINE_AT_SEND],
        [retyped, 'the agent is a otelcol agent, the config is for fluentbit agents'],
      ]),
    );
    expect(t.filter((x) => x.state === 'skipped')).toHaveLength(3);
    expect(
      t
        .filter((x) => x.state === 'applied')
        .map((x) => x.uid)
        .sort(),
    ).toEqual([...online].sort());
    // Nothing was sent to them: no desired config, no envelope.
    for (const uid of [offline!, disconnected!, retyped!]) {
      expect(counting.sends.has(uid)).toBe(false);
      expect(await prisma.agentDesiredConfig.findUnique({ where: { agentUid: uid } })).toBeNull();
    }
  });

  it('skips quarantined agents and counts agents without ReportsRemoteConfig as applied when sent', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    const [quarantined, reporting] = await seed('skip', 2);
    const [silent] = await seed('skip', 1, SILENT_CAPS);
    const id = await create('skip', 1, { firstWave: '100%', maxWave: '100%', soakSeconds: 0 });
    // Quarantined after the rollout was created (e.g. by another path): it is skipped at send time.
    await prisma.configQuarantine.create({ data: { agentUid: quarantined!, hash: v1.hash, errorMessage: 'earlier' } });

    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: finished });

    const t = await targets(id);
    expect(t.find((x) => x.uid === quarantined)).toMatchObject({
      state: 'skipped',
      detail: 'the agent reported FAILED for this hash before (quarantined)',
    });
    expect(t.find((x) => x.uid === reporting)).toMatchObject({ state: 'applied' });
    expect(t.find((x) => x.uid === silent)).toMatchObject({ state: 'applied' });
    expect(await prisma.agentDesiredConfig.findUnique({ where: { agentUid: quarantined! } })).toBeNull();
  });
});

describe('stages', () => {
  it('holds after a manual stage until promoted, then runs the next stage', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    await seedAgents(prisma, RUN, [
      ...Array.from({ length: 2 }, () => ({ labels: { group: 'staged', tier: 'test' }, capabilities: CAPS })),
      ...Array.from({ length: 3 }, () => ({ labels: { group: 'staged', tier: 'prod' }, capabilities: CAPS })),
    ]);
    const id = await create('staged', 1, {
      firstWave: 1,
      soakSeconds: 1,
      stages: [
        { name: 'test', selector: 'tier=test', promotion: 'manual' },
        { name: 'prod', selector: 'tier=prod' },
      ],
    });

    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: (r) => r.state === 'paused' });
    let row = await rolloutRow(id);
    expect(row.reason).toBe('stage "test" passed; waiting for promotion to "prod"');
    expect(row.stageIndex).toBe(0);
    expect((await store.get(id)).pauseCause, 'the detail says it holds for promotion').toBe('promotion');
    const t = await targets(id);
    expect(t.filter((x) => x.state === 'applied')).toHaveLength(2);
    expect(t.filter((x) => x.state === 'pending')).toHaveLength(3);

    await store.promote(id);
    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: finished });
    row = await rolloutRow(id);
    expect(row.state).toBe('completed');
    expect(row.stageIndex).toBe(1);
    expect((await targets(id)).every((x) => x.state === 'applied')).toBe(true);
  });
});

describe('rollback', () => {
  it('over budget with onFailure rollback returns every touched agent to its previous desired config', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    const uids = await seed('rb', 12);
    // Most agents ran v1 before (assigned); the last two had no desired config at all.
    const withPrevious = uids.slice(0, 10);
    await desired.assign(withPrevious, v1.id, 'assignment');
    const id = await create('rb', 2, {
      firstWave: 2,
      growthFactor: 2,
      maxWave: '100%',
      soakSeconds: 1,
      onFailure: 'rollback',
      maxFailurePercent: 20,
    });
    const t0 = await targets(id);
    // Wave 1 (4 agents) has two failures: 2 of 6 > 20 %.
    const wave1 = t0.filter((x) => x.wave === 1).map((x) => x.uid);
    const bad = new Set(wave1.slice(0, 2));

    await drive(engine, clock, id, {
      agents: applyAll(v2.hash, bad),
      until: (r) => r.action?.type === 'startRollback',
    });
    expect((await rolloutRow(id)).reason).toMatch(/^failure budget exceeded: 2 of 6 targets failed/);

    // The agents acknowledge their previous config as it comes back.
    const restore = async (rid: string): Promise<void> => {
      const rows = await prisma.$queryRaw<Array<{ uid: string; prev: string | null }>>`
        SELECT agent_uid::text AS uid, previous_hash AS prev FROM rollout_targets
        WHERE rollout_id = ${rid}::uuid AND rollback_state = 'applying'`;
      await report(
        rows.filter((r) => r.prev === v1.hash).map((r) => r.uid),
        v1.hash,
        'APPLIED',
      );
    };
    const log = await drive(engine, clock, id, { agents: restore, until: finished });
    expect(log.map((r) => r.action?.type)).toContain('planRollback');

    const row = await rolloutRow(id);
    expect(row.state).toBe('rolled_back');
    const t = await targets(id);
    const touched = t.filter((x) => x.rollbackState !== null);
    expect(touched.map((x) => x.uid).sort()).toEqual(
      t0
        .filter((x) => x.wave <= 1)
        .map((x) => x.uid)
        .sort(),
    );
    expect(touched.every((x) => x.rollbackState === 'done')).toBe(true);
    expect(t.filter((x) => x.wave > 1).every((x) => x.state === 'skipped' && x.rollbackState === null)).toBe(true);
    expect(t.every((x) => !x.active)).toBe(true);

    const rows = await prisma.agentDesiredConfig.findMany({ where: { agentUid: { in: uids } } });
    const byUid = new Map(rows.map((r) => [r.agentUid, r]));
    for (const x of touched) {
      if (withPrevious.includes(x.uid)) {
        expect(byUid.get(x.uid)).toMatchObject({ configVersionId: v1.id, source: 'rollback', rolloutId: id });
      } else {
        expect(byUid.has(x.uid), 'no previous desired config: cleared').toBe(false);
      }
    }
    // Never touched: exactly as before.
    for (const x of t.filter((y) => y.wave > 1)) {
      if (withPrevious.includes(x.uid))
        expect(byUid.get(x.uid)).toMatchObject({ configVersionId: v1.id, source: 'assignment' });
    }
    // Rollback waves are sized like forward ones.
    expect((await waves(id, 'rollback')).map((w) => [w.size, w.state])).toEqual([
      [2, 'passed'],
      [4, 'passed'],
    ]);
    const types = (await eventsOf(id)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['rollback_started', 'rollback_planned', 'rolled_back']));
  });

  it('a rollback requested through the store also rolls back', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    await seed('rb-manual', 3);
    const id = await create('rb-manual', 1, { firstWave: 1, soakSeconds: 100 });
    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: (r) => r.action?.type === 'waveResolved' });
    await store.rollback(id, { reason: 'changed my mind' });
    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: finished });
    const row = await rolloutRow(id);
    expect([row.state, row.reason]).toEqual(['rolled_back', 'changed my mind']);
    expect((await targets(id)).filter((x) => x.rollbackState === 'done')).toHaveLength(1);
  });
});

describe('durability and exclusivity', () => {
  it('a second engine skips a rollout whose row another holds, and concurrent engines never send twice', async () => {
    const clock = new Clock();
    const counting = new CountingWriter(desired);
    const a = newEngine(clock, counting, { maxDispatchPerStep: 3 });
    const b = newEngine(clock, counting, { maxDispatchPerStep: 3 });
    const uids = await seed('race', 30);
    const id = await create('race', 1, { firstWave: 10, growthFactor: 2, maxWave: '100%', soakSeconds: 0 });

    // Someone holds the row: the step is skipped, not queued behind the lock.
    const holder = new pg.Client({ connectionString: DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM rollouts WHERE id = $1 FOR UPDATE', [id]);
      const skipped = await a.step(id, clock.now);
      expect(skipped).toMatchObject({ outcome: 'locked', dispatched: 0 });
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }

    for (let i = 0; i < 100; i++) {
      const results = await Promise.all([a.step(id, clock.now), b.step(id, clock.now), a.step(id, clock.now)]);
      await applyAll(v1.hash)(id);
      if (results.some(finished)) break;
      if (results.every((r) => r.action?.type === 'wait' || r.outcome === 'locked')) clock.advance(100);
    }
    expect((await rolloutRow(id)).state).toBe('completed');
    expect([...counting.sends.keys()].sort()).toEqual([...uids].sort());
    expect([...counting.sends.values()].every((n) => n === 1)).toBe(true);
  });

  it('a step that dies before committing leaves nothing behind, and a new engine resumes where it was', async () => {
    const clock = new Clock();
    const uids = await seed('crash', 6);
    const id = await create('crash', 1, { firstWave: 2, growthFactor: 2, maxWave: '100%', soakSeconds: 5 });
    const first = newEngine(clock);
    await drive(first, clock, id, { agents: applyAll(v1.hash), until: (r) => r.action?.type === 'wavePassed' });
    const before = await rolloutRow(id);

    // The process dies in the middle of the next step (after sending, before the commit).
    const dying: DesiredConfigWriter = {
      assign: async (...args) => {
        await desired.assign(...args);
        throw new Error('killed');
      },
      clear: (...args) => desired.clear(...args),
    };
    await expect(newEngine(clock, dying).step(id, clock.now)).rejects.toThrow('killed');
    expect((await rolloutRow(id)).step).toBe(before.step);
    expect((await targets(id)).filter((t) => t.state === 'pending')).toHaveLength(4);

    // A fresh engine (another worker) picks it up and finishes: waves in order, nobody skipped.
    const counting = new CountingWriter(desired);
    await drive(newEngine(clock, counting), clock, id, { agents: applyAll(v1.hash), until: finished });
    expect((await rolloutRow(id)).state).toBe('completed');
    expect((await waves(id)).map((w) => [w.size, w.state])).toEqual([
      [2, 'passed'],
      [4, 'passed'],
    ]);
    expect([...counting.sends.values()].every((n) => n === 1)).toBe(true);
    expect((await targets(id)).map((t) => t.state)).toEqual(Array(uids.length).fill('applied'));
  });
});

describe('follow new agents', () => {
  it('gives a completed rollout’s version to matching agents that appear later, once', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    await seed('follow', 2);
    const id = await create('follow', 1, { firstWave: '100%', maxWave: '100%', soakSeconds: 0 });
    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: finished });
    const row = await rolloutRow(id);

    const later = new Date(row.startedAt!.getTime() + 1000);
    const [newcomer, quarantined, elsewhere, busy] = await seed('follow', 4);
    await prisma.agent.updateMany({
      where: { uid: { in: [newcomer!, quarantined!, elsewhere!, busy!] } },
      data: { firstSeenAt: later },
    });
    await prisma.agent.update({ where: { uid: elsewhere! }, data: { labels: { testrun: RUN, group: 'other' } } });
    await prisma.configQuarantine.create({ data: { agentUid: quarantined!, hash: v1.hash } });
    await prisma.agent.update({
      where: { uid: busy! },
      data: { labels: { testrun: RUN, group: 'follow', busy: 'yes' } },
    });
    const other = await store.create({ config: CONFIG, version: 2, selector: `testrun=${RUN},busy=yes` });

    // A newcomer of another type is not this fluentbit config's to follow.
    const [otelcol] = await seedAgents(prisma, RUN, [{ labels: { group: 'follow' }, agentType: 'otelcol' }]);
    await prisma.agent.update({ where: { uid: otelcol! }, data: { firstSeenAt: later } });

    const followed = await engine.followNewAgents(clock.now);
    expect(followed.filter((f) => f.rolloutId === id)).toEqual([
      { rolloutId: id, agents: 1, newAgents: 1, returning: 0 },
    ]);
    expect(await prisma.agentDesiredConfig.findUnique({ where: { agentUid: newcomer! } })).toMatchObject({
      configVersionId: v1.id,
      source: 'follow',
      rolloutId: id,
    });
    for (const uid of [quarantined!, elsewhere!, busy!, otelcol!]) {
      expect(await prisma.agentDesiredConfig.findUnique({ where: { agentUid: uid } })).toBeNull();
    }
    expect(
      (await engine.followNewAgents(clock.now)).filter((f) => f.rolloutId === id),
      'nothing left to do',
    ).toEqual([]);
    expect((await eventsOf(id)).at(-1)).toMatchObject({ type: 'agents_followed' });
    await store.abort(other.id);
  });

  it('gives a completed rollout’s config to its targets skipped as offline at send once they are back', async () => {
    const clock = new Clock();
    const engine = newEngine(clock);
    const online = await seed('strag', 3);
    const stragglers = await seedAgents(
      prisma,
      RUN,
      Array.from({ length: 5 }, () => ({
        labels: { group: 'strag' },
        capabilities: CAPS,
        connectionState: 'offline' as const,
      })),
    );
    const [back, stillOff, reassigned, quarantined, busy] = stragglers as [string, string, string, string, string];
    const id = await create('strag', 1, { firstWave: '100%', maxWave: '100%', soakSeconds: 0, maxFailurePercent: 0 });
    await drive(engine, clock, id, { agents: applyAll(v1.hash), until: finished });
    expect((await rolloutRow(id)).state).toBe('completed');
    const skipped = (await targets(id)).filter((x) => x.state === 'skipped');
    expect(skipped.map((x) => x.uid).sort()).toEqual([...stragglers].sort());
    expect(skipped.every((x) => x.detail === OFFLINE_AT_SEND)).toBe(true);
    const [{ skippedAt }] = await prisma.$queryRaw<Array<{ skippedAt: Date }>>`
      SELECT max(resolved_at) AS "skippedAt" FROM rollout_targets WHERE rollout_id = ${id}::uuid AND state = 'skipped'`;

    // All but one come back. Meanwhile someone assigned another config to one, another reported
    // FAILED for the hash elsewhere, and a third is held by another rollout.
    await prisma.agent.updateMany({
      where: { uid: { in: [back, reassigned, quarantined, busy] } },
      data: { connectionState: 'connected', disconnectedAt: null },
    });
    await desired.assign([reassigned], v2.id, 'assignment');
    await prisma.agentDesiredConfig.update({
      where: { agentUid: reassigned },
      data: { assignedAt: new Date(skippedAt.getTime() + 1000) },
    });
    await prisma.configQuarantine.create({ data: { agentUid: quarantined, hash: v1.hash, errorMessage: 'bad' } });
    await prisma.agent.update({
      where: { uid: busy },
      data: { labels: { testrun: RUN, group: 'strag', held: 'yes' } },
    });
    const other = await store.create({ config: CONFIG, version: 2, selector: `testrun=${RUN},held=yes` });

    const mine = async () => (await engine.followNewAgents(clock.now)).filter((f) => f.rolloutId === id);
    expect(await mine()).toEqual([{ rolloutId: id, agents: 1, newAgents: 0, returning: 1 }]);
    expect(await prisma.agentDesiredConfig.findUnique({ where: { agentUid: back } })).toMatchObject({
      configVersionId: v1.id,
      source: 'follow',
      rolloutId: id,
    });
    expect(await prisma.agentDesiredConfig.findUnique({ where: { agentUid: reassigned } })).toMatchObject({
      configVersionId: v2.id,
      source: 'assignment',
    });
    for (const uid of [stillOff, quarantined, busy]) {
      expect(await prisma.agentDesiredConfig.findUnique({ where: { agentUid: uid } })).toBeNull();
    }
    expect((await targets(id)).find((x) => x.uid === back)).toMatchObject({
      state: 'skipped',
      detail: FOLLOWED_AFTER_OFFLINE,
    });
    expect(await mine(), 'each straggler is followed once').toEqual([]);

    // The last one comes back later.
    await prisma.agent.update({ where: { uid: stillOff }, data: { connectionState: 'connected' } });
    expect(await mine()).toEqual([{ rolloutId: id, agents: 1, newAgents: 0, returning: 1 }]);
    expect(await prisma.agentDesiredConfig.findUnique({ where: { agentUid: stillOff } })).toMatchObject({
      configVersionId: v1.id,
      source: 'follow',
    });
    // The agents that were online all along were sent the config by the rollout itself.
    const rows = await prisma.agentDesiredConfig.findMany({ where: { agentUid: { in: online } } });
    expect(rows.map((r) => r.source)).toEqual(['rollout', 'rollout', 'rollout']);
    await store.abort(other.id);
  });
});
