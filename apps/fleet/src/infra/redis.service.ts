import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis, createRedis, isRedisReady } from '@opamp/bus';
import { HealthService } from '@opamp/telemetry';
import { FLEET_CONFIG, type FleetConfig } from '../fleet.config.js';

/**
 * The fleet's Redis connections: `client` (auto-pipelined: state reads, MULTI commits, sweeps,
 * write-behind), `streams` (plain: stream acks/claims/trims and shard leases; ioredis 6's
 * auto-pipelining mangles the `callBuffer('XAUTOCLAIM', [...])` the inbound consumer issues) and
 * `blocking` (XREADGROUP BLOCK). Connecting happens at module init and fails the boot with the
 * (redacted) URL when Redis is unreachable.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  readonly client: Redis;
  readonly streams: Redis;
  readonly blocking: Redis;

  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    private readonly health: HealthService,
  ) {
    this.client = createRedis(config.REDIS_URL, { name: `fleet:${config.replicaId}`, autoPipelining: true });
    this.streams = createRedis(config.REDIS_URL, { name: `fleet:${config.replicaId}:streams` });
    this.blocking = createRedis(config.REDIS_URL, { name: `fleet:${config.replicaId}:consumer`, blocking: true });
    this.client.on('error', (err: Error) => this.logger.warn(`Redis: ${err.message}`));
    this.streams.on('error', () => undefined);
    this.blocking.on('error', () => undefined);
  }

  async onModuleInit(): Promise<void> {
    await connectRedis(this.client, this.config.REDIS_URL);
    await connectRedis(this.streams, this.config.REDIS_URL);
    await connectRedis(this.blocking, this.config.REDIS_URL);
    this.logger.log(`connected to ${this.config.REDIS_URL.replace(/\/\/[^@/]*@/, '//***@')}`);
    this.health.register(
      'redis',
      () => isRedisReady(this.client) && isRedisReady(this.streams) && isRedisReady(this.blocking),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([closeRedis(this.client), closeRedis(this.streams)]);
    this.blocking.disconnect();
  }
}
