import { withDeadline } from '@opamp/bus';
import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { HealthService } from '@opamp/telemetry';
import { LivenessService } from './agents/liveness.service.js';
import { WriteBehindService } from './agents/write-behind.service.js';
import { ShardOwnershipService } from './bus/shard-ownership.service.js';

const FINAL_FLUSH_TIMEOUT_MS = 15_000;

/**
 * Start-up and graceful shutdown order. Start: leases + consumer, liveness sweeps, write-behind.
 * SIGTERM: readiness false, stop taking entries and finish in-flight batches, stop sweeps, final
 * write-behind flush, release the leases (another replica takes the shards at once). Redis and
 * Postgres connections close afterwards in their own onApplicationShutdown hooks.
 */
@Injectable()
export class FleetLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('FleetLifecycle');

  constructor(
    private readonly ownership: ShardOwnershipService,
    private readonly liveness: LivenessService,
    private readonly writeBehind: WriteBehindService,
    private readonly health: HealthService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.ownership.start();
    this.liveness.start();
    this.writeBehind.start();
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.logger.log(`shutting down${signal ? ` (${signal})` : ''}: draining`);
    this.health.markShuttingDown();
    await this.ownership.stopConsuming();
    await this.liveness.stop();
    await this.writeBehind.stop();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.writeBehind.flushNow(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), FINAL_FLUSH_TIMEOUT_MS))),
      ]);
    } catch (err) {
      this.logger.warn(
        `final write-behind flush incomplete (the dirty sets stay in Redis for the next owner): ${(err as Error).message}`,
      );
    } finally {
      clearTimeout(timer);
    }
    // Without Redis the leases cannot be released; they lapse after their TTL instead.
    const released = await withDeadline(
      this.ownership.releaseAll().then(() => true),
      5000,
    );
    this.logger.log(
      released ? 'drained: leases released' : 'drained: Redis unreachable, leases will lapse after their TTL',
    );
  }
}
