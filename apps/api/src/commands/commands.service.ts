import { Inject, Injectable, Logger } from '@nestjs/common';
import { Transport } from '@opamp/proto';
import { AgentCapability, hasCapability, uidFromString, uidToString, uuidv7 } from '@opamp/protocol';
import { counter, traceparentOf } from '@opamp/telemetry';
import type { InboundEnvelopeInit } from '@opamp/bus';
import { API_CONFIG, type ApiConfig } from '../api.config.js';
import { ProblemException, ProblemType, agentNotFound } from '../common/problem.js';
import { decodeCursor, encodeCursor, queryFingerprint, type Page } from '../common/pagination.js';
import type { CustomMessageInput } from '../agents/agents.query.js';
import { BusService } from '../redis/bus.service.js';
import { CommandProblemType, commandNotFound, invalidParameters, unknownCommandType } from './command-problems.js';
import { ParameterValidators } from './command-schemas.js';
import { commandEventOf, publishCommandEvents } from './command-events.js';
import type { JsonValue } from './command-outcomes.js';
import { commandView, type CommandRecord, type CommandView } from './command.view.js';
import { CommandsRepository, type Eligibility, type NewCommand } from './commands.repository.js';
import {
  bulkTooLarge,
  isUuid,
  type BulkInput,
  type CustomCommandInput,
  type ListCommandsQuery,
} from './commands.query.js';

const commandsPublished = counter(
  'opamp_api_commands_published_total',
  'Control commands the api published to the fleet',
  ['command'],
);
const bulkCommands = counter('opamp_api_bulk_commands_total', 'Bulk commands (not dry runs) by kind', ['kind']);

type ControlPayload =
  | { case: 'restart'; value: Record<string, never> }
  | { case: 'customMessage'; value: { capability: string; type: string; data: Uint8Array } };

const NOT_QUEUED = 'the message bus (Redis) did not accept the command';

export interface DryRunResult {
  dryRun: true;
  /** Agents the selector matches. */
  matched: number;
  /** Of those, agents that can take the command (they declare the capability). */
  eligible: number;
  /** The others, by reason. */
  ineligible: Record<string, number>;
}

export interface BulkResult {
  bulkId: string;
  matched: number;
  /** Commands created and handed to the fleet. */
  queued: number;
  /** Matched agents that got no command (ineligible). */
  skipped: number;
  ineligible: Record<string, number>;
  /** Commands created but not accepted by the bus (failed at once). */
  failed: number;
}

/** Ineligible agents of a bulk, named like the rollout plan's exclusions. */
function ineligibleOf(e: Eligibility, count: number): Record<string, number> {
  return e.kind === 'restart' ? { noAcceptsRestartCommand: count } : { capabilityNotDeclared: count };
}

/** A custom command's CustomMessage data: UTF-8 JSON {"commandId", "parameters"} (docs/commands.md). */
export function customCommandData(commandId: string, parameters: JsonValue): Uint8Array {
  return Buffer.from(JSON.stringify({ commandId, parameters }), 'utf8');
}

/**
 * Commands for agents. The api never talks to agents: it checks what it can (the agent exists and
 * declared the capability; the parameters fit the command type's schema), stores the command
 * (queued, with its deadline), and appends a control envelope carrying the command's id to the
 * agent's inbound shard. The fleet's shard owner delivers it (push on a live WS, or with the reply
 * to the next HTTP poll), and the CommandTracker follows the outcome.
 */
