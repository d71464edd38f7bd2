import type { Redis } from 'ioredis';
import type { InboundEnvelope } from '@opamp/proto';
import { decodeInbound, envelopeBytes, type RawStreamEntry } from './envelopes.js';
import { ConsumerGroups, StreamKeys } from './keys.js';
import { sleep, withDeadline } from './redis.js';

export interface InboundEntry {
  id: string;
  /** Undefined when the entry could not be decoded (it is acknowledged and skipped). */
  envelope: InboundEnvelope | undefined;
}

/**
 * Processes one shard's entries, strictly in order. Must make the effect durable (hot state in
 * Redis) before resolving: the entries are acknowledged right after. Throwing means "could not
 * process now" (Redis or Postgres down): nothing is acknowledged and the entries are retried.
 */
export type ShardHandler = (shard: number, entries: InboundEntry[]) => Promise<void>;

export interface InboundConsumerOptions {
  batch?: number;
  blockMs?: number;
  /**
   * How often each shard is looked after: entries every consumer has acknowledged are trimmed,
   * and entries left pending at another consumer (a replica that read them after losing the
   * shard) are claimed and processed.
   */
  trimEveryMs?: number;
  onError?: (err: Error) => void;
}

interface ShardSlot {
  recovering: boolean;
  /** removeShard() was called: left out of new reads, but what a read already waiting returns is processed. */
  leaving: boolean;
  busy: Promise<void> | undefined;
  lastTrim: number;
}

/** One pass of the read loop, and the shards it may hand entries of. */
interface Round {
  shards: ReadonlySet<number>;
  done: Promise<void>;
}

/**
 * Reads the inbound shard streams this replica holds leases for, through the consumer group
 * `fleet`. On taking a shard over it first claims everything the previous owner read but did
 * not acknowledge, so a crash loses nothing; handlers are idempotent, so a re-delivery is safe.
 *
 * An entry is handed to whichever consumer's XREADGROUP waits on the stream when it is appended,
 * so a shard is only given up (removeShard) once no read of ours that names it is still waiting
 * at Redis: entries such a read returns are processed first, while the lease is still ours.
 * Otherwise they would sit in this consumer's pending list after the next owner had already
 * claimed what was pending there, and nobody would answer them.
 */
export class InboundConsumer {
  private readonly slots = new Map<number, ShardSlot>();
  private running = false;
  private loop: Promise<void> | undefined;
  private round: Round | undefined;

  constructor(
    /** Dedicated connection: XREADGROUP BLOCK holds it. */
    private readonly blockingRedis: Redis,
    /** Shared connection for acks, claims and trims. */
    private readonly redis: Redis,
    private readonly consumerName: string,
    private readonly handler: ShardHandler,
    private readonly opts: InboundConsumerOptions = {},
  ) {
    // ioredis 6 mangles `callBuffer` (used for XAUTOCLAIM) on auto-pipelined clients.
    if (redis.options.enableAutoPipelining || blockingRedis.options.enableAutoPipelining) {
      throw new Error('InboundConsumer needs Redis clients without enableAutoPipelining');
    }
  }

  get shards(): number[] {
    return [...this.slots.keys()];
  }

  async addShard(shard: number): Promise<void> {
    if (this.slots.has(shard)) return;
    await this.ensureGroup(shard);
    this.slots.set(shard, { recovering: true, leaving: false, busy: undefined, lastTrim: 0 });
  }

  /**
   * Graceful handover: stops reading the shard and resolves once nothing of ours can touch it any
   * more (the read waiting at Redis has returned, at most `blockMs`, and its batch is processed).
   */
  async removeShard(shard: number): Promise<void> {
    const slot = this.slots.get(shard);
    if (!slot) return;
    slot.leaving = true;
    const round = this.round;
    if (round?.shards.has(shard)) await round.done.catch(() => undefined);
    if (this.slots.get(shard) === slot) this.slots.delete(shard);
    await slot.busy?.catch(() => undefined);
  }

