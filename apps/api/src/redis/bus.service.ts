import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { BusPublisher, closeRedis, connectRedis, createRedis, isRedisReady } from '@opamp/bus';
import { HealthService } from '@opamp/telemetry';
import { API_CONFIG, type ApiConfig } from '../api.config.js';

/**
 * The api's Redis connection: publishes control commands on the agents' inbound shards. Boot
 * fails when Redis is unreachable; /readyz reports it afterwards.
 */
@Injectable()
export class BusService implements OnModuleInit, OnApplicationShutdown {
  readonly redis: Redis;
  readonly publisher: BusPublisher;
  private readonly logger = new Logger('BusService');

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly health: HealthService,
  ) {
    this.redis = createRedis(config.REDIS_URL, { name: 'opamp-api' });
    this.publisher = new BusPublisher(this.redis, config.OPAMP_SHARDS);
  }

  async onModuleInit(): Promise<void> {
    await connectRedis(this.redis, this.config.REDIS_URL);
    this.health.register('redis', () => isRedisReady(this.redis));
    this.logger.log(`connected to Redis (${this.config.OPAMP_SHARDS} inbound shards)`);
  }

  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.redis);
  }
}
