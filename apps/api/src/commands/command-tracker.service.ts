import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import {
  ConsumerGroups,
  EVENT_FIELD,
  StreamKeys,
  closeRedis,
  connectRedis,
  createRedis,
  sleep,
  withDeadline,
} from '@opamp/bus';
import { isDatabaseUnavailable } from '@opamp/database';
import { counter } from '@opamp/telemetry';
import { API_CONFIG, type ApiConfig } from '../api.config.js';
import { BusService } from '../redis/bus.service.js';
import { commandEventOf, publishCommandEvents } from './command-events.js';
import { commandSignals, parseAgentEvent, type CommandSignal } from './command-outcomes.js';
import type { CommandRecord } from './command.view.js';
import { CommandsRepository } from './commands.repository.js';
import { isUuid } from './commands.query.js';

const transitions = counter('opamp_api_command_transitions_total', 'Command state changes by the tracker', [
  'state',
  'cause',
]);
const trackerErrors = counter(
  'opamp_api_command_tracker_errors_total',
  'Agent-event batches the command tracker could not process (retried)',
);

/** Tuning of the tracker; defaults suit production, tests shorten them. */
export interface CommandTrackerOptions {
  /** Timeout sweep period. */
  sweepIntervalMs: number;
  /** Entries pending this long at another consumer (a crashed replica) are claimed. */
  claimIdleMs: number;
  /** How often stale pending entries are looked for. */
  claimEveryMs: number;
  batch: number;
  blockMs: number;
}

export const COMMAND_TRACKER_OPTIONS = Symbol('COMMAND_TRACKER_OPTIONS');

const DEFAULTS: CommandTrackerOptions = {
  sweepIntervalMs: 5_000,
  claimIdleMs: 60_000,
  claimEveryMs: 30_000,
  batch: 200,
  blockMs: 1_000,
};

/** Consumers of the group idle this long with nothing pending are removed (replicas long gone). */
const DEAD_CONSUMER_IDLE_MS = 3_600_000;
const SWEEP_LIMIT = 1_000;

type StreamEntry = [id: string, fields: string[] | null];

/**
 * The command tracker. Every api replica joins the consumer group `api-commands` on the
 * agent-events stream the fleet writes (each event goes to one replica), turns each event into
 * signals (command-outcomes.ts) and applies them to `commands` with guarded UPDATEs, then
 * acknowledges. A batch that fails because Postgres is down stays pending and is read again.
 * Every state change is published on the command-events stream. A sweep every 5 s times out
 * commands past their deadline (one UPDATE; safe with several replicas).
 */
