// The rollout worker's BullMQ queue (QueueNames.rollouts), docs/rollouts.md "The worker's step":
//
//   advance {rolloutId}  one step of one rollout. Deduplicated per rollout (id `advance:<id>`), so
//                        at most one is waiting or delayed per rollout; the worker re-enqueues it
//                        with a delay while the rollout is active.
//   sweep                a job scheduler (every few seconds) that re-enqueues `advance` for every
//                        active rollout (a killed worker's rollouts resume) and assigns configs to
//                        new agents of completed rollouts.
//
// The api uses `kick()` right after create / resume / promote / rollback / abort so the worker acts
// at once instead of at its next tick or sweep.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis, QueueNames } from '@opamp/bus';

export const RolloutJobNames = {
  advance: 'advance',
  sweep: 'sweep',
} as const;

export type RolloutJobName = (typeof RolloutJobNames)[keyof typeof RolloutJobNames];

export interface AdvanceJobData {
  rolloutId: string;
}

/** Data of any job of the rollouts queue (`sweep` carries none). */
export type RolloutJobData = AdvanceJobData | Record<string, never>;

/** Id of the sweep's job scheduler (one for the whole deployment, however many workers). */
export const SWEEP_SCHEDULER_ID = 'rollouts-sweep';

/** Deduplication id of a rollout's advance job. */
export const advanceDeduplicationId = (rolloutId: string): string => `advance:${rolloutId}`;

export interface RolloutQueueOptions {
  /** BullMQ key prefix (default `bull`); tests use their own. */
  prefix?: string;
}

/**
 * Enqueues rollout jobs. BullMQ needs a connection with `maxRetriesPerRequest: null`; use
 * {@link RolloutQueue.connect} to get one the queue owns, or pass one made with
 * `createRedis(url, { name, blocking: true })` (the caller then closes it).
 */
export class RolloutQueue {
  readonly queue: Queue<RolloutJobData, unknown, string>;
  private readonly owned: Redis | undefined;

  constructor(connection: Redis, options: RolloutQueueOptions = {}, owned = false) {
    this.queue = new Queue<RolloutJobData, unknown, string>(QueueNames.rollouts, {
      connection,
      ...(options.prefix ? { prefix: options.prefix } : {}),
    });
    this.owned = owned ? connection : undefined;
  }

  /** A queue with its own Redis connection, closed by {@link close}. */
  static connect(redisUrl: string, name: string, options: RolloutQueueOptions = {}): RolloutQueue {
    return new RolloutQueue(createRedis(redisUrl, { name, blocking: true }), options, true);
  }

  /**
   * Asks for a step of the rollout now: adds an immediate `advance` job, or moves the rollout's
   * delayed one forward. Idempotent.
   */
  async kick(rolloutId: string): Promise<void> {
    await this.queue.add(
      RolloutJobNames.advance,
      { rolloutId },
      { ...jobOptions(), delay: 0, deduplication: { id: advanceDeduplicationId(rolloutId), reschedule: true } },
    );
  }

  /**
   * Schedules the rollout's next step after `delayMs`, unless a step is already waiting or
   * scheduled (then nothing changes).
   */
  async schedule(rolloutId: string, delayMs: number): Promise<void> {
    await this.queue.add(
      RolloutJobNames.advance,
      { rolloutId },
      {
        ...jobOptions(),
        delay: Math.max(0, Math.round(delayMs)),
        deduplication: { id: advanceDeduplicationId(rolloutId) },
      },
    );
  }

  /** Creates or updates the sweep's job scheduler (idempotent; every worker calls it at start). */
  async ensureSweep(everyMs: number): Promise<void> {
    await this.queue.upsertJobScheduler(
      SWEEP_SCHEDULER_ID,
      { every: everyMs },
      { name: RolloutJobNames.sweep, data: {}, opts: { removeOnComplete: true, removeOnFail: 50 } },
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
    if (this.owned) await closeRedis(this.owned);
  }
}

function jobOptions(): { removeOnComplete: true; removeOnFail: number; attempts: number } {
  // A failed step is not retried by BullMQ: the worker schedules the next one itself, and the sweep
  // re-enqueues every active rollout anyway.
  return { removeOnComplete: true, removeOnFail: 100, attempts: 1 };
}
