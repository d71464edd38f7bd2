import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { BusPublisher } from '@opamp/bus';
import { DatabaseModule, PrismaService } from '@opamp/database';
import { DesiredConfigService, RolloutEngine } from '@opamp/rollouts';
import { HealthModule, HealthService } from '@opamp/telemetry';
import { RedisService } from './infra/redis.service.js';
import { ROLLOUT_WORKER_CONFIG, type RolloutWorkerConfig } from './rollout-worker.config.js';
import { RolloutWorkerLifecycle } from './rollout-worker.lifecycle.js';
import { ROLLOUT_ENGINE, RolloutProcessor } from './rollouts/rollout.processor.js';

@Module({})
export class RolloutWorkerAppModule {
  static forRoot(config: RolloutWorkerConfig): DynamicModule {
    return {
      module: RolloutWorkerAppModule,
      imports: [
        HealthModule,
        DatabaseModule.forRoot({ url: config.DATABASE_URL, poolSize: config.ROLLOUT_WORKER_DB_POOL_SIZE }),
      ],
      providers: [
        { provide: ROLLOUT_WORKER_CONFIG, useValue: config },
        RedisService,
        {
          provide: ROLLOUT_ENGINE,
          inject: [PrismaService, RedisService, HealthService],
          useFactory: (prisma: PrismaService, redis: RedisService, health: HealthService) => {
            health.register('postgres', () => prisma.isHealthy());
            const desired = new DesiredConfigService({
              prisma,
              publisher: new BusPublisher(redis.client, config.OPAMP_SHARDS),
            });
            return new RolloutEngine({
              prisma,
              desired,
              redis: redis.client,
              maxDispatchPerStep: config.ROLLOUT_WORKER_MAX_DISPATCH_PER_STEP,
              warn: (message) => new Logger('RolloutEngine').warn(message),
            });
          },
        },
        RolloutProcessor,
        RolloutWorkerLifecycle,
      ],
    };
  }
}
