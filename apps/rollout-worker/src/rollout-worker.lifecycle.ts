import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { HealthService } from '@opamp/telemetry';
import { RolloutProcessor } from './rollouts/rollout.processor.js';

/**
 * Start: the BullMQ worker starts consuming once Postgres and Redis are connected. SIGTERM:
 * readiness turns false, the worker stops taking jobs and waits for the steps in flight (each is
 * one transaction: it commits or rolls back, never half-applies), then Redis and Postgres close
 * in their own onApplicationShutdown hooks.
 */
@Injectable()
export class RolloutWorkerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('RolloutWorkerLifecycle');

  constructor(
    private readonly processor: RolloutProcessor,
    private readonly health: HealthService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.processor.start();
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.logger.log(`shutting down${signal ? ` (${signal})` : ''}: waiting for the steps in flight`);
    this.health.markShuttingDown();
    await this.processor.stop();
    this.logger.log('drained: no step in flight');
  }
}
