import { Injectable, Logger } from '@nestjs/common';
import { RedisKeys, uidHex } from '@opamp/bus';
import { decodeHotState, stateFromAgentRow, uidString, type AgentState } from '@opamp/domain';
import { fleetMetrics } from '../fleet.metrics.js';
import { RedisService } from '../infra/redis.service.js';
import { AgentRepository } from './agent.repository.js';
import { AgentHashFields } from './fleet-keys.js';

export interface HotRecord {
  state: AgentState;
  /** Dirty version (hash field dv) at read time. */
  dirtyVersion: string;
}

/**
 * Hot agent state. Three tiers, read in order:
 *  1. memory: one map per owned shard (dropped when the shard is lost or released, and after a
 *     failed batch, because then memory may be ahead of Redis);
 *  2. Redis: hash `opamp:agent:{uidHex}` with `core` (small, rewritten per message), `report`
 *     (rewritten only when reported parts change), `desired`, and `dv` (dirty version);
 *  3. Postgres: the agents row, when Redis lost the agent (the result is deliberately incomplete
 *     and has a stale sequence number, so the agent is asked for a full report).
 * Writes go through WriteBatch (one MULTI per batch); the store only keeps memory in step.
 */
@Injectable()
export class AgentStateStore {
  private readonly logger = new Logger('AgentStateStore');
  private readonly shards = new Map<number, Map<string, AgentState>>();
  /** Agents held across all shard maps, kept in step so the per-message path does not count them. */
  private count = 0;

  constructor(
    private readonly redis: RedisService,
    private readonly repo: AgentRepository,
  ) {}

  get(shard: number, hex: string): AgentState | undefined {
    return this.shards.get(shard)?.get(hex);
  }

  set(shard: number, state: AgentState): void {
    let map = this.shards.get(shard);
    if (!map) {
      map = new Map();
      this.shards.set(shard, map);
    }
    const hex = uidHex(state.uid);
    if (!map.has(hex)) this.resize(1);
    map.set(hex, state);
  }

  evict(shard: number, hex: string): void {
    if (this.shards.get(shard)?.delete(hex)) this.resize(-1);
  }

  /** Forget an agent whatever shard map holds it (its state was written by another shard's work). */
  forget(hex: string): void {
    for (const map of this.shards.values()) if (map.delete(hex)) this.resize(-1);
  }

  dropShard(shard: number): void {
    const map = this.shards.get(shard);
    if (!map) return;
    this.shards.delete(shard);
    this.resize(-map.size);
  }

  private resize(delta: number): void {
    if (delta === 0) return;
    this.count += delta;
    fleetMetrics.agentsInMemory.set(this.count);
  }

  /**
   * Brings the given agents of `shard` into memory (those not there yet): one pipelined round
   * trip to Redis, then one query to Postgres for the rest. Postgres being down is not fatal:
   * such agents are treated as unknown (they get ReportFullState and are rebuilt from their reports).
   */
  async preload(shard: number, uids: Uint8Array[]): Promise<void> {
    const missing = new Map<string, Uint8Array>();
    for (const uid of uids) {
      if (uid.length !== 16) continue;
      const hex = uidHex(uid);
      if (!this.get(shard, hex)) missing.set(hex, uid);
    }
    if (missing.size === 0) return;
    const hot = await this.readHot([...missing.values()]);
    for (const [hex, rec] of hot) {
      this.set(shard, rec.state);
      missing.delete(hex);
    }
    if (missing.size === 0) return;
    let rows;
    try {
      rows = await this.repo.findMany([...missing.values()].map(uidString));
    } catch (err) {
      this.logger.warn(
        `Postgres unavailable while loading ${missing.size} agent(s); treating them as unknown: ${(err as Error).message}`,
      );
      return;
    }
    // One unreadable row must not make the others unknown too.
    for (const row of rows) {
      try {
        this.set(shard, stateFromAgentRow(row));
      } catch (err) {
        this.logger.error(`unreadable agents row ${row.uid}: ${(err as Error).message}; treating it as unknown`);
      }
    }
  }

  /** Reads hot states straight from Redis (no memory), with their dirty versions. */
  async readHot(uids: Uint8Array[]): Promise<Map<string, HotRecord>> {
    const client = this.redis.client;
    const replies = await Promise.all(
      uids.map((uid) =>
        client.hmgetBuffer(
          RedisKeys.agentState(uidHex(uid)),
          AgentHashFields.core,
          AgentHashFields.report,
          AgentHashFields.desired,
          AgentHashFields.dirtyVersion,
        ),
      ),
    );
    const out = new Map<string, HotRecord>();
    replies.forEach((fields, i) => {
      const uid = uids[i]!;
      const [core, report, desired, dv] = fields;
      try {
        const state = decodeHotState(uid, { core, report, desired });
        if (state) out.set(uidHex(uid), { state, dirtyVersion: dv ? dv.toString() : '' });
      } catch (err) {
        this.logger.error(`unreadable hot state for ${uidString(uid)}: ${(err as Error).message}; ignoring it`);
      }
    });
    return out;
  }
}
