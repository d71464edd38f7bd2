import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { create, toBinary } from '@bufbuild/protobuf';
import { uidHex, type InboundEntry, RedisKeys } from '@opamp/bus';
import {
  needsLinkCheck,
  processAgentToServer,
  processConnectionClosed,
  processControl,
  compareStreamIds,
  toHex,
  uidString,
  type AgentState,
  type FleetPolicy,
  type StateWrite,
} from '@opamp/domain';
import {
  ServerErrorResponseType,
  ServerToAgentSchema,
  type ControlCommand,
  type InboundEnvelope,
  type ServerToAgent,
} from '@opamp/proto';
import { badRequest, decodeAgentToServer, uidEquals, uuidv7, validateInstanceUid } from '@opamp/protocol';
import { GatewayDirectory } from '../bus/gateway-directory.js';
import { ShardRegistry } from '../bus/shard-registry.js';
import { FLEET_CONFIG, FLEET_POLICY, type FleetConfig } from '../fleet.config.js';
import { fleetMetrics } from '../fleet.metrics.js';
import { RedisService } from '../infra/redis.service.js';
import { AgentStateStore } from './agent-state.store.js';
import { ShardExecutor } from './shard-executor.js';
import { WriteBatch } from './write-batch.js';
import { WriteBehindService } from './write-behind.service.js';

/** ServerToAgent{instance_uid, error_response UNKNOWN}: processing failed on our side. */
function internalError(uid: Uint8Array): ServerToAgent {
  return create(ServerToAgentSchema, {
    instanceUid: uid,
    errorResponse: {
      type: ServerErrorResponseType.ServerErrorResponseType_Unknown,
      errorMessage: 'internal error while processing the message',
    },
  });
}

export class ShardNotOwnedError extends Error {
  constructor(shard: number) {
    super(`shard ${shard} is no longer owned by this replica; batch left for the new owner`);
    this.name = 'ShardNotOwnedError';
  }
}

/**
 * Processes the entries of one inbound shard (the InboundConsumer's handler): decodes each
 * envelope, lets the pure domain logic decide, and commits state, events, routes, deadlines and
 * every reply/push/close of the batch in one Redis MULTI before the entries are acknowledged.
 * Every AgentToServer gets exactly one reply on the gateway/connection/request it came from
 * (BAD_REQUEST when it cannot be decoded).
 */