  /**
   * Lease lost: stop at once (in-flight work may finish; its acks are harmless). Entries a read
   * in flight still hands us stay pending here; the new owner claims them (see trimEveryMs).
   */
  dropShard(shard: number): void {
    this.slots.delete(shard);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(timeoutMs = 5000): Promise<void> {
    this.running = false;
    // A read queued while Redis is unreachable may never settle: bound the wait.
    await withDeadline(this.loop?.catch(() => undefined) ?? Promise.resolve(), timeoutMs);
    await Promise.all([...this.slots.values()].map((s) => s.busy?.catch(() => undefined)));
  }

  private async ensureGroup(shard: number): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', StreamKeys.inbound(shard), ConsumerGroups.fleet, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err as Error).message.includes('BUSYGROUP')) throw err;
    }
  }

  private async run(): Promise<void> {
    const batch = this.opts.batch ?? 256;
    const blockMs = this.opts.blockMs ?? 250;
    while (this.running) {
      const round = this.startRound(batch, blockMs);
      this.round = round;
      try {
        await round.done;
      } catch (err) {
        if (!this.running) break;
        if ((err as Error).message.includes('NOGROUP')) {
          // The stream was deleted (e.g. Redis lost its data): recreate groups for what we hold.
          for (const shard of this.slots.keys()) await this.ensureGroup(shard).catch(() => undefined);
        }
        this.opts.onError?.(err as Error);
        await sleep(250);
      } finally {
        if (this.round === round) this.round = undefined;
      }
    }
  }

  /** Recovers the shards that need it, else reads every other shard once (blocking). */
  private startRound(batch: number, blockMs: number): Round {
    const active = [...this.slots.entries()].filter(([, s]) => !s.leaving);
    const recovering = active.filter(([, s]) => s.recovering);
    if (recovering.length > 0) {
      return {
        shards: new Set(recovering.map(([shard]) => shard)),
        done: settleAll(recovering.map(([shard, slot]) => this.recover(shard, slot, batch))),
      };
    }
    if (active.length === 0) return { shards: new Set(), done: sleep(100) };
    const shards = active.map(([shard]) => shard);
    return { shards: new Set(shards), done: this.readOnce(shards, batch, blockMs) };
  }

  private async readOnce(shards: number[], batch: number, blockMs: number): Promise<void> {
    const keys = shards.map((s) => StreamKeys.inbound(s));
    const reply = (await this.blockingRedis.xreadgroupBuffer(
      'GROUP',
      ConsumerGroups.fleet,
      this.consumerName,
      'COUNT',
      batch,
      'BLOCK',
      blockMs,
      'STREAMS',
      ...keys,
      ...keys.map(() => '>'),
    )) as [Buffer, RawStreamEntry[]][] | null;
    if (reply) {
      await settleAll(
        reply.map(([key, entries]) => {
          const shard = shards[keys.indexOf(key.toString())];
          return shard === undefined ? undefined : this.process(shard, entries);
        }),
      );
    }
    await settleAll(
      shards.map((shard) => {
        const slot = this.slots.get(shard);
        return slot && !slot.leaving && !slot.recovering ? this.maybeTrim(shard, slot) : undefined;
      }),
    );
  }

  /** Claims and processes everything pending in the shard's group (left by a previous owner). */
  private async recover(shard: number, slot: ShardSlot, batch: number): Promise<void> {
    const key = StreamKeys.inbound(shard);
    let cursor = '0-0';
    do {
      const [next, entries, deleted] = (await this.redis.callBuffer('XAUTOCLAIM', [
        key,
        ConsumerGroups.fleet,
        this.consumerName,
        0,
        cursor,
        'COUNT',
        batch,
      ])) as [Buffer, RawStreamEntry[], Buffer[]?];
      cursor = next.toString();
      if (entries.length > 0) await this.process(shard, entries);
      // Entries trimmed away while pending: nothing to process, just clear them.
      if (deleted && deleted.length > 0) await this.redis.xack(key, ConsumerGroups.fleet, ...deleted);
      if (this.slots.get(shard) !== slot || slot.leaving) return;
    } while (cursor !== '0-0');
    slot.recovering = false;
  }

  private async process(shard: number, raw: RawStreamEntry[]): Promise<void> {
    const slot = this.slots.get(shard);
    if (!slot) return;
    const entries: InboundEntry[] = raw
      .filter(([, fields]) => fields !== null)
      .map(([id, fields]) => {
        const bytes = envelopeBytes(fields);
        let envelope: InboundEnvelope | undefined;
        try {
          envelope = bytes ? decodeInbound(bytes) : undefined;
        } catch (err) {
          this.opts.onError?.(new Error(`undecodable inbound envelope ${id.toString()}: ${(err as Error).message}`));
        }
        return { id: id.toString(), envelope };
      });
    const work = (async () => {
      const key = StreamKeys.inbound(shard);
      try {
        await this.handler(shard, entries);
        const ids = raw.map(([id]) => id);
        if (ids.length > 0) await this.redis.xack(key, ConsumerGroups.fleet, ...ids);
      } catch (err) {
        // Not acknowledged (the handler failed, or the XACK itself was lost): re-read the
        // shard's pending list once things recover. Otherwise a lost XACK would leave the
        // entries pending for good, and trimming never passes the oldest pending entry.
        slot.recovering = true;
        throw err;
      }
    })();
    slot.busy = work;
    try {
      await work;
    } finally {
      if (slot.busy === work) slot.busy = undefined;
    }
  }

  /**
   * Every `trimEveryMs`: drops entries below the oldest still-pending one (processed history is
   * not kept), and claims entries pending at another consumer. Between two reads nothing of ours
   * is pending, so those were read by a replica that lost the shard while its read was waiting
   * at Redis (lease lapsed): without this they would never be answered.
   */
  private async maybeTrim(shard: number, slot: ShardSlot): Promise<void> {
    const every = this.opts.trimEveryMs ?? 1000;
    const now = Date.now();
    if (now - slot.lastTrim < every) return;
    slot.lastTrim = now;
    const key = StreamKeys.inbound(shard);
    const groups = (await this.redis.xinfo('GROUPS', key)) as unknown[][];
    let minId: string | undefined;
    for (const g of groups) {
      const info: Record<string, unknown> = {};
      for (let i = 0; i + 1 < g.length; i += 2) info[String(g[i])] = g[i + 1];
      const pending = Number(info.pending ?? 0);
      let candidate = String(info['last-delivered-id'] ?? '0-0');
      if (pending > 0) {
        const summary = (await this.redis.xpending(key, String(info.name))) as [
          number,
          string | null,
          string | null,
          [string, string][] | null,
        ];
        if (summary[1]) candidate = summary[1];
        const others = (summary[3] ?? []).filter(([consumer]) => consumer !== this.consumerName);
        if (info.name === ConsumerGroups.fleet && others.length > 0) {
          slot.recovering = true;
          const held = others.map(([consumer, n]) => `${n} at ${consumer}`).join(', ');
          this.opts.onError?.(
            new Error(`shard ${shard}: entries pending at another consumer (${held}); claiming them`),
          );
        }
      }
      if (minId === undefined || compareIds(candidate, minId) < 0) minId = candidate;
    }
    // Exact trimming: it runs at most once per `trimEveryMs` per shard, and keeps memory tight.
    if (minId && minId !== '0-0') await this.redis.xtrim(key, 'MINID', minId);
  }
}

/**
 * Waits for every shard's batch, then rethrows the first failure. Unlike Promise.all it never
 * returns while another shard's batch is still running: the loop would read that shard again and
 * process its next batch concurrently with the previous one, breaking per-agent order.
 */
async function settleAll(work: Array<Promise<void> | undefined>): Promise<void> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}
