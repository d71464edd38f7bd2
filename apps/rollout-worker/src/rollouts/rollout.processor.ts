import { Inject, Injectable, Logger } from '@nestjs/common';
import { Worker, type Job } from 'bullmq';
import { QueueNames } from '@opamp/bus';
import {
  RolloutEngine,
  RolloutJobNames,
  RolloutQueue,
  type AdvanceJobData,
  type RolloutJobData,
  type RolloutStepResult,
} from '@opamp/rollouts';
import { HealthService } from '@opamp/telemetry';
import { RedisService } from '../infra/redis.service.js';
import { ROLLOUT_WORKER_CONFIG, type RolloutWorkerConfig } from '../rollout-worker.config.js';
import { rolloutWorkerMetrics as metrics } from '../rollout-worker.metrics.js';

export const ROLLOUT_ENGINE = Symbol('ROLLOUT_ENGINE');

/**
 * Runs the jobs of the `rollouts` queue (docs/rollouts.md "The worker's step"):
 *
 * - `advance {rolloutId}`: one engine step, then the rollout's next `advance` is scheduled (at once
 *   after progress, else after the tick) until the rollout is finished. The job drops its
 *   deduplication key as soon as it starts, so a kick from the api while it runs queues the next
 *   step instead of being lost; two steps of one rollout still never overlap (the engine's row lock).
 * - `sweep` (job scheduler): re-enqueues `advance` for every active rollout (a killed worker's
 *   rollouts resume) and runs follow-new-agents.
 */
@Injectable()
export class RolloutProcessor {
  private readonly logger = new Logger('RolloutProcessor');
  private worker: Worker<RolloutJobData, unknown, string> | undefined;
  private queue: RolloutQueue | undefined;

  constructor(
    @Inject(ROLLOUT_WORKER_CONFIG) private readonly config: RolloutWorkerConfig,
    @Inject(ROLLOUT_ENGINE) private readonly engine: RolloutEngine,
    private readonly redis: RedisService,
    private readonly health: HealthService,
  ) {}

  async start(): Promise<void> {
    this.queue = new RolloutQueue(this.redis.queue);
    await this.queue.ensureSweep(this.config.ROLLOUT_WORKER_SWEEP_INTERVAL_MS);
    const worker = new Worker<RolloutJobData, unknown, string>(QueueNames.rollouts, (job) => this.process(job), {
      connection: this.redis.queue,
      concurrency: this.config.ROLLOUT_WORKER_CONCURRENCY,
      name: this.config.workerId,
      // A step holds its rollout's row lock for well under a second; a lost lock only means another
      // worker may run the job again, which the row lock makes harmless.
      lockDuration: 60_000,
      maxStalledCount: 5,
    });
    worker.on('error', (err) => this.logger.warn(`BullMQ: ${err.message}`));
    worker.on('failed', (job, err) =>
      this.logger.warn(`job ${job?.name ?? '?'} ${job?.id ?? ''} failed: ${err.message}`),
    );
    await worker.waitUntilReady();
    this.worker = worker;
    this.health.register('worker', () => worker.isRunning());
    // Resume at once after a restart instead of at the first sweep.
    await this.enqueueActive();
    this.logger.log(
      `worker ${this.config.workerId} consuming queue "${QueueNames.rollouts}" (concurrency ${this.config.ROLLOUT_WORKER_CONCURRENCY}, tick ${this.config.ROLLOUT_WORKER_TICK_MS} ms, sweep every ${this.config.ROLLOUT_WORKER_SWEEP_INTERVAL_MS} ms)`,
    );
  }

  /** Stops taking jobs and waits for the running ones to finish (their steps commit or roll back). */
  async stop(): Promise<void> {
    await this.worker?.close();
    await this.queue?.close();
  }

  private async process(job: Job<RolloutJobData, unknown, string>): Promise<unknown> {
    switch (job.name) {
      case RolloutJobNames.advance:
        return this.advance(job as Job<AdvanceJobData, unknown, string>);
      case RolloutJobNames.sweep:
        return this.sweep();
      default:
        this.logger.warn(`ignoring unknown job "${job.name}"`);
        return undefined;
    }
  }

  private async advance(job: Job<AdvanceJobData, unknown, string>): Promise<unknown> {
    const { rolloutId } = job.data;
    await job.removeDeduplicationKey();
    const tick = this.config.ROLLOUT_WORKER_TICK_MS;
    const stop = metrics.stepDuration.startTimer();
    let result: RolloutStepResult | undefined;
    try {
      result = await this.engine.step(rolloutId);
    } catch (err) {
      metrics.steps.inc({ action: 'error' });
      this.logger.warn(`rollout ${rolloutId}: step failed (retrying in ${tick} ms): ${(err as Error).message}`);
      await this.queue!.schedule(rolloutId, tick);
      throw err;
    } finally {
      stop();
    }
    this.record(result);
    if (result.nextStepInMs !== null) {
      await this.queue!.schedule(rolloutId, Math.min(result.nextStepInMs ?? tick, tick));
    }
    return { outcome: result.outcome, action: result.action?.type, state: result.state, step: result.step };
  }

  private record(r: RolloutStepResult): void {
    metrics.steps.inc({ action: r.outcome === 'stepped' ? (r.action?.type ?? 'none') : r.outcome });
    if (r.dispatched > 0 && r.action?.type === 'dispatch') {
      metrics.dispatched.inc({ direction: r.action.direction }, r.dispatched);
    }
    const c = r.reconciled;
    for (const [result, n] of [
      ['applied', c.applied],
      ['failed', c.failed],
      ['timed_out', c.timedOut],
      ['unhealthy', c.unhealthy],
      ['forgotten', c.forgotten],
      ['restored', c.restored],
    ] as const) {
      if (n > 0) metrics.reconciled.inc({ result }, n);
    }
    if (r.action && r.action.type !== 'wait' && r.action.type !== 'idle' && r.action.type !== 'dispatch') {
      const reason = 'reason' in r.action ? `: ${r.action.reason}` : '';
      this.logger.log(`rollout ${r.rolloutId}: ${r.action.type} → ${r.state} (step ${r.step})${reason}`);
    }
  }

  private async sweep(): Promise<unknown> {
    try {
      const active = await this.enqueueActive();
      const followed = await this.engine.followNewAgents();
      const agents = followed.reduce((n, f) => n + f.agents, 0);
      if (agents > 0) {
        metrics.followed.inc(agents);
        this.logger.log(`follow new agents: ${agents} agent(s) given the config of ${followed.length} rollout(s)`);
      }
      metrics.sweeps.inc({ result: 'ok' });
      return { active, followed: agents };
    } catch (err) {
      metrics.sweeps.inc({ result: 'error' });
      throw err;
    }
  }

  /** Makes sure every active rollout has an `advance` job waiting (a no-op for those that do). */
  private async enqueueActive(): Promise<number> {
    const ids = await this.engine.activeRolloutIds();
    metrics.activeRollouts.set(ids.length);
    for (const id of ids) await this.queue!.schedule(id, 0);
    return ids.length;
  }
}
