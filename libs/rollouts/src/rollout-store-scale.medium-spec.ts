// Rollout creation at fleet scale, run on demand (skipped unless ROLLOUT_SCALE_AGENTS is set):
//
//   ROLLOUT_SCALE_AGENTS=100000 npm test -- libs/rollouts/src/rollout-store-scale.medium-spec.ts
//
// Seeds N agents (half with a previous desired config), then plans, creates, reads and aborts one
// rollout over all of them, checking the snapshot is complete and printing how long each took.
// Timings are printed, never asserted (performance is not a pass/fail property of a test run).
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, createRedis } from '@opamp/bus';
import { PrismaService } from '@opamp/database';
import { DATABASE_URL, REDIS_URL } from '../../../test/support/env.js';
import { cleanupRun, seedConfig, type SeededConfig } from '../../../test/support/rollout-store-fixtures.js';
import { RolloutStore } from './rollout-store.js';

const N = Number(process.env.ROLLOUT_SCALE_AGENTS ?? 0);
const RUN = `scale${randomBytes(4).toString('hex')}`;
const CONFIG = `scale-${RUN}`;

describe.skipIf(!(N > 0))(`rollout store with ${N} agents`, () => {
  let prisma: PrismaService;
  let redis: Redis;
  let store: RolloutStore;
  let config: SeededConfig;

  const timed = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await fn();
    console.log(`[scale ${N}] ${label}: ${(performance.now() - t0).toFixed(0)} ms`);
    return out;
  };

  beforeAll(async () => {
    prisma = new PrismaService({ url: DATABASE_URL, poolSize: 4 });
    await prisma.onModuleInit();
    redis = createRedis(REDIS_URL, { name: 'rollout-store-scale' });
    await connectRedis(redis, REDIS_URL);
    store = new RolloutStore({ prisma, redis });
    config = await seedConfig(prisma, CONFIG, 2);
    const prev = config.versions[0]!;
    await timed('seed agents', async () => {
      await prisma.$executeRaw`
        INSERT INTO agents (uid, agent_type, description, labels, capabilities, connection_state, first_seen_at, last_seen_at)
        SELECT gen_random_uuid(), 'fluentbit', '{"identifying":{"service.name":"fluent-bit"},"nonIdentifying":{}}'::jsonb,
               jsonb_build_object('testrun', ${RUN}::text, 'zone', 'z' || (i % 4)), 4099, 'connected', now(), now()
        FROM generate_series(1, ${N}::int) i`;
      await prisma.$executeRaw`
        INSERT INTO agent_desired_configs (agent_uid, config_version_id, hash, source)
        SELECT uid, ${prev.id}, ${prev.hash}, 'assignment' FROM agents
        WHERE labels @> ${JSON.stringify({ testrun: RUN })}::jsonb AND labels ->> 'zone' IN ('z0', 'z1')`;
      await prisma.$executeRaw`ANALYZE agents`;
    });
  }, 600_000);

  afterAll(async () => {
    if (prisma) {
      await cleanupRun(prisma, RUN, [CONFIG]);
      await prisma.onApplicationShutdown();
    }
    redis?.disconnect();
  }, 600_000);

  it('plans, creates, reads and aborts one rollout over every agent', async () => {
    const input = {
      config: CONFIG,
      version: 2,
      selector: `testrun=${RUN}`,
      strategy: {
        stages: [
          { name: 'z0', selector: 'zone=z0' },
          { name: 'rest', selector: '' },
        ],
      },
    };
    const planned = await timed('plan (dry run)', () => store.plan(input));
    expect(planned.plan.targets).toBe(N);
    const created = await timed('create', () => store.create(input));
    expect(created.plan.targets).toBe(N);
    const detail = await timed('get', () => store.get(created.id));
    expect(detail).toMatchObject({ targets: N, counts: { pending: N } });
    expect(detail.waves.reduce((n, w) => n + w.counts.pending, 0)).toBe(N);
    expect(detail.waves.every((w) => w.counts.pending === w.size)).toBe(true);
    const withPrevious = await prisma.rolloutTarget.count({
      where: { rolloutId: created.id, previousVersionId: { not: null } },
    });
    const zonesZ0Z1 = Array.from({ length: N }, (_, k) => (k + 1) % 4).filter((z) => z < 2).length;
    expect(withPrevious).toBe(zonesZ0Z1);
    console.log(`[scale ${N}] waves: ${detail.plan.stages.map((s) => `${s.name} ${s.waves.join(',')}`).join(' | ')}`);
    const conflict = await timed('overlapping create (refused)', () => store.create(input).catch((e: unknown) => e));
    expect((conflict as Error).name).toBe('RolloutConflictError');
    await timed('abort (releases every target)', () => store.abort(created.id));
  }, 600_000);
});
