import type { Redis } from 'ioredis';
import {
  DEFAULT_BUS_LIMITS,
  ENVELOPE_FIELD,
  EVENT_FIELD,
  RedisKeys,
  StreamKeys,
  StreamMaxLen,
  encodeOutbound,
  shardOf,
  uidHex,
  type OutboundEnvelopeInit,
} from '@opamp/bus';
import { encodeCore, encodeDesired, encodeReport, type AgentEvent, type StateWrite } from '@opamp/domain';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { AgentHashFields, EPHEMERAL_STATE_TTL_MS } from './fleet-keys.js';

/** Routes outlive the liveness deadline a little, so a push never races the deadline sweep. */
const ROUTE_GRACE_MS = 60_000;

interface StateEntry {
  shard: number;
  write: StateWrite;
  report: boolean;
  desired: boolean;
  dirty: boolean;
}

interface OutboundEntry {
  gatewayId: string;
  envelope: OutboundEnvelopeInit;
  /** For the processing-latency metric (0 for pushes and closes). */
  receivedAtMs: number;
}

/**
 * Everything one inbound batch (or liveness sweep) changes, applied to Redis in ONE MULTI/EXEC:
 * agent hot state, dirty markers, pending events (and their copy on the agent-events stream),
 * routes, deadlines and the outbound messages (replies, pushes, closes). Replies and state are
 * therefore durable together: a crash before the stream ack re-delivers the batch, and the
 * processor recognises what was already applied (last_entry_id), so one-shot effects (restart, uid
 * assignment) are never doubled.
 * Several writes to the same agent within a batch coalesce (last state wins, flags OR-ed).
 */
export class WriteBatch {
  private readonly states = new Map<string, StateEntry>();
  private readonly routes = new Map<string, { set?: string; ttlMs: number }>();
  private readonly deadlines = new Map<string, { shard: number; uidHex: string; ms: number }>();
  private readonly events = new Map<number, string[]>();
  private readonly outbound: OutboundEntry[] = [];
  private readonly components: string[] = [];
  private readonly afterCommitHooks: (() => void)[] = [];
  /** Agents forgotten in this batch (uid hex → shard): their keys are deleted before any state is written. */
  private readonly forgotten = new Map<string, number>();

  constructor(
    private readonly shards: number,
    private readonly nowMs: number,
    private readonly outboundMaxLen = DEFAULT_BUS_LIMITS.outboundMaxLen,
    private readonly outboundTtlMs = DEFAULT_BUS_LIMITS.outboundTtlMs,
    private readonly agentEventsMaxLen: number = StreamMaxLen.agentEvents,
  ) {}

  get isEmpty(): boolean {
    return (
      this.forgotten.size === 0 &&
      this.states.size === 0 &&
      this.routes.size === 0 &&
      this.deadlines.size === 0 &&
      this.events.size === 0 &&
      this.outbound.length === 0
    );
  }

  /** Dirty agents per shard in this batch (to trigger an early write-behind flush). */
  dirtyCounts(): Map<number, number> {
    const out = new Map<number, number>();
    for (const e of this.states.values()) if (e.dirty) out.set(e.shard, (out.get(e.shard) ?? 0) + 1);
    return out;
  }

  putState(write: StateWrite): void {
    const hex = uidHex(write.state.uid);
    const shard = shardOf(write.state.uid, this.shards);
    const prev = this.states.get(hex);
    this.states.set(hex, {
      shard,
      write,
      report: (prev?.report ?? false) || write.reportChanged,
      desired: (prev?.desired ?? false) || write.desiredChanged,
      dirty: (prev?.dirty ?? false) || write.persist,
    });
    if (write.events.length > 0) this.appendEvents(shard, write.events);
    const route = write.route;
    if (route.kind === 'set') {
      const ttlMs = Math.max(write.deadlineMs - this.nowMs, 0) + ROUTE_GRACE_MS;
      this.routes.set(hex, { set: `${route.link.gatewayId} ${route.link.connectionId}`, ttlMs });
    } else if (route.kind === 'delete') {
      this.routes.set(hex, { ttlMs: 0 });
    }
    this.deadlines.set(hex, { shard, uidHex: hex, ms: write.deadlineMs });
  }

  /**
   * The agent was forgotten through the API (ControlCommand.forget): its hot state, dirty mark,
   * route and deadline are deleted, and whatever this batch queued for it before is dropped
   * (state, events). Writes for the same uid later in the batch (it talked again, as a new agent)
   * are applied after the deletion.
   */
  forget(shard: number, hex: string, uid: string): void {
    this.states.delete(hex);
    this.forgotten.set(hex, shard);
    this.routes.set(hex, { ttlMs: 0 });
    this.deadlines.set(hex, { shard, uidHex: hex, ms: 0 });
    const list = this.events.get(shard);
    if (list)
      this.events.set(
        shard,
        list.filter((json) => (JSON.parse(json) as AgentEvent).agentUid !== uid),
      );
  }