@Injectable()
export class AgentProcessorService implements OnApplicationBootstrap {
  private readonly logger = new Logger('AgentProcessor');
  private readonly knownComponents = new Set<string>();

  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    @Inject(FLEET_POLICY) private readonly policy: FleetPolicy,
    private readonly redis: RedisService,
    private readonly store: AgentStateStore,
    private readonly executor: ShardExecutor,
    private readonly gateways: GatewayDirectory,
    private readonly registry: ShardRegistry,
    private readonly writeBehind: WriteBehindService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.refreshKnownComponents();
  }

  private async refreshKnownComponents(): Promise<void> {
    try {
      for (const h of await this.redis.client.smembers(RedisKeys.knownComponents)) this.knownComponents.add(h);
    } catch (err) {
      this.logger.warn(`cannot load known component hashes: ${(err as Error).message}`);
    }
  }

  /** InboundConsumer handler: serialised per shard with liveness sweeps and releases. */
  handleBatch(shard: number, entries: InboundEntry[]): Promise<void> {
    return this.executor.run(shard, async () => {
      try {
        await this.processBatch(shard, entries);
      } catch (err) {
        // Memory may now be ahead of Redis: forget the shard, the retry reloads from Redis.
        this.store.dropShard(shard);
        fleetMetrics.batchErrors.inc();
        throw err;
      }
    });
  }

  private async processBatch(shard: number, entries: InboundEntry[]): Promise<void> {
    const now = Date.now();
    const batch = new WriteBatch(this.config.OPAMP_SHARDS, now);
    const uids = entries
      .map((e) => e.envelope?.instanceUid)
      .filter((u): u is Uint8Array => u !== undefined && u.length === 16);
    await this.store.preload(shard, uids);
    for (const entry of entries) {
      const env = entry.envelope;
      if (!env) {
        fleetMetrics.messagesProcessed.inc({ kind: 'undecodable_envelope' });
        continue;
      }
      switch (env.payload.case) {
        case 'agentToServer':
          await this.onAgentToServer(shard, entry.id, env, env.payload.value, batch, now);
          break;
        case 'connectionClosed':
          this.onConnectionClosed(shard, env, env.payload.value.code, env.payload.value.reason, batch, now);
          break;
        case 'control':
          await this.onControl(shard, entry.id, env, env.payload.value, batch, now);
          break;
        default:
          fleetMetrics.messagesProcessed.inc({ kind: 'unknown' });
      }
    }
    if (!this.registry.has(shard)) throw new ShardNotOwnedError(shard);
    await batch.exec(this.redis.client);
    batch.runAfterCommit();

    const sentAt = Date.now();
    for (const receivedAt of batch.replyReceivedTimes())
      fleetMetrics.processingLatency.observe(Math.max(0, sentAt - receivedAt) / 1000);
    let dirty = 0;
    for (const n of batch.dirtyCounts().values()) dirty += n;
    if (dirty > 0) this.writeBehind.noteDirty(dirty);
  }

  private reply(batch: WriteBatch, env: InboundEnvelope, message: ServerToAgent, type: 'reply' | 'error'): void {
    batch.send(
      env.gatewayId,
      {
        connectionId: env.connectionId,
        requestId: env.requestId,
        instanceUid: message.instanceUid,
        serverToAgent: toBinary(ServerToAgentSchema, message),
        traceparent: env.traceparent,
      },
      Number(env.receivedAtMs),
    );
    fleetMetrics.repliesSent.inc({ type });
  }

  private put(shard: number, write: StateWrite, batch: WriteBatch): void {
    this.store.set(shard, write.state);
    batch.putState(write);
  }

  private async onAgentToServer(
    shard: number,
    entryId: string,
    env: InboundEnvelope,
    bytes: Uint8Array,
    batch: WriteBatch,
    now: number,
  ): Promise<void> {
    fleetMetrics.messagesProcessed.inc({ kind: 'agent_to_server' });
    if (!env.gatewayId) {
      this.logger.warn(`AgentToServer envelope ${entryId} without gateway id: cannot answer, skipped`);
      return;
    }
    // The gateway validated the message; decode defensively anyway (another version, corruption).
    const decoded = decodeAgentToServer(bytes);
    if (!decoded.ok) {
      this.reply(batch, env, badRequest(env.instanceUid, `undecodable AgentToServer: ${decoded.reason}`), 'error');
      return;
    }
    const msg = decoded.message;
    const problem = validateInstanceUid(msg);
    if (problem || !uidEquals(msg.instanceUid, env.instanceUid)) {
      this.reply(
        batch,
        env,
        badRequest(msg.instanceUid, problem ?? 'instance_uid does not match the envelope'),
        'error',
      );
      return;
    }

    const uid = env.instanceUid;
    const prev = this.store.get(shard, uidHex(uid));
    const arrival = {
      gatewayId: env.gatewayId,
      connectionId: env.connectionId,
      transport: env.transport,
      entryId,
      enrollmentTokenId: env.enrollmentTokenId,
    };
    const recordedLinkAlive = needsLinkCheck(prev, arrival)
      ? await this.gateways.isAlive(prev!.core.link!.gatewayId)
      : false;
    let result;
    try {
      result = processAgentToServer({
        uid,
        prev,
        msg,
        arrival,
        receivedAtMs: Number(env.receivedAtMs),
        nowMs: now,
        recordedLinkAlive,
        policy: this.policy,
        newUid: () => uuidv7(now),
        isKnownComponentsHash: (h) => this.knownComponents.has(toHex(h)),
      });
    } catch (err) {
      // A bug in the decision logic must not block the shard (the batch would be retried forever):
      // answer with an error (§3.1: processing failed → error_response) and move on.
      this.logger.error(`processing AgentToServer of ${uidString(uid)} failed: ${(err as Error).stack ?? err}`);
      this.reply(batch, env, internalError(msg.instanceUid), 'error');
      return;
    }

    if (result.outcome === 'redelivery') {
      // Delivered again after its batch was committed (lost XACK, replica killed before acking).
      // The reply went out in that batch's MULTI, with the state that recorded this entry id, so
      // answering again would hand the agent a duplicate: nothing more to do.
      fleetMetrics.redelivered.inc();
      return;
    }
    this.put(shard, result.primary, batch);
    // A throw-away temporary uid: its state stays in Redis (with a TTL) for repeats, not in memory.
    if (result.primary.ephemeral) batch.afterCommit(() => this.store.evict(shard, uidHex(uid)));
    if (result.secondary) {
      // The new uid lives in its own shard (maybe another replica's): Redis is where its owner finds it.
      this.store.forget(uidHex(result.secondary.state.uid));
      batch.putState(result.secondary);
    }
    if (result.closeLink) {
      batch.send(result.closeLink.link.gatewayId, {
        connectionId: result.closeLink.link.connectionId,
        instanceUid: uid,
        close: { code: result.closeLink.code, reason: result.closeLink.reason },
      });
      fleetMetrics.repliesSent.inc({ type: 'close' });
    }
    if (result.learnedComponentsHash) {
      const h = toHex(result.learnedComponentsHash);
      this.knownComponents.add(h);
      batch.learnComponents(h);
    }
    this.reply(batch, env, result.reply, 'reply');

    if (result.fullStateRequested) fleetMetrics.fullStateRequests.inc();
    if (result.outcome === 'uid_assigned' && result.secondary) fleetMetrics.uidAssignments.inc({ reason: 'requested' });
    if (result.outcome === 'clone') {
      fleetMetrics.duplicates.inc({ action: 'clone' });
      if (result.secondary) fleetMetrics.uidAssignments.inc({ reason: 'duplicate' });
      this.logger.warn(
        `duplicate uid ${uidString(uid)} with other identifying attributes on ${env.gatewayId}/${env.connectionId}: assigned a new uid to the clone`,
      );
    }
    if (result.outcome === 'reconnect') {
      fleetMetrics.duplicates.inc({ action: 'reconnect' });
      this.logger.log(
        `uid ${uidString(uid)} reconnected on ${env.gatewayId}/${env.connectionId}: closing its previous connection (1008)`,
      );
    }
  }

  private onConnectionClosed(
    shard: number,
    env: InboundEnvelope,
    code: number,
    reason: string,
    batch: WriteBatch,
    now: number,
  ): void {
    fleetMetrics.messagesProcessed.inc({ kind: 'connection_closed' });
    const prev = this.store.get(shard, uidHex(env.instanceUid));
    const write = processConnectionClosed(
      prev,
      { gatewayId: env.gatewayId, connectionId: env.connectionId, code, reason },
      now,
    );
    if (write) this.put(shard, write, batch);
  }

  private async onControl(
    shard: number,
    entryId: string,
    env: InboundEnvelope,
    command: ControlCommand,
    batch: WriteBatch,
    now: number,
  ): Promise<void> {
    fleetMetrics.messagesProcessed.inc({ kind: 'control' });
    const uid = env.instanceUid;
    if (uid.length !== 16) return;
    if (command.command.case === 'forget') {
      // The api deleted the agent's rows: from now on this uid is an agent never seen before.
      // A forget delivered again after a crash deletes the state again: the agent re-enrols once more.
      this.store.evict(shard, uidHex(uid));
      batch.forget(shard, uidHex(uid), uidString(uid));
      this.logger.log(`agent ${uidString(uid)} forgotten (${command.commandId || 'no id'})`);
      return;
    }
    const prev = this.store.get(shard, uidHex(uid));
    // Already applied (redelivery after a crash between commit and ack): never push twice.
    if (prev && prev.core.lastEntryId && compareStreamIds(entryId, prev.core.lastEntryId) <= 0) return;
    const link = prev?.core.link;
    const linkAlive = link ? await this.gateways.isAlive(link.gatewayId) : false;
    const result = processControl({ uid, prev, command, nowMs: now, linkAlive, policy: this.policy });
    if (result.rejected) {
      fleetMetrics.commandsRejected.inc({ kind: result.kind });
      this.logger.warn(
        `control ${result.kind} (${command.commandId || 'no id'}) for ${uidString(uid)} refused: ${result.rejected}`,
      );
    }
    if (result.write) {
      const state: AgentState = { ...result.write.state, core: { ...result.write.state.core, lastEntryId: entryId } };
      this.put(shard, { ...result.write, state }, batch);
    }
    if (result.push) {
      batch.send(result.push.link.gatewayId, {
        connectionId: result.push.link.connectionId,
        instanceUid: uid,
        serverToAgent: toBinary(ServerToAgentSchema, result.push.message),
        traceparent: env.traceparent,
      });
      fleetMetrics.repliesSent.inc({ type: 'push' });
    }
  }
}
