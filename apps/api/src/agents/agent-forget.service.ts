// DELETE /api/v1/agents/{uid}: forgets an agent. Its row goes (its events with it, by cascade),
// with its desired config and quarantine entries, and so does the fleet's hot state in Redis. The
// fleet's shard owner also gets a `forget` control envelope, in the agent's stream order, so it
// drops the agent from memory too: should the agent talk again, it is an agent never seen before
// and enrols afresh (new first-seen time, no API labels, asked for its full state).
//
// A connected agent is refused (409) unless `force=true`: forgetting it only makes it re-enrol.
// Rollout targets and command rows are history and stay; the rollout worker skips targets whose
// agent is gone ("agent forgotten").
//
// Known race: a write-behind flush of the fleet that read the agent's hot state before it was
// deleted and writes after the rows were deleted puts the row back (the agent then reappears with
// its last reported state, and can be forgotten again). The order below keeps that window small.
import { Injectable, Logger } from '@nestjs/common';
import { RedisKeys } from '@opamp/bus';
import { PrismaService } from '@opamp/database';
import { Transport } from '@opamp/proto';
import { uidFromString, uidToString, uuidv7 } from '@opamp/protocol';
import { traceparentOf } from '@opamp/telemetry';
import { ProblemException, ProblemType, agentNotFound } from '../common/problem.js';
import { BusService } from '../redis/bus.service.js';

export interface ForgetResult {
  uid: string;
  forgotten: true;
  /** The agent was connected (only with force=true). */
  wasConnected: boolean;
  /** Rows deleted with it. */
  deleted: { events: number; desiredConfig: number; quarantine: number };
}

@Injectable()
export class AgentForgetService {
  private readonly logger = new Logger('AgentForget');

  constructor(
    private readonly prisma: PrismaService,
    private readonly bus: BusService,
  ) {}

  async forget(uid: string, force: boolean): Promise<ForgetResult> {
    const bytes = uidFromString(uid);
    if (!bytes) throw new Error(`invalid uid reached the forget service: ${uid}`);
    const hex = Buffer.from(bytes).toString('hex');
    const rows = await this.prisma.$queryRaw<Array<{ state: string }>>`
      SELECT connection_state::text AS state FROM agents WHERE uid = ${uid}::uuid`;
    const row = rows[0];
    if (!row) throw agentNotFound(uid);
    // Postgres lags behind the fleet (write-behind): a live route in Redis also means connected.
    const route = await this.bus.redis.get(RedisKeys.route(hex));
    const connected = row.state === 'connected' || route !== null;
    if (connected && !force) {
      throw new ProblemException({
        type: ProblemType.conflict,
        title: 'Agent is connected',
        status: 409,
        detail:
          `Agent ${uid} is connected: forgotten now, it would enrol again as a new agent at its next message. ` +
          'Stop it first, or repeat with ?force=true.',
      });
    }

    // Redis first, Postgres last: a failure leaves the row, so the request can simply be repeated;
    // and a write-behind flush would have to span both steps to write the row back.
    try {
      // The hot state goes at once (whatever the fleet is doing); the forget envelope follows the
      // agent's earlier messages through its shard, so the owner also forgets what it holds in memory.
      await this.bus.redis.del(RedisKeys.agentState(hex), RedisKeys.route(hex));
      await this.bus.publisher.publishInbound({
        instanceUid: bytes,
        transport: Transport.UNSPECIFIED,
        receivedAtMs: BigInt(Date.now()),
        traceparent: traceparentOf(),
        payload: {
          case: 'control',
          value: { commandId: uidToString(uuidv7()), command: { case: 'forget', value: {} } },
        },
      });
    } catch (err) {
      this.logger.error(`forgetting ${uid} in Redis failed: ${(err as Error).message}`);
      throw new ProblemException({
        type: ProblemType.unavailable,
        title: 'Agent not forgotten',
        status: 503,
        detail: `Agent ${uid} could not be forgotten: the message bus (Redis) is unavailable. Try again shortly.`,
      });
    }
    const [events, desiredConfig, quarantine] = await this.prisma.$transaction([
      this.prisma.$executeRaw`DELETE FROM agent_events WHERE agent_uid = ${uid}::uuid`,
      this.prisma.$executeRaw`DELETE FROM agent_desired_configs WHERE agent_uid = ${uid}::uuid`,
      this.prisma.$executeRaw`DELETE FROM config_quarantine WHERE agent_uid = ${uid}::uuid`,
      this.prisma.$executeRaw`DELETE FROM agents WHERE uid = ${uid}::uuid`,
    ]);
    this.logger.log(`agent ${uid} forgotten${connected ? ' while connected (force)' : ''}`);
    return {
      uid,
      forgotten: true,
      wasConnected: connected,
      deleted: { events: Number(events), desiredConfig: Number(desiredConfig), quarantine: Number(quarantine) },
    };
  }
}