  /** Deadline change only (liveness sweep, stale entries). */
  putDeadline(shard: number, hex: string, ms: number): void {
    this.deadlines.set(hex, { shard, uidHex: hex, ms });
  }

  /**
   * Queues events for the write-behind. Each gets its identity here (a UUIDv7 `key`, kept in the
   * queued JSON): a re-flush of the same queued event then conflicts with the row already written
   * instead of inserting a second one.
   */
  appendEvents(shard: number, events: AgentEvent[]): void {
    const list = this.events.get(shard) ?? [];
    for (const e of events) list.push(JSON.stringify(e.key ? e : { ...e, key: uidToString(uuidv7()) }));
    this.events.set(shard, list);
  }

  send(gatewayId: string, envelope: OutboundEnvelopeInit, receivedAtMs = 0): void {
    this.outbound.push({ gatewayId, envelope: { sentAtMs: BigInt(this.nowMs), ...envelope }, receivedAtMs });
  }

  learnComponents(hashHex: string): void {
    this.components.push(hashHex);
  }

  /** Runs `fn` once the batch is committed (e.g. evict from memory what must be re-read from Redis). */
  afterCommit(fn: () => void): void {
    this.afterCommitHooks.push(fn);
  }

  runAfterCommit(): void {
    for (const fn of this.afterCommitHooks.splice(0)) fn();
  }

  /** Received-at times of the replies in this batch (for the latency histogram). */
  replyReceivedTimes(): number[] {
    return this.outbound.filter((o) => o.receivedAtMs > 0).map((o) => o.receivedAtMs);
  }

  async exec(redis: Redis): Promise<void> {
    if (this.isEmpty && this.components.length === 0) return;
    const m = redis.multi();
    for (const [hex, shard] of this.forgotten) {
      m.del(RedisKeys.agentState(hex));
      m.srem(RedisKeys.dirty(shard), hex);
    }
    for (const [hex, e] of this.states) {
      const key = RedisKeys.agentState(hex);
      const fields: (string | Buffer)[] = [AgentHashFields.core, buf(encodeCore(e.write.state))];
      if (e.report) fields.push(AgentHashFields.report, buf(encodeReport(e.write.state)));
      if (e.desired) fields.push(AgentHashFields.desired, buf(encodeDesired(e.write.state)));
      m.hset(key, ...fields);
      if (e.dirty) {
        m.hincrby(key, AgentHashFields.dirtyVersion, 1);
        m.sadd(RedisKeys.dirty(e.shard), hex);
      }
      if (e.write.ephemeral) m.pexpire(key, EPHEMERAL_STATE_TTL_MS);
    }
    for (const [hex, r] of this.routes) {
      if (r.set !== undefined) m.set(RedisKeys.route(hex), r.set, 'PX', r.ttlMs);
      else m.del(RedisKeys.route(hex));
    }
    for (const d of this.deadlines.values()) {
      if (d.ms > 0) m.zadd(RedisKeys.deadlines(d.shard), d.ms, d.uidHex);
      else m.zrem(RedisKeys.deadlines(d.shard), d.uidHex);
    }
    for (const [shard, list] of this.events) {
      if (list.length === 0) continue;
      m.rpush(RedisKeys.pendingEvents(shard), ...list);
      // The same JSON (key included) on the shared agent-events stream, for the api's live updates
      // and command tracker: committed with the state, so a reader never sees an event the agent
      // state does not reflect, and a re-delivered batch (already applied) appends nothing twice.
      for (const json of list) {
        m.xadd(StreamKeys.agentEvents, 'MAXLEN', '~', this.agentEventsMaxLen, '*', EVENT_FIELD, json);
      }
    }
    const outboundKeys = new Set<string>();
    for (const o of this.outbound) {
      const key = StreamKeys.outbound(o.gatewayId);
      outboundKeys.add(key);
      m.xadd(key, 'MAXLEN', '~', this.outboundMaxLen, '*', ENVELOPE_FIELD, encodeOutbound(o.envelope));
    }
    // The stream of a gateway that died (no graceful delete) expires instead of staying forever.
    for (const key of outboundKeys) m.pexpire(key, this.outboundTtlMs);
    if (this.components.length > 0) m.sadd(RedisKeys.knownComponents, ...this.components);
    const results = await m.exec();
    if (!results) throw new Error('Redis MULTI aborted');
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0]!;
  }
}

function buf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
