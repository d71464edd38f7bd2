import { Inject, Injectable, Logger } from '@nestjs/common';
import { InboundConsumer, ShardLeaseManager } from '@opamp/bus';
import { HealthService } from '@opamp/telemetry';
import { AgentProcessorService } from '../agents/agent-processor.service.js';
import { AgentStateStore } from '../agents/agent-state.store.js';
import { ShardExecutor } from '../agents/shard-executor.js';
import { WriteBehindService } from '../agents/write-behind.service.js';
import { FLEET_CONFIG, type FleetConfig } from '../fleet.config.js';
import { RedisService } from '../infra/redis.service.js';
import { ShardRegistry } from './shard-registry.js';

/**
 * Wires shard leases to the inbound consumer: a shard whose lease we get is consumed (entries a
 * previous owner left unacknowledged first), a shard we hand back is drained (in-flight batch
 * finished, write-behind flushed) before the lease is released, and a shard whose lease we lost
 * is dropped at once (memory forgotten; the new owner reloads from Redis).
 */
@Injectable()
export class ShardOwnershipService {
  private readonly logger = new Logger('ShardOwnership');
  private consumer: InboundConsumer | undefined;
  private leases: ShardLeaseManager | undefined;

  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    private readonly redis: RedisService,
    private readonly processor: AgentProcessorService,
    private readonly store: AgentStateStore,
    private readonly executor: ShardExecutor,
    private readonly writeBehind: WriteBehindService,
    private readonly registry: ShardRegistry,
    health: HealthService,
  ) {
    health.register('leases', () => this.leases?.healthy ?? false);
  }

  get owned(): number[] {
    return this.registry.list();
  }

  async start(): Promise<void> {
    const consumer = new InboundConsumer(
      this.redis.blocking,
      this.redis.streams,
      this.config.replicaId,
      (shard, entries) => this.processor.handleBatch(shard, entries),
      { onError: (err) => this.logger.warn(`inbound: ${err.message}`) },
    );
    this.consumer = consumer;
    this.leases = new ShardLeaseManager(
      this.redis.streams,
      this.config.replicaId,
      this.config.OPAMP_SHARDS,
      {
        acquired: async (shard) => {
          this.store.dropShard(shard);
          this.registry.add(shard);
          await consumer.addShard(shard);
          this.logger.log(`acquired shard ${shard}`);
        },
        releasing: async (shard) => {
          await consumer.removeShard(shard);
          await this.executor.drain(shard);
          await this.writeBehind
            .flushNow([shard])
            .catch((err: Error) =>
              this.logger.warn(`final flush of shard ${shard} failed (its dirty set stays in Redis): ${err.message}`),
            );
          this.registry.delete(shard);
          this.store.dropShard(shard);
          this.logger.log(`released shard ${shard}`);
        },
        lost: (shard) => {
          consumer.dropShard(shard);
          this.registry.delete(shard);
          this.store.dropShard(shard);
          this.logger.warn(`lost the lease of shard ${shard}`);
        },
      },
      { ttlMs: this.config.FLEET_LEASE_TTL_MS },
    );
    await this.leases.start();
    consumer.start();
    this.logger.log(
      `replica ${this.config.replicaId} consuming shards [${this.registry.list().join(', ')}] of ${this.config.OPAMP_SHARDS}`,
    );
  }

  /** Stop taking new entries and finish the batches in flight. */
  async stopConsuming(): Promise<void> {
    await this.consumer?.stop();
    await this.executor.drainAll();
  }

  /** Hand every lease back (another replica takes the shards at once) and leave the member set. */
  async releaseAll(): Promise<void> {
    await this.leases?.stop();
  }
}
