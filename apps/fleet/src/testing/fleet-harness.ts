// In-process fleet instances and a fake gateway, for the fleet's medium tests (real Redis and
// Postgres from the test infrastructure).
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { BusPublisher, GatewayPresence, OutboundReader, connectRedis, createRedis } from '@opamp/bus';
import {
  AgentToServerSchema,
  ServerToAgentSchema,
  Transport,
  type ControlCommand,
  type OutboundEnvelope,
  type ServerToAgent,
} from '@opamp/proto';
import { FleetAppModule } from '../app.module.js';
import { ShardOwnershipService } from '../bus/shard-ownership.service.js';
import { loadFleetConfig, type FleetConfig } from '../fleet.config.js';

export type A2SInit = Exclude<MessageInitShape<typeof AgentToServerSchema>, { $typeName: string }>;

export interface FleetInstance {
  app: INestApplicationContext;
  config: FleetConfig;
  ownership: ShardOwnershipService;
  close(): Promise<void>;
}

export async function startFleet(env: Record<string, string>): Promise<FleetInstance> {
  const config = loadFleetConfig({
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL,
    OPAMP_SHARDS: '4',
    FLEET_PORT: '0',
    FLEET_FLUSH_INTERVAL_MS: '100',
    FLEET_LEASE_TTL_MS: '1500',
    LOG_LEVEL: 'warn',
    ...env,
  });
  const app = await NestFactory.createApplicationContext(FleetAppModule.forRoot(config), { logger: ['error'] });
  let closed = false;
  return {
    app,
    config,
    ownership: app.get(ShardOwnershipService),
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** A gateway pod as the fleet sees it: presence key, inbound publisher, outbound stream reader. */
export class FakeGateway {
  readonly received: OutboundEnvelope[] = [];
  private readonly redis: Redis;
  private readonly readerRedis: Redis;
  private readonly presence: GatewayPresence;
  private reader: OutboundReader | undefined;
  private readonly publisher: BusPublisher;
  private requestCounter = 0;

  constructor(
    readonly gatewayId: string,
    shards = 4,
  ) {
    this.redis = createRedis(process.env.REDIS_URL!, { name: `fake-gw:${gatewayId}` });
    this.readerRedis = createRedis(process.env.REDIS_URL!, { name: `fake-gw:${gatewayId}:reader`, blocking: true });
    this.presence = new GatewayPresence(this.redis, gatewayId);
    this.publisher = new BusPublisher(this.redis, shards);
  }

  async start(): Promise<this> {
    await connectRedis(this.redis, process.env.REDIS_URL!);
    await connectRedis(this.readerRedis, process.env.REDIS_URL!);
    await this.presence.start();
    this.reader = new OutboundReader(this.readerRedis, this.gatewayId, (e) => this.received.push(e), { blockMs: 100 });
    this.reader.start();
    // Let the reader resolve "$" before anything is published.
    await new Promise((r) => setTimeout(r, 150));
    return this;
  }

  async stop(): Promise<void> {
    await this.reader?.stop();
    await this.presence.stop();
    await this.redis.quit().catch(() => undefined);
  }

  /** Sends an AgentToServer; returns the request id its reply will carry. */
  async send(
    init: A2SInit & { instanceUid: Uint8Array },
    opts: { connectionId?: string; transport?: Transport; raw?: Uint8Array } = {},
  ): Promise<string> {
    const requestId = `${this.gatewayId}:${++this.requestCounter}`;
    const bytes = opts.raw ?? toBinary(AgentToServerSchema, create(AgentToServerSchema, init));
    await this.publisher.publishInbound({
      instanceUid: init.instanceUid,
      gatewayId: this.gatewayId,
      connectionId: opts.connectionId ?? 'conn-1',
      transport: opts.transport ?? Transport.WEBSOCKET,
      receivedAtMs: BigInt(Date.now()),
      requestId,
      payload: { case: 'agentToServer', value: bytes },
    });
    return requestId;
  }

  async closeConnection(uid: Uint8Array, connectionId: string, code = 1000): Promise<void> {
    await this.publisher.publishInbound({
      instanceUid: uid,
      gatewayId: this.gatewayId,
      connectionId,
      transport: Transport.WEBSOCKET,
      receivedAtMs: BigInt(Date.now()),
      payload: { case: 'connectionClosed', value: { code, reason: 'test' } },
    });
  }

  async control(uid: Uint8Array, command: ControlCommand): Promise<void> {
    await this.publisher.publishInbound({ instanceUid: uid, payload: { case: 'control', value: command } });
  }

  replyTo(requestId: string): ServerToAgent | undefined {
    const env = this.received.find((e) => e.requestId === requestId);
    return env ? fromBinary(ServerToAgentSchema, env.serverToAgent) : undefined;
  }

  /** Unsolicited messages (pushes and closes) for a connection. */
  pushes(connectionId: string): OutboundEnvelope[] {
    return this.received.filter((e) => e.connectionId === connectionId && e.requestId === '');
  }
}

export function decodeReply(bytes: Uint8Array): ServerToAgent {
  return fromBinary(ServerToAgentSchema, bytes);
}
