import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import {
  BusPublisher,
  GatewayPresence,
  OutboundReader,
  closeRedis,
  connectRedis,
  createRedis,
  isRedisReady,
  withDeadline,
  type InboundEnvelopeInit,
} from '@opamp/bus';
import type { OutboundEnvelope } from '@opamp/proto';
import { HealthService } from '@opamp/telemetry';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.config.js';
import { PendingReplies } from './pending-replies.js';

export type OutboundHandler = (envelope: OutboundEnvelope) => void;

/**
 * The gateway's side of the bus: appends inbound envelopes to the shard streams, reads the
 * pod's own outbound stream, and keeps the pod's presence key alive so the fleet knows where
 * replies can still be delivered.
 */
@Injectable()
export class GatewayBusService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(GatewayBusService.name);
  /** Commands connection (auto-pipelined); also used for enrollment token lookups. */
  readonly redis: Redis;
  private readonly readerRedis: Redis;
  readonly publisher: BusPublisher;
  readonly pending: PendingReplies;
  private readonly presence: GatewayPresence;
  private reader: OutboundReader | undefined;
  private outboundHandler: OutboundHandler = () => undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly health: HealthService,
  ) {
    this.redis = createRedis(config.REDIS_URL, { name: `gateway:${config.gatewayId}`, autoPipelining: true });
    this.readerRedis = createRedis(config.REDIS_URL, { name: `gateway:${config.gatewayId}:reader`, blocking: true });
    this.publisher = new BusPublisher(this.redis, config.OPAMP_SHARDS);
    this.pending = new PendingReplies(`${config.gatewayId}:`, config.GATEWAY_HTTP_REPLY_TIMEOUT_MS);
    this.presence = new GatewayPresence(this.redis, config.gatewayId);
    this.redis.on('error', (err: Error) => this.logger.warn(`Redis: ${err.message}`));
    this.readerRedis.on('error', () => undefined);
  }

  get gatewayId(): string {
    return this.config.gatewayId;
  }

  onOutbound(handler: OutboundHandler): void {
    this.outboundHandler = handler;
  }

  get ready(): boolean {
    return isRedisReady(this.redis);
  }

  async onModuleInit(): Promise<void> {
    await connectRedis(this.redis, this.config.REDIS_URL);
    await connectRedis(this.readerRedis, this.config.REDIS_URL);
    await this.presence.start();
    this.reader = new OutboundReader(
      this.readerRedis,
      this.config.gatewayId,
      (envelope) => {
        if (envelope.requestId) {
          // Both HTTP and WS replies carry the id of the message they answer.
          const httpWaiting = this.pending.settle(envelope.requestId, envelope);
          if (httpWaiting) return;
        }
        this.outboundHandler(envelope);
      },
      { onError: (err) => this.logger.warn(`outbound stream: ${err.message}`) },
    );
    this.reader.start();
    this.health.register('redis', () => this.ready);
  }

  /** Appends one inbound envelope (agent message, connection close) to the agent's shard. */
  async publish(envelope: InboundEnvelopeInit & { instanceUid: Uint8Array }): Promise<void> {
    await this.publisher.publishInbound({ ...envelope, gatewayId: this.config.gatewayId });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.reader?.stop();
    this.pending.close();
    await withDeadline(this.presence.stop(), 2000);
    await closeRedis(this.redis);
  }
}
