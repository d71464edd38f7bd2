// RolloutQueue against real Redis (BullMQ 6): at most one advance job waits per rollout, a kick
// brings a delayed step forward, and the sweep scheduler is created once. Own key prefix, so the
// real `rollouts` queue of other tests is never touched.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../../../test/support/env.js';
import { RolloutQueue, SWEEP_SCHEDULER_ID } from './rollout-queue.js';

const PREFIX = `test-rq-${randomBytes(4).toString('hex')}`;
let queue: RolloutQueue;

beforeAll(() => {
  queue = RolloutQueue.connect(REDIS_URL, 'rollout-queue-medium-spec', { prefix: PREFIX });
});

afterAll(async () => {
  await queue?.queue.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
});

describe('RolloutQueue', () => {
  it('keeps at most one advance job per rollout, however often it is asked', async () => {
    const a = randomUUID();
    const b = randomUUID();
    await queue.schedule(a, 60_000);
    await queue.schedule(a, 60_000);
    await queue.kick(b);
    await queue.kick(b);
    await queue.schedule(b, 60_000);
    const jobs = await queue.queue.getJobs(['waiting', 'delayed']);
    const per = (id: string) => jobs.filter((j) => (j.data as { rolloutId?: string }).rolloutId === id);
    expect(per(a)).toHaveLength(1);
    expect(per(b)).toHaveLength(1);
    expect(await per(a)[0]!.getState()).toBe('delayed');
    expect(await per(b)[0]!.getState()).toBe('waiting');
  });

  it('a kick brings a rollout’s delayed step forward', async () => {
    const id = randomUUID();
    await queue.schedule(id, 60_000);
    await queue.kick(id);
    const jobs = (await queue.queue.getJobs(['waiting', 'delayed'])).filter(
      (j) => (j.data as { rolloutId?: string }).rolloutId === id,
    );
    expect(jobs).toHaveLength(1);
    // Due now: a worker promotes it at once (it may still sit in the delayed set until then).
    expect(jobs[0]!.delay).toBe(0);
  });

  it('upserts one sweep scheduler', async () => {
    await queue.ensureSweep(5000);
    await queue.ensureSweep(2000);
    const schedulers = await queue.queue.getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.every])).toEqual([[SWEEP_SCHEDULER_ID, 2000]]);
  });
});
