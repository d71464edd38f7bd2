import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { RedisKeys } from '@opamp/bus';
import { toAgentRow, uidFromString, type AgentEvent, type AgentRow } from '@opamp/domain';
import { HealthService } from '@opamp/telemetry';
import { ShardRegistry } from '../bus/shard-registry.js';
import { FLEET_CONFIG, type FleetConfig } from '../fleet.config.js';
import { fleetMetrics } from '../fleet.metrics.js';
import { RedisService } from '../infra/redis.service.js';
import { AgentRepository } from './agent.repository.js';
import { AgentStateStore } from './agent-state.store.js';
import { AgentHashFields } from './fleet-keys.js';

/**
 * SREM each uid from the dirty set only if its dirty version did not move since it was read.
 * KEYS: dirty set, then one agent hash per uid; ARGV triples: uidHex, field name, expected version.
 */
const CLEAR_DIRTY_IF_UNCHANGED = `
for i = 2, #KEYS do
  local base = (i - 2) * 3
  local dv = redis.call('HGET', KEYS[i], ARGV[base + 2])
  if (dv or '') == ARGV[base + 3] then redis.call('SREM', KEYS[1], ARGV[base + 1]) end
end
return 1`;

/**
 * Longest pause between two attempts while Postgres fails. It bounds how long the write-behind
 * (and the fleet's readiness) lags behind a Postgres that is back: with 30 s the e2e outage test
 * measured ~21 s of extra delay after a restart. An attempt against a database that is down costs
 * one refused connection, so a few seconds is cheap; a batch is bounded by FLEET_FLUSH_MAX_BATCH.
 */
const MAX_BACKOFF_MS = 5_000;

/**
 * Write-behind to Postgres. Processing marks an agent dirty (SET RedisKeys.dirty(shard)) and
 * appends its events to a Redis list per shard, in the same MULTI as the state: a crash loses
 * nothing. Every FLEET_FLUSH_INTERVAL_MS (or as soon as FLEET_FLUSH_MAX_BATCH agents are dirty)
 * each owned shard is flushed in batches: read dirty uids and pending events, read the states
 * from Redis, upsert all rows in one statement and insert all events in another (one
 * transaction), then clear what was written (dirty flags only if the agent did not change again
 * meanwhile). On a Postgres error nothing is cleared, readiness turns false and the next attempt
 * backs off exponentially (up to 5 s).
 *
 * Events are stored exactly once: each carries the key it was given when it was queued
 * (WriteBatch.appendEvents), and the insert skips keys already stored. So when the commit
 * succeeded but the clean-up did not (its answer lost, a Redis error, a crash in between), the
 * next flush of the same events, here or on the shard's next owner, adds no row.
 */