@Injectable()
export class CommandTracker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('CommandTracker');
  private readonly opts: CommandTrackerOptions;
  private readonly consumer = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private blocking: Redis | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  /** Read our own pending entries (un-acked after a failure) before new ones. */
  private pendingFirst = true;
  private lastClaim = 0;
  private lastErrorLog = 0;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly bus: BusService,
    private readonly repo: CommandsRepository,
    @Optional() @Inject(COMMAND_TRACKER_OPTIONS) options?: Partial<CommandTrackerOptions>,
  ) {
    this.opts = { ...DEFAULTS, ...options };
  }

  get consumerName(): string {
    return this.consumer;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.blocking = createRedis(this.config.REDIS_URL, { name: 'opamp-api-commands', blocking: true });
    await connectRedis(this.blocking, this.config.REDIS_URL);
    // New events only on first creation: older ones predate every command this group tracks.
    await this.ensureGroup('$');
    this.running = true;
    this.loop = this.run();
    this.sweepTimer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.sweep()
        .then(() => undefined)
        .finally(() => (this.sweeping = undefined));
    }, this.opts.sweepIntervalMs);
    this.sweepTimer.unref();
    this.logger.log(`tracking command outcomes as ${this.consumer} (group ${ConsumerGroups.apiCommands})`);
  }

  /** Stops consuming before the connections close; what is not acknowledged is re-read later. */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.running && !this.blocking) return;
    this.running = false;
    clearInterval(this.sweepTimer);
    await withDeadline(this.loop ?? Promise.resolve(), this.opts.blockMs + 5_000);
    await withDeadline(this.sweeping ?? Promise.resolve(), 5_000);
    await this.leaveGroup().catch(() => undefined);
    if (this.blocking) await closeRedis(this.blocking);
    this.blocking = undefined;
  }

  /** One timeout sweep (also run by the timer): marks commands past their deadline timed_out. */
  async sweep(): Promise<number> {
    let total = 0;
    try {
      for (let round = 0; round < 10; round++) {
        const rows = await this.repo.timeOutExpired(SWEEP_LIMIT);
        await this.publish(rows, 'deadline');
        total += rows.length;
        if (rows.length < SWEEP_LIMIT) break;
      }
    } catch (err) {
      this.warn(`timeout sweep failed: ${(err as Error).message}`);
    }
    return total;
  }

  // ------------------------------------------------------------------------------ consuming

  private async ensureGroup(from: '$' | '0'): Promise<void> {
    try {
      await this.bus.redis.xgroup('CREATE', StreamKeys.agentEvents, ConsumerGroups.apiCommands, from, 'MKSTREAM');
    } catch (err) {
      if (!(err as Error).message.includes('BUSYGROUP')) throw err;
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.readOnce();
        if (Date.now() - this.lastClaim >= this.opts.claimEveryMs) await this.claimStale();
      } catch (err) {
        if (!this.running) break;
        trackerErrors.inc();
        const message = (err as Error).message;
        // The stream (and its group) vanished, e.g. Redis lost its data: everything in the new
        // stream is new, so read it from the start.
        if (message.includes('NOGROUP')) await this.ensureGroup('0').catch(() => undefined);
        this.warn(`agent events not processed, retrying: ${message}`);
        this.pendingFirst = true;
        await sleep(1_000);
      }
    }
  }

  private async readOnce(): Promise<void> {
    const redis = this.blocking!;
    const reply = (
      this.pendingFirst
        ? await redis.xreadgroup(
            'GROUP',
            ConsumerGroups.apiCommands,
            this.consumer,
            'COUNT',
            this.opts.batch,
            'STREAMS',
            StreamKeys.agentEvents,
            '0',
          )
        : await redis.xreadgroup(
            'GROUP',
            ConsumerGroups.apiCommands,
            this.consumer,
            'COUNT',
            this.opts.batch,
            'BLOCK',
            this.opts.blockMs,
            'STREAMS',
            StreamKeys.agentEvents,
            '>',
          )
    ) as Array<[string, StreamEntry[]]> | null;
    const entries = reply?.[0]?.[1] ?? [];
    if (this.pendingFirst && entries.length === 0) {
      this.pendingFirst = false;
      return;
    }
    await this.handle(entries);
  }

  /**
   * Entries read by a replica that died before acknowledging them (pending longer than
   * claimIdleMs) become ours; consumers gone for an hour with nothing pending are removed.
   */
  private async claimStale(): Promise<void> {
    this.lastClaim = Date.now();
    const redis = this.bus.redis;
    let cursor = '0-0';
    for (let round = 0; round < 50; round++) {
      const [next, entries, deleted] = (await redis.xautoclaim(
        StreamKeys.agentEvents,
        ConsumerGroups.apiCommands,
        this.consumer,
        this.opts.claimIdleMs,
        cursor,
        'COUNT',
        this.opts.batch,
      )) as [string, StreamEntry[], string[]?];
      if (entries.length > 0) {
        this.logger.warn(`claimed ${entries.length} agent event(s) left pending by another api replica`);
        await this.handle(entries);
      }
      if (deleted && deleted.length > 0) {
        await redis.xack(StreamKeys.agentEvents, ConsumerGroups.apiCommands, ...deleted);
      }
      cursor = next;
      if (cursor === '0-0') break;
    }
    const consumers = (await redis.xinfo(
      'CONSUMERS',
      StreamKeys.agentEvents,
      ConsumerGroups.apiCommands,
    )) as unknown[][];
    for (const c of consumers) {
      const info: Record<string, unknown> = {};
      for (let i = 0; i + 1 < c.length; i += 2) info[String(c[i])] = c[i + 1];
      const name = String(info.name);
      if (name !== this.consumer && Number(info.pending) === 0 && Number(info.idle) > DEAD_CONSUMER_IDLE_MS) {
        await redis.xgroup('DELCONSUMER', StreamKeys.agentEvents, ConsumerGroups.apiCommands, name);
      }
    }
  }

  /** Applies the entries in stream order, publishes the changes, then acknowledges. */
  private async handle(entries: StreamEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const work: Array<{ id: string; cause: string; signal: CommandSignal }> = [];
    for (const [id, fields] of entries) {
      const text = fields ? fieldValue(fields, EVENT_FIELD) : undefined;
      const event = text === undefined ? undefined : parseAgentEvent(text);
      if (!event) continue;
      for (const signal of commandSignals(event)) {
        if (isUuid(signal.agentUid)) work.push({ id, cause: event.type, signal });
      }
    }
    // Most events concern agents without open commands: one query finds the few that matter.
    const open = await this.repo.agentsWithOpenCommands([...new Set(work.map((w) => w.signal.agentUid))]);
    const changed: Array<{ rows: CommandRecord[]; cause: string }> = [];
    for (const { id, cause, signal } of work) {
      if (!open.has(signal.agentUid)) continue;
      try {
        const rows = await this.repo.apply(signal);
        if (rows.length > 0) changed.push({ rows, cause });
      } catch (err) {
        // Postgres down: leave the batch pending, it is read again. Anything else is specific
        // to this entry (it would fail forever): log it and move on.
        if (isDatabaseUnavailable(err)) throw err;
        this.logger.error(`agent event ${id} (${cause}) not applied: ${(err as Error).message}`);
      }
    }
    for (const c of changed) await this.publish(c.rows, c.cause);
    await this.bus.redis.xack(StreamKeys.agentEvents, ConsumerGroups.apiCommands, ...entries.map(([id]) => id));
  }

  private async publish(rows: readonly CommandRecord[], cause: string): Promise<void> {
    if (rows.length === 0) return;
    for (const r of rows) transitions.inc({ state: r.state, cause });
    try {
      await publishCommandEvents(this.bus.redis, rows.map(commandEventOf));
    } catch (err) {
      this.warn(`command events not published: ${(err as Error).message}`);
    }
  }

  /** Our consumer leaves the group when it holds nothing (pending entries would be orphaned). */
  private async leaveGroup(): Promise<void> {
    const redis = this.bus.redis;
    const summary = (await redis.xpending(
      StreamKeys.agentEvents,
      ConsumerGroups.apiCommands,
      '-',
      '+',
      1,
      this.consumer,
    )) as unknown[];
    if (summary.length === 0) {
      await redis.xgroup('DELCONSUMER', StreamKeys.agentEvents, ConsumerGroups.apiCommands, this.consumer);
    }
  }

  /** Warnings at most every 10 s (Redis or Postgres down would otherwise flood the log). */
  private warn(message: string): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = now;
    this.logger.warn(message);
  }
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