@Injectable()
export class CommandsService {
  private readonly logger = new Logger('Commands');
  private readonly validators = new ParameterValidators();

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly repo: CommandsRepository,
    private readonly bus: BusService,
  ) {}

  async restart(uid: string, createdBy: string | null): Promise<CommandView> {
    const target = await this.repo.findTarget(uid);
    if (!target) throw agentNotFound(uid);
    if (!hasCapability(BigInt.asUintN(64, target.capabilities), AgentCapability.AcceptsRestartCommand)) {
      throw new ProblemException({
        type: ProblemType.capabilityMissing,
        title: 'Agent cannot be restarted',
        status: 409,
        detail: `Agent ${uid} does not declare the AcceptsRestartCommand capability (0x400), so it would ignore a restart command.`,
      });
    }
    return this.createOne(
      {
        agentUid: uid,
        kind: 'restart',
        capability: null,
        type: null,
        parameters: null,
        createdBy,
        timeoutSeconds: this.config.API_RESTART_TIMEOUT_SECONDS,
      },
      () => ({ case: 'restart', value: {} }),
      'restart',
    );
  }

  /** A raw custom message (opaque data): tracked like a custom command, matched by capability and type. */
  async customMessage(uid: string, input: CustomMessageInput, createdBy: string | null): Promise<CommandView> {
    const target = await this.repo.findTarget(uid);
    if (!target) throw agentNotFound(uid);
    this.requireCustomCapability(uid, target.customCapabilities, input.capability);
    const commandType = await this.repo.findType(input.capability, input.type);
    return this.createOne(
      {
        agentUid: uid,
        kind: 'custom',
        capability: input.capability,
        type: input.type,
        parameters: null,
        createdBy,
        timeoutSeconds: commandType?.timeoutSeconds ?? this.config.API_COMMAND_TIMEOUT_SECONDS,
      },
      () => ({ case: 'customMessage', value: { capability: input.capability, type: input.type, data: input.data } }),
      'custom_message',
    );
  }

  /** A custom command of a defined command type, its parameters checked against the type's schema. */
  async send(uid: string, input: CustomCommandInput, createdBy: string | null): Promise<CommandView> {
    const target = await this.repo.findTarget(uid);
    if (!target) throw agentNotFound(uid);
    const timeoutSeconds = await this.checkCustom(input);
    this.requireCustomCapability(uid, target.customCapabilities, input.capability);
    return this.createOne(
      {
        agentUid: uid,
        kind: 'custom',
        capability: input.capability,
        type: input.type,
        parameters: input.parameters,
        createdBy,
        timeoutSeconds,
      },
      (id) => ({
        case: 'customMessage',
        value: { capability: input.capability, type: input.type, data: customCommandData(id, input.parameters) },
      }),
      'custom',
    );
  }

  async bulk(input: BulkInput, createdBy: string | null): Promise<DryRunResult | BulkResult> {
    const cmd = input.command;
    const eligibility: Eligibility =
      cmd.kind === 'restart' ? { kind: 'restart' } : { kind: 'custom', capability: cmd.capability };
    const timeoutSeconds =
      cmd.kind === 'restart' ? this.config.API_RESTART_TIMEOUT_SECONDS : await this.checkCustom(cmd);
    const max = this.config.API_BULK_COMMAND_MAX_AGENTS;
    const counts = await this.repo.countTargets(input.selector, eligibility);
    if (input.dryRun) {
      return {
        dryRun: true,
        matched: counts.matched,
        eligible: counts.eligible,
        ineligible: ineligibleOf(eligibility, counts.matched - counts.eligible),
      };
    }
    if (counts.eligible > max) throw bulkTooLarge(counts.eligible, max, CommandProblemType.bulkTooLarge);
    const uids = await this.repo.eligibleTargets(input.selector, eligibility, max + 1);
    if (uids.length > max) throw bulkTooLarge(uids.length, max, CommandProblemType.bulkTooLarge);

    const bulkId = uidToString(uuidv7());
    const ids = uids.map(() => uidToString(uuidv7()));
    const base: Omit<NewCommand, 'id' | 'agentUid'> = {
      kind: cmd.kind,
      capability: cmd.kind === 'custom' ? cmd.capability : null,
      type: cmd.kind === 'custom' ? cmd.type : null,
      parameters: cmd.kind === 'custom' ? cmd.parameters : null,
      createdBy,
      timeoutSeconds,
    };
    await this.repo.insertBulk(bulkId, ids, uids, base);
    // Announced before the envelopes go out, so that no reader sees `sent` before `queued`.
    const now = Date.now();
    await this.announce(
      ids.map((id, i) => ({
        ...base,
        id,
        agentUid: uids[i]!,
        state: 'queued',
        reason: null,
        result: null,
        bulkId,
        createdAt: new Date(now),
        sentAt: null,
        completedAt: null,
        deadlineAt: new Date(now + timeoutSeconds * 1000),
      })),
    );
    const payload = (id: string): ControlPayload =>
      cmd.kind === 'restart'
        ? { case: 'restart', value: {} }
        : {
            case: 'customMessage',
            value: { capability: cmd.capability, type: cmd.type, data: customCommandData(id, cmd.parameters) },
          };
    const envelopes = ids.map((id, i) => this.envelope(uids[i]!, id, payload(id)));
    let errors: Array<Error | null>;
    try {
      errors = await this.bus.publisher.publishInboundBatch(envelopes);
    } catch (err) {
      errors = ids.map(() => err as Error);
    }
    const failedIds = ids.filter((_, i) => errors[i] !== null);
    await this.announce(await this.repo.failUnpublished(failedIds, NOT_QUEUED));
    if (failedIds.length > 0) {
      this.logger.error(`bulk ${bulkId}: ${failedIds.length} of ${ids.length} command(s) not accepted by Redis`);
      if (failedIds.length === ids.length && ids.length > 0) throw this.unavailable();
    }
    commandsPublished.inc({ command: cmd.kind }, ids.length - failedIds.length);
    bulkCommands.inc({ kind: cmd.kind });
    this.logger.log(
      `bulk ${bulkId}: ${cmd.kind} for ${ids.length - failedIds.length} agent(s) matching "${input.selectorText}"`,
    );
    // Agents may have come or gone between the count and the selection: never below zero.
    const skipped = Math.max(0, counts.matched - ids.length);
    return {
      bulkId,
      matched: Math.max(counts.matched, ids.length),
      queued: ids.length - failedIds.length,
      skipped,
      ineligible: ineligibleOf(eligibility, skipped),
      failed: failedIds.length,
    };
  }

  async get(id: string): Promise<CommandView> {
    const row = await this.repo.get(id);
    if (!row) throw commandNotFound(id);
    return commandView(row);
  }

  async list(q: ListCommandsQuery): Promise<Page<CommandView>> {
    const fingerprint = queryFingerprint({ a: q.agentUid, s: q.states, k: q.kind, b: q.bulkId });
    const beforeId = q.cursor === undefined ? undefined : decodeCursor(q.cursor, fingerprint, isUuid);
    const rows = await this.repo.list({
      agentUid: q.agentUid,
      states: q.states,
      kind: q.kind,
      bulkId: q.bulkId,
      beforeId,
      limit: q.limit,
    });
    const page = rows.slice(0, q.limit);
    const nextCursor = rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id, fingerprint) : null;
    return { items: page.map(commandView), nextCursor };
  }

  // ------------------------------------------------------------------------------ internals

  /** The command type exists and the parameters fit its schema; returns its timeout. */
  private async checkCustom(input: CustomCommandInput): Promise<number> {
    const commandType = await this.repo.findType(input.capability, input.type);
    if (!commandType) {
      throw unknownCommandType(input.capability, input.type, await this.repo.typeNames(input.capability));
    }
    let problems;
    try {
      problems = this.validators.validate(commandType.parametersSchema, input.parameters);
    } catch (err) {
      // A schema stored before it could be checked (or edited in SQL) that ajv cannot compile.
      throw new ProblemException({
        type: CommandProblemType.invalidSchema,
        title: 'Command type schema is unusable',
        status: 500,
        detail: `The parameters schema of ${input.capability}/${input.type} does not compile (${(err as Error).message}); an admin must fix it with PUT /api/v1/command-types/{capability}/{type}.`,
      });
    }
    if (problems.length > 0) throw invalidParameters(input.capability, input.type, problems);
    return commandType.timeoutSeconds;
  }

  private requireCustomCapability(uid: string, declared: readonly string[], capability: string): void {
    if (declared.includes(capability)) return;
    const list = declared.length > 0 ? declared.join(', ') : 'none';
    throw new ProblemException({
      type: ProblemType.capabilityMissing,
      title: 'Custom capability not declared',
      status: 409,
      detail: `Agent ${uid} has not declared the custom capability "${capability}" (declared: ${list}), so it would drop the message.`,
    });
  }

  private envelope(
    uid: string,
    commandId: string,
    command: ControlPayload,
  ): InboundEnvelopeInit & { instanceUid: Uint8Array } {
    const instanceUid = uidFromString(uid);
    if (!instanceUid) throw new Error(`invalid uid reached the command service: ${uid}`);
    return {
      instanceUid,
      transport: Transport.UNSPECIFIED,
      receivedAtMs: BigInt(Date.now()),
      traceparent: traceparentOf(),
      payload: { case: 'control', value: { commandId, command } },
    };
  }

  /** Stores the command (queued), then hands its control envelope to the fleet. */
  private async createOne(
    c: Omit<NewCommand, 'id'>,
    payload: (id: string) => ControlPayload,
    metric: string,
  ): Promise<CommandView> {
    const id = uidToString(uuidv7());
    const row = await this.repo.insert({ ...c, id });
    // Announced before the envelope goes out, so that no reader sees `sent` before `queued`.
    await this.announce([row]);
    try {
      await this.bus.publisher.publishInbound(this.envelope(c.agentUid, id, payload(id)));
    } catch (err) {
      this.logger.error(`publishing ${metric} ${id} for ${c.agentUid} failed: ${(err as Error).message}`);
      const failed = await this.repo.failUnpublished([id], NOT_QUEUED).catch(() => []);
      await this.announce(failed);
      throw this.unavailable();
    }
    commandsPublished.inc({ command: metric });
    this.logger.log(`${metric} ${id} queued for agent ${c.agentUid}`);
    return commandView(row);
  }

  /** Best effort: a lost command event only delays live views (the row is the truth). */
  private async announce(rows: readonly CommandRecord[]): Promise<void> {
    try {
      await publishCommandEvents(this.bus.redis, rows.map(commandEventOf));
    } catch (err) {
      this.logger.warn(`command events not published: ${(err as Error).message}`);
    }
  }

  private unavailable(): ProblemException {
    return new ProblemException({
      type: ProblemType.unavailable,
      title: 'Command could not be queued',
      status: 503,
      detail: 'The message bus (Redis) did not accept the command; it is recorded as failed. Try again shortly.',
    });
  }
}
