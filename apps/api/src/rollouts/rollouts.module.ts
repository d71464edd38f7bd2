import { Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { PrismaService } from '@opamp/database';
import { RolloutQueue, RolloutStore } from '@opamp/rollouts';
import { API_CONFIG, type ApiConfig } from '../api.config.js';
import { BusService } from '../redis/bus.service.js';
import { RolloutsController } from './rollouts.controller.js';
import { ROLLOUT_STORE, RolloutsService } from './rollouts.service.js';

/**
 * The rollout worker's queue as the api sees it: `kick()` asks for an immediate step after a
 * create or a control. BullMQ wants a connection of its own (no per-request retry limit).
 */
@Injectable()
export class ApiRolloutQueue implements OnApplicationShutdown {
  readonly queue: RolloutQueue;

  constructor(@Inject(API_CONFIG) config: ApiConfig) {
    this.queue = RolloutQueue.connect(config.REDIS_URL, 'opamp-api-rollouts');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}

@Module({
  controllers: [RolloutsController],
  providers: [
    ApiRolloutQueue,
    {
      provide: ROLLOUT_STORE,
      inject: [PrismaService, BusService, ApiRolloutQueue],
      useFactory: (prisma: PrismaService, bus: BusService, queue: ApiRolloutQueue) => {
        const logger = new Logger('RolloutStore');
        return new RolloutStore({
          prisma,
          redis: bus.redis,
          // The worker acts at once instead of at its next sweep; a failure is only logged.
          kick: (id) => queue.queue.kick(id),
          warn: (message) => logger.warn(message),
        });
      },
    },
    RolloutsService,
  ],
  exports: [RolloutsService],
})
export class RolloutsModule {}
