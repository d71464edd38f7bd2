import type { Redis } from 'ioredis';
import { RedisKeys } from './keys.js';

const RENEW_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface LeaseHooks {
  /** The shard is ours: start consuming it (claim what the previous owner left pending first). */
  acquired(shard: number): void | Promise<void>;
  /** We are about to give the shard up on purpose: finish in-flight work, then resolve. */
  releasing(shard: number): Promise<void>;
  /** The lease expired or another replica holds it: stop touching the shard at once. */
  lost(shard: number): void;
}

export interface LeaseOptions {
  ttlMs?: number;
  renewEveryMs?: number;
}

/**
 * Each inbound shard is consumed by exactly one fleet replica at a time. A replica holds a
 * lease per shard (SET NX PX, renewed by compare-and-expire). Replicas announce themselves in a
 * ZSET with an expiry score; each aims for ceil(shards / live replicas) leases, taking free
 * shards and handing back extras, so leases rebalance as replicas come and go. A crashed
 * replica's leases lapse after `ttlMs` and are taken by the survivors.
 */
export class ShardLeaseManager {
  private readonly ownedShards = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private readonly ttlMs: number;
  private readonly renewEveryMs: number;
  private lastTickOk = false;

  constructor(
    private readonly redis: Redis,
    readonly replicaId: string,
    private readonly shards: number,
    private readonly hooks: LeaseHooks,
    opts: LeaseOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.renewEveryMs = opts.renewEveryMs ?? Math.max(250, Math.floor(this.ttlMs / 3));
  }

  get owned(): ReadonlySet<number> {
    return this.ownedShards;
  }

  /** True while the last lease round trip to Redis succeeded. */
  get healthy(): boolean {
    return this.lastTickOk;
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => {
      if (!this.ticking) this.ticking = this.tick().finally(() => (this.ticking = undefined));
    }, this.renewEveryMs);
    this.timer.unref();
  }

  async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const now = Date.now();
      await this.redis
        .multi()
        .zadd(RedisKeys.fleetMembers, now + this.ttlMs, this.replicaId)
        .zremrangebyscore(RedisKeys.fleetMembers, '-inf', now)
        .exec();
      const live = Math.max(1, await this.redis.zcard(RedisKeys.fleetMembers));
      const fairShare = Math.ceil(this.shards / live);

      for (const shard of [...this.ownedShards]) {
        const ok = await this.redis.eval(RENEW_IF_OWNER, 1, RedisKeys.shardLease(shard), this.replicaId, this.ttlMs);
        if (ok !== 1) {
          this.ownedShards.delete(shard);
          this.hooks.lost(shard);
        }
      }

      if (live > 1 && this.ownedShards.size > fairShare) {
        const extras = [...this.ownedShards].sort((a, b) => b - a).slice(0, this.ownedShards.size - fairShare);
        for (const shard of extras) await this.release(shard);
      }

      if (this.ownedShards.size < fairShare) {
        const offset = Math.floor(Math.random() * this.shards);
        for (let i = 0; i < this.shards && this.ownedShards.size < fairShare && !this.stopped; i++) {
          const shard = (offset + i) % this.shards;
          if (this.ownedShards.has(shard)) continue;
          const got = await this.redis.set(RedisKeys.shardLease(shard), this.replicaId, 'PX', this.ttlMs, 'NX');
          if (got === 'OK') {
            this.ownedShards.add(shard);
            await this.acquire(shard);
          }
        }
      }
      this.lastTickOk = true;
    } catch {
      // Redis unreachable: keep what we think we own until the TTL would have lapsed; the next
      // successful renewal tells us whether we still hold it.
      this.lastTickOk = false;
    }
  }

  /**
   * A lease whose `acquired` hook failed (e.g. Redis hiccuped while creating the consumer group)
   * would otherwise be renewed forever by a replica that never reads the shard; hand it back so
   * the next tick, here or on another replica, tries again.
   */
  private async acquire(shard: number): Promise<void> {
    try {
      await this.hooks.acquired(shard);
    } catch (err) {
      this.ownedShards.delete(shard);
      this.hooks.lost(shard);
      await this.redis.eval(RELEASE_IF_OWNER, 1, RedisKeys.shardLease(shard), this.replicaId).catch(() => undefined);
      throw err;
    }
  }

  private async release(shard: number): Promise<void> {
    await this.hooks.releasing(shard);
    this.ownedShards.delete(shard);
    await this.redis.eval(RELEASE_IF_OWNER, 1, RedisKeys.shardLease(shard), this.replicaId).catch(() => undefined);
  }

  /** Graceful stop: hand every shard back (after in-flight work) and leave the member set. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking?.catch(() => undefined);
    for (const shard of [...this.ownedShards]) await this.release(shard).catch(() => undefined);
    await this.redis.zrem(RedisKeys.fleetMembers, this.replicaId).catch(() => undefined);
  }
}
