import type { Redis } from 'ioredis';
import {
  ENVELOPE_FIELD,
  encodeInbound,
  encodeOutbound,
  type InboundEnvelopeInit,
  type OutboundEnvelopeInit,
} from './envelopes.js';
import { RedisKeys, StreamKeys } from './keys.js';
import { shardOf } from './shard.js';

export interface BusLimits {
  /**
   * Approximate cap on an inbound shard stream. The fleet trims what it has processed; this cap
   * only bites when no fleet replica consumes for a long time, and keeps Redis memory bounded.
   */
  inboundMaxLen: number;
  /** Approximate cap on a gateway's outbound stream (the gateway reads it continuously). */
  outboundMaxLen: number;
  /**
   * Every append to an outbound stream (re)sets this expiry. A live gateway reads its stream within
   * milliseconds, so only the stream of a gateway that is gone ever reaches it: a crashed pod
   * cannot delete its own stream, and replies still in flight for it would otherwise keep it in
   * Redis forever.
   */
  outboundTtlMs: number;
}

const UID_FIELD_PREFIX = Buffer.from([0x0a, 16]);

export const DEFAULT_BUS_LIMITS: BusLimits = { inboundMaxLen: 200_000, outboundMaxLen: 20_000, outboundTtlMs: 300_000 };

/**
 * Appends envelopes to the bus. Uses the caller's client; give it `autoPipelining` so that many
 * appends issued in one tick travel in one round trip.
 */
export class BusPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly shards: number,
    private readonly limits: BusLimits = DEFAULT_BUS_LIMITS,
  ) {}

  shardFor(uid: Uint8Array): number {
    return shardOf(uid, this.shards);
  }

  /** Appends to the agent's inbound shard; resolves with the stream entry id. */
  async publishInbound(envelope: InboundEnvelopeInit & { instanceUid: Uint8Array }): Promise<string> {
    const key = StreamKeys.inbound(this.shardFor(envelope.instanceUid));
    const id = await this.redis.xadd(
      key,
      'MAXLEN',
      '~',
      this.limits.inboundMaxLen,
      '*',
      ENVELOPE_FIELD,
      encodeInbound(envelope),
    );
    return id ?? '';
  }

  /**
   * Appends the same envelope for many agents (e.g. a desired config for a rollout wave) in one
   * pipeline: one round trip, and the envelope is serialized once. Each entry is the agent's
   * `instance_uid` field followed by the shared bytes; protobuf allows fields in any order, so it
   * decodes exactly like encodeInbound({ ...envelope, instanceUid }). Rejects when any append
   * failed (others may have gone through: callers resend, and control commands are idempotent).
   */
  async publishInboundToMany(
    instanceUids: readonly Uint8Array[],
    /** The shared envelope; its own `instanceUid`, if any, is ignored. */
    envelope: InboundEnvelopeInit,
  ): Promise<void> {
    if (instanceUids.length === 0) return;
    const shared = encodeInbound({ ...envelope, instanceUid: new Uint8Array(0) });
    const pipeline = this.redis.pipeline();
    for (const uid of instanceUids) {
      if (uid.length !== 16) throw new Error(`instance_uid must be 16 bytes, got ${uid.length}`);
      // Field 1 (instance_uid), wire type 2 (length-delimited), length 16.
      const entry = Buffer.concat([UID_FIELD_PREFIX, uid, shared]);
      const key = StreamKeys.inbound(this.shardFor(uid));
      pipeline.xadd(key, 'MAXLEN', '~', this.limits.inboundMaxLen, '*', ENVELOPE_FIELD, entry);
    }
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err !== null);
    if (!results) throw new Error('the Redis pipeline was not executed');
    if (failed) throw failed[0]!;
  }

  /**
   * Appends different envelopes (e.g. one command, with its own id, per agent) in one pipeline:
   * one round trip. Resolves with one entry per envelope, in order: null when it was appended,
   * else the error, so a caller knows exactly which ones did not go out. Rejects only when the
   * pipeline did not run at all.
   */
  async publishInboundBatch(
    envelopes: ReadonlyArray<InboundEnvelopeInit & { instanceUid: Uint8Array }>,
  ): Promise<Array<Error | null>> {
    if (envelopes.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const envelope of envelopes) {
      const key = StreamKeys.inbound(this.shardFor(envelope.instanceUid));
      pipeline.xadd(key, 'MAXLEN', '~', this.limits.inboundMaxLen, '*', ENVELOPE_FIELD, encodeInbound(envelope));
    }
    const results = await pipeline.exec();
    if (!results) throw new Error('the Redis pipeline was not executed');
    return results.map(([err]) => err);
  }

  /** Appends to a gateway's outbound stream. */
  async publishOutbound(gatewayId: string, envelope: OutboundEnvelopeInit): Promise<void> {
    const key = StreamKeys.outbound(gatewayId);
    const results = await this.redis
      .multi()
      .xadd(key, 'MAXLEN', '~', this.limits.outboundMaxLen, '*', ENVELOPE_FIELD, encodeOutbound(envelope))
      .pexpire(key, this.limits.outboundTtlMs)
      .exec();
    const failed = results?.find(([err]) => err !== null);
    if (!results) throw new Error('Redis MULTI aborted');
    if (failed) throw failed[0]!;
  }
}

/** Gateway liveness: a key with a TTL the gateway keeps refreshing while it runs. */
export class GatewayPresence {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    readonly gatewayId: string,
    private readonly ttlMs = 15_000,
  ) {}

  /** After a reconnect (Redis restarted, maybe without its data) announce ourselves at once. */
  private readonly onReady = (): void => void this.beat().catch(() => undefined);

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(() => undefined), Math.floor(this.ttlMs / 3));
    this.timer.unref();
    this.redis.on('ready', this.onReady);
  }

  private async beat(): Promise<void> {
    await this.redis.set(RedisKeys.gatewayAlive(this.gatewayId), String(Date.now()), 'PX', this.ttlMs);
  }

  /** Removes presence and the outbound stream: nothing will read it any more. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.redis.off('ready', this.onReady);
    await this.redis
      .del(RedisKeys.gatewayAlive(this.gatewayId), StreamKeys.outbound(this.gatewayId))
      .catch(() => undefined);
  }
}

export async function isGatewayAlive(redis: Redis, gatewayId: string): Promise<boolean> {
  return (await redis.exists(RedisKeys.gatewayAlive(gatewayId))) === 1;
}
