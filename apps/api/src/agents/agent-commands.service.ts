import { Injectable, Logger } from '@nestjs/common';
import { Transport } from '@opamp/proto';
import { AgentCapability, hasCapability, uidFromString, uidToString, uuidv7 } from '@opamp/protocol';
import { counter, traceparentOf } from '@opamp/telemetry';
import { BusService } from '../redis/bus.service.js';
import { ProblemException, ProblemType, agentNotFound } from '../common/problem.js';
import { AgentsRepository } from './agents.repository.js';
import type { CustomMessageInput } from './agents.query.js';

const commandsPublished = counter(
  'opamp_api_commands_published_total',
  'Control commands the api published to the fleet',
  ['command'],
);

export interface CommandAccepted {
  /** Correlates the command with the agent's events (command_sent / command_rejected). */
  commandId: string;
}

/**
 * Commands for agents. The api never talks to agents: it checks what it can (the agent exists,
 * declared the capability) and appends a control envelope to the agent's inbound shard, where the
 * fleet's shard owner delivers it (push on a live WS, or with the reply to the next HTTP poll).
 */
@Injectable()
export class AgentCommandsService {
  private readonly logger = new Logger('AgentCommands');

  constructor(
    private readonly repo: AgentsRepository,
    private readonly bus: BusService,
  ) {}

  async restart(uid: string): Promise<CommandAccepted> {
    const target = await this.repo.findCommandTarget(uid);
    if (!target) throw agentNotFound(uid);
    if (!hasCapability(BigInt.asUintN(64, target.capabilities), AgentCapability.AcceptsRestartCommand)) {
      throw new ProblemException({
        type: ProblemType.capabilityMissing,
        title: 'Agent cannot be restarted',
        status: 409,
        detail: `Agent ${uid} does not declare the AcceptsRestartCommand capability (0x400), so it would ignore a restart command.`,
      });
    }
    return this.publish(uid, 'restart', { case: 'restart', value: {} });
  }

  async customMessage(uid: string, input: CustomMessageInput): Promise<CommandAccepted> {
    const target = await this.repo.findCommandTarget(uid);
    if (!target) throw agentNotFound(uid);
    if (!target.customCapabilities.includes(input.capability)) {
      const declared = target.customCapabilities.length > 0 ? target.customCapabilities.join(', ') : 'none';
      throw new ProblemException({
        type: ProblemType.capabilityMissing,
        title: 'Custom capability not declared',
        status: 409,
        detail: `Agent ${uid} has not declared the custom capability "${input.capability}" (declared: ${declared}), so it would drop the message.`,
      });
    }
    return this.publish(uid, 'custom_message', {
      case: 'customMessage',
      value: { capability: input.capability, type: input.type, data: input.data },
    });
  }

  private async publish(
    uid: string,
    name: string,
    command:
      | { case: 'restart'; value: Record<string, never> }
      | { case: 'customMessage'; value: { capability: string; type: string; data: Uint8Array } },
  ): Promise<CommandAccepted> {
    const instanceUid = uidFromString(uid);
    if (!instanceUid) throw new Error(`invalid uid reached the command service: ${uid}`);
    const commandId = uidToString(uuidv7());
    try {
      await this.bus.publisher.publishInbound({
        instanceUid,
        transport: Transport.UNSPECIFIED,
        receivedAtMs: BigInt(Date.now()),
        traceparent: traceparentOf(),
        payload: { case: 'control', value: { commandId, command } },
      });
    } catch (err) {
      this.logger.error(`publishing ${name} for ${uid} failed: ${(err as Error).message}`);
      throw new ProblemException({
        type: ProblemType.unavailable,
        title: 'Command could not be queued',
        status: 503,
        detail: 'The message bus (Redis) did not accept the command; try again shortly.',
      });
    }
    commandsPublished.inc({ command: name });
    this.logger.log(`${name} ${commandId} queued for agent ${uid}`);
    return { commandId };
  }
}
