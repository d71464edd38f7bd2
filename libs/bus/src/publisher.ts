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
}

export const DEFAULT_BUS_LIMITS: BusLimits = { inboundMaxLen: 200_000, outboundMaxLen: 20_000 };

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

  /** Appends to a gateway's outbound stream. */
  async publishOutbound(gatewayId: string, envelope: OutboundEnvelopeInit): Promise<void> {
    await this.redis.xadd(
      StreamKeys.outbound(gatewayId),
      'MAXLEN',
      '~',
      this.limits.outboundMaxLen,
      '*',
      ENVELOPE_FIELD,
      encodeOutbound(envelope),
    );
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

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(() => undefined), Math.floor(this.ttlMs / 3));
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    await this.redis.set(RedisKeys.gatewayAlive(this.gatewayId), String(Date.now()), 'PX', this.ttlMs);
  }

  /** Removes presence and the outbound stream: nothing will read it any more. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis
      .del(RedisKeys.gatewayAlive(this.gatewayId), StreamKeys.outbound(this.gatewayId))
      .catch(() => undefined);
  }
}

export async function isGatewayAlive(redis: Redis, gatewayId: string): Promise<boolean> {
  return (await redis.exists(RedisKeys.gatewayAlive(gatewayId))) === 1;
}
