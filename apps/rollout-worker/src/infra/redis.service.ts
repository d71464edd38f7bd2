import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis, createRedis, isRedisReady } from '@opamp/bus';
import { HealthService } from '@opamp/telemetry';
import { ROLLOUT_WORKER_CONFIG, type RolloutWorkerConfig } from '../rollout-worker.config.js';

/**
 * The worker's Redis connections: `client` (desired-config envelopes on the inbound shards,
 * rollout events) and `queue` (BullMQ's, which must not time out commands:
 * maxRetriesPerRequest null; BullMQ duplicates it for its blocking reads). Connecting happens at
 * module init and fails the boot with the (redacted) URL when Redis is unreachable.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  readonly client: Redis;
  readonly queue: Redis;

  constructor(
    @Inject(ROLLOUT_WORKER_CONFIG) private readonly config: RolloutWorkerConfig,
    private readonly health: HealthService,
  ) {
    this.client = createRedis(config.REDIS_URL, { name: `rollout-worker:${config.workerId}` });
    this.queue = createRedis(config.REDIS_URL, { name: `rollout-worker:${config.workerId}:queue`, blocking: true });
    this.client.on('error', (err: Error) => this.logger.warn(`Redis: ${err.message}`));
    this.queue.on('error', () => undefined);
  }

  async onModuleInit(): Promise<void> {
    await connectRedis(this.client, this.config.REDIS_URL);
    await connectRedis(this.queue, this.config.REDIS_URL);
    this.logger.log(`connected to ${this.config.REDIS_URL.replace(/\/\/[^@/]*@/, '//***@')}`);
    this.health.register('redis', () => isRedisReady(this.client) && isRedisReady(this.queue));
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([closeRedis(this.client), closeRedis(this.queue)]);
  }
}