@Injectable()
export class WriteBehindService implements OnApplicationShutdown {
  private readonly logger = new Logger('WriteBehind');
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private postgresOk = true;
  private failures = 0;
  private nextAttemptAt = 0;
  private pendingHint = 0;
  private stopped = false;

  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    private readonly redis: RedisService,
    private readonly repo: AgentRepository,
    private readonly store: AgentStateStore,
    private readonly registry: ShardRegistry,
    health: HealthService,
  ) {
    health.register('postgres', () => this.postgresOk);
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.trigger(), this.config.FLEET_FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Processing tells how many agents it just marked dirty; a full batch triggers a flush now. */
  noteDirty(count: number): void {
    this.pendingHint += count;
    if (this.pendingHint >= this.config.FLEET_FLUSH_MAX_BATCH) this.trigger();
  }

  private trigger(): void {
    if (this.stopped || this.flushing || Date.now() < this.nextAttemptAt) return;
    this.flushing = this.flushAll()
      // Postgres failures are logged (rate-limited) by markPostgres; anything else (Redis, a row
      // that cannot be built) would otherwise stall the dirty sets without a trace.
      .catch((err: Error) => {
        if (this.postgresOk) this.logger.warn(`write-behind flush failed: ${err.message}`);
      })
      .finally(() => (this.flushing = undefined));
  }

  /** Flushes every owned shard until it is clean (or a batch fails). */
  async flushAll(shards: number[] = this.registry.list()): Promise<void> {
    this.pendingHint = 0;
    for (const shard of shards) {
      // Once the lease is lost the shard is the new owner's to flush: two flushers would each trim
      // the list by their own count, dropping later events (their common events are stored once).
      while (this.registry.has(shard)) {
        const n = await this.flushShardOnce(shard);
        if (n < this.config.FLEET_FLUSH_MAX_BATCH) break;
      }
    }
  }

  /** Waits for a running flush, then flushes the given shards (release, shutdown). */
  async flushNow(shards?: number[]): Promise<void> {
    await this.flushing?.catch(() => undefined);
    await this.flushAll(shards);
  }

  /** One batch of one shard; returns how many agents and events it took. Throws on Postgres errors. */
  async flushShardOnce(shard: number): Promise<number> {
    const max = this.config.FLEET_FLUSH_MAX_BATCH;
    const client = this.redis.client;
    const eventsKey = RedisKeys.pendingEvents(shard);
    const dirtyKey = RedisKeys.dirty(shard);
    const [rawEvents, dirty] = await Promise.all([
      client.lrange(eventsKey, 0, max - 1),
      client.srandmember(dirtyKey, max),
    ]);
    if (rawEvents.length === 0 && dirty.length === 0) return 0;

    const events: AgentEvent[] = [];
    for (const raw of rawEvents) {
      try {
        events.push(JSON.parse(raw) as AgentEvent);
      } catch {
        this.logger.error(`dropping unreadable pending event on shard ${shard}`);
      }
    }
    // Every agent an event refers to is written too (the event row needs the agent row).
    const hexes = new Set<string>(dirty);
    for (const e of events) hexes.add(e.agentUid.replace(/-/g, ''));
    const uids = [...hexes].map((h) => uidFromString(h));
    const hot = await this.store.readHot(uids);
    const rows: AgentRow[] = [];
    for (const rec of hot.values()) if (rec.state.core.persisted) rows.push(toAgentRow(rec.state));

    const started = process.hrtime.bigint();
    try {
      const written = await this.repo.flush(rows, events);
      fleetMetrics.rowsWritten.inc({ table: 'agents' }, written.agents);
      fleetMetrics.rowsWritten.inc({ table: 'agent_events' }, written.events);
      fleetMetrics.flushBatchSize.observe(rows.length);
      fleetMetrics.flushDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
      this.markPostgres(true);
    } catch (err) {
      fleetMetrics.flushErrors.inc();
      this.markPostgres(false, err as Error);
      throw err;
    }

    // Clear only what was written: events by count (only this replica appends, at the tail),
    // dirty flags by version (an agent changed since it was read stays dirty).
    const cleanup = client.multi();
    if (rawEvents.length > 0) cleanup.ltrim(eventsKey, rawEvents.length, -1);
    if (dirty.length > 0) {
      const keys = [dirtyKey];
      const args: string[] = [];
      for (const hex of dirty) {
        keys.push(RedisKeys.agentState(hex));
        args.push(hex, AgentHashFields.dirtyVersion, hot.get(hex)?.dirtyVersion ?? '');
      }
      cleanup.eval(CLEAR_DIRTY_IF_UNCHANGED, keys.length, ...keys, ...args);
    }
    await cleanup.exec();
    return Math.max(rawEvents.length, dirty.length);
  }

  private markPostgres(ok: boolean, err?: Error): void {
    if (ok) {
      if (!this.postgresOk) this.logger.log('Postgres reachable again; write-behind resumed');
      this.postgresOk = true;
      this.failures = 0;
      this.nextAttemptAt = 0;
      return;
    }
    this.failures += 1;
    const delay = Math.min(this.config.FLEET_FLUSH_INTERVAL_MS * 2 ** Math.min(this.failures, 10), MAX_BACKOFF_MS);
    this.nextAttemptAt = Date.now() + delay;
    if (this.postgresOk || this.failures % 10 === 0) {
      this.logger.error(`write-behind failed (attempt ${this.failures}), retrying in ${delay} ms: ${err?.message}`);
    }
    this.postgresOk = false;
  }

  /** Stops the timer; the owner calls flushNow() for the final flush before releasing leases. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.flushing?.catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }
}
