import { Inject, Injectable, Logger } from '@nestjs/common';
import { RedisKeys, uidHex } from '@opamp/bus';
import { onDeadline, uidFromString, type AgentState, type FleetPolicy } from '@opamp/domain';
import { GatewayDirectory } from '../bus/gateway-directory.js';
import { ShardRegistry } from '../bus/shard-registry.js';
import { FLEET_CONFIG, FLEET_POLICY, type FleetConfig } from '../fleet.config.js';
import { fleetMetrics } from '../fleet.metrics.js';
import { RedisService } from '../infra/redis.service.js';
import { AgentStateStore } from './agent-state.store.js';
import { ShardExecutor } from './shard-executor.js';
import { WriteBatch } from './write-batch.js';

const SWEEP_LIMIT = 500;

/**
 * Offline detection. Each owned shard has a deadline ZSET (uid → ms), maintained by message
 * processing in the same MULTI as the state. A sweep per shard, serialised with that shard's
 * message processing (ShardExecutor), takes the due entries and applies the domain rule
 * (onDeadline): offline (event, dirty, route removed), extended (silent WS agent on a live
 * gateway), or re-scheduled (a newer message moved the deadline).
 */
@Injectable()
export class LivenessService {
  private readonly logger = new Logger('Liveness');
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private readonly tickMs: number;

  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    @Inject(FLEET_POLICY) private readonly policy: FleetPolicy,
    private readonly redis: RedisService,
    private readonly store: AgentStateStore,
    private readonly executor: ShardExecutor,
    private readonly gateways: GatewayDirectory,
    private readonly registry: ShardRegistry,
  ) {
    // A tenth of the shortest offline timeout, between 100 ms and 1 s.
    const shortest = config.FLEET_HEARTBEAT_INTERVAL_SECONDS * config.FLEET_OFFLINE_AFTER_MISSED * 1000;
    this.tickMs = Math.max(100, Math.min(1000, Math.floor(shortest / 10)));
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.sweepAll().finally(() => (this.sweeping = undefined));
    }, this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  async sweepAll(now = Date.now()): Promise<void> {
    await Promise.all(
      this.registry.list().map((shard) =>
        this.executor
          .run(shard, () => this.sweep(shard, now))
          .catch((err: Error) => {
            this.store.dropShard(shard);
            this.logger.warn(`liveness sweep of shard ${shard} failed: ${err.message}`);
          }),
      ),
    );
  }

  /** Applies every deadline of `shard` due at `now`; returns how many agents went offline. */
  async sweep(shard: number, now = Date.now()): Promise<number> {
    if (!this.registry.has(shard)) return 0;
    const due = await this.redis.client.zrangebyscore(RedisKeys.deadlines(shard), '-inf', now, 'LIMIT', 0, SWEEP_LIMIT);
    if (due.length === 0) return 0;
    const uids = due.map((h) => uidFromString(h));
    await this.store.preload(shard, uids);
    const batch = new WriteBatch(this.config.OPAMP_SHARDS, now);
    const offline: string[] = [];
    const extended: AgentState[] = [];
    for (const uid of uids) {
      const hex = uidHex(uid);
      const state = this.store.get(shard, hex);
      if (!state) {
        batch.putDeadline(shard, hex, 0);
        continue;
      }
      const link = state.core.link;
      const linkAlive = link ? await this.gateways.isAlive(link.gatewayId) : false;
      const outcome = onDeadline(state, now, linkAlive, this.policy);
      switch (outcome.kind) {
        case 'remove':
          batch.putDeadline(shard, hex, 0);
          break;
        case 'reschedule':
          batch.putDeadline(shard, hex, outcome.deadlineMs);
          break;
        case 'extend':
          extended.push(outcome.state);
          batch.putState({
            state: outcome.state,
            events: [],
            persist: false,
            reportChanged: false,
            desiredChanged: false,
            route: { kind: 'set', link: outcome.link },
            deadlineMs: outcome.deadlineMs,
          });
          break;
        case 'offline': {
          const core = { ...outcome.state.core, persisted: true, lastPersistedSeenMs: outcome.state.core.lastSeenMs };
          batch.putState({
            state: { ...outcome.state, core },
            events: outcome.events,
            persist: true,
            reportChanged: false,
            desiredChanged: false,
            route: outcome.previousLink ? { kind: 'delete' } : { kind: 'keep' },
            deadlineMs: 0,
          });
          offline.push(hex);
          break;
        }
      }
    }
    if (!this.registry.has(shard)) return 0;
    await batch.exec(this.redis.client);
    // Memory follows Redis only once the batch is committed: a lease lost meanwhile must not leave
    // states of a shard this replica no longer owns in memory. Offline agents leave memory (their
    // state stays in Redis until they come back).
    for (const state of extended) this.store.set(shard, state);
    for (const hex of offline) this.store.evict(shard, hex);
    fleetMetrics.offline.inc(offline.length);
    return offline.length;
  }
}
