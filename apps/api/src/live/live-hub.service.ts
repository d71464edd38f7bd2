// The live-updates hub (docs/live-updates.md): ONE reader per api process follows the agent,
// rollout and command event streams (XREAD BLOCK, no consumer group, on a connection of its own)
// and fans every event out to the subscribers whose filter it passes. SSE connections and GraphQL
// subscriptions are both subscribers. Without subscribers the reader rests; the first subscriber
// starts it from where the streams stand ("$", resolved to concrete ids before subscribe returns).
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis, createRedis, sleep, withDeadline } from '@opamp/bus';
import type { Labels } from '@opamp/domain';
import { counter, gauge } from '@opamp/telemetry';
import { API_CONFIG, type ApiConfig } from '../api.config.js';
import { ProblemException, ProblemType } from '../common/problem.js';
import { BusService } from '../redis/bus.service.js';
import {
  LIVE_STREAMS,
  LIVE_TYPES,
  agentOf,
  compareEntryIds,
  matchesFilter,
  needsLabels,
  parseStreamEntry,
  type LiveEvent,
  type LiveEventId,
  type LiveFilter,
  type LiveType,
} from './live-events.js';
import { LiveLabelsRepository } from './live-labels.repository.js';
import { LiveSubscription, type LiveEndReason } from './live-subscription.js';

/** Events a subscriber may fall behind before it is dropped. */
export const LIVE_MAX_BUFFERED = 1000;
/** Subscribers (SSE connections + GraphQL subscriptions) one api process serves at most. */
export const LIVE_MAX_SUBSCRIBERS = 10_000;
/** Stream entries re-read per stream when an SSE client resumes with Last-Event-ID. */
export const LIVE_REPLAY_MAX_PER_STREAM = 10_000;
/** Entries per stream per XREAD. */
const READ_COUNT = 500;
const BLOCK_MS = 5000;

const subscribersGauge = gauge('opamp_api_live_subscribers', 'Open live-update subscribers (SSE and GraphQL)');
const eventsRead = counter('opamp_api_live_events_total', 'Events the live hub read from the streams', ['type']);
const dropped = counter(
  'opamp_api_live_dropped_subscribers_total',
  'Live subscribers the hub ended (slow_consumer: too far behind; shutdown)',
  ['reason'],
);

type StreamReply = Array<[string, Array<[string, string[]]>]> | null;

@Injectable()
export class LiveHub implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('LiveHub');
  /** The blocking reader's own connection (XREAD BLOCK would stall every other command). */
  private readonly reader: Redis;
  private readonly subscribers = new Set<LiveSubscription>();
  /** Last entry id read per stream. */
  private readonly positions = new Map<LiveType, string>();
  private running = false;
  private loop: Promise<void> | undefined;
  /** Settled once `positions` are valid; undefined while the reader rests (no subscribers). */
  private active: Promise<void> | undefined;
  /** Wakes the resting reader. */
  private wake: (() => void) | undefined;
  private lastErrorLogMs = 0;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly bus: BusService,
    private readonly labels: LiveLabelsRepository,
  ) {
    this.reader = createRedis(config.REDIS_URL, { name: 'opamp-api-live', blocking: true });
  }

  async onModuleInit(): Promise<void> {
    await connectRedis(this.reader, this.config.REDIS_URL);
    this.running = true;
    this.loop = this.run();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /**
   * A new subscriber: it receives every event appended after this resolves. Events it does not
   * read pile up to `maxBuffered`, then it is dropped. 503 when shutting down, full, or Redis is down.
   */
  async subscribe(filter: LiveFilter, maxBuffered = LIVE_MAX_BUFFERED): Promise<LiveSubscription> {
    if (!this.running) {
      throw new ProblemException({
        type: ProblemType.unavailable,
        title: 'Shutting down',
        status: 503,
        detail: 'This api process is shutting down; connect again (another replica will serve you).',
      });
    }
    if (this.subscribers.size >= LIVE_MAX_SUBSCRIBERS) {
      throw new ProblemException({
        type: ProblemType.unavailable,
        title: 'Too many live subscribers',
        status: 503,
        detail: `This api process already serves ${LIVE_MAX_SUBSCRIBERS} live subscribers; try again later or another replica.`,
      });
    }
    // Registered first, so the reader cannot go idle between the activation and the registration.
    const sub = new LiveSubscription(filter, maxBuffered, (s, reason) => this.onClosed(s, reason));
    this.subscribers.add(sub);
    subscribersGauge.inc();
    try {
      await this.activate();
    } catch (err) {
      await sub.return();
      throw new ProblemException({
        type: ProblemType.unavailable,
        title: 'Service Unavailable',
        status: 503,
        detail: `The event streams (Redis) cannot be read right now; try again shortly. (${(err as Error).message})`,
      });
    }
    return sub;
  }

  /** Resolves once the reader holds concrete stream positions (resolving them if it rests). */
  private activate(): Promise<void> {
    this.active ??= (async () => {
      // "$" resolved to concrete ids, so nothing appended between two reads is skipped.
      for (const type of LIVE_TYPES) {
        const last = (await this.bus.redis.xrevrange(LIVE_STREAMS[type], '+', '-', 'COUNT', 1)) as Array<
          [string, string[]]
        >;
        this.positions.set(type, last[0]?.[0] ?? '0-0');
      }
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    })().catch((err: unknown) => {
      this.active = undefined;
      throw err;
    });
    return this.active;
  }

  /**
   * Events after `after` that pass `filter`, oldest first, read back from the streams (XRANGE):
   * from the entry after `after` in its own stream, and from the same millisecond in the others
   * (their order relative to it within one millisecond is unknown, so such an event may be sent
   * twice, never lost). `complete` is false when a stream had more than
   * LIVE_REPLAY_MAX_PER_STREAM entries to re-read.
   */
  async replay(after: LiveEventId, filter: LiveFilter): Promise<{ events: LiveEvent[]; complete: boolean }> {
    const ms = after.entryId.split('-')[0]!;
    const events: LiveEvent[] = [];
    let complete = true;
    for (const type of LIVE_TYPES) {
      if (!filter.types.has(type)) continue;
      let start = type === after.type ? `(${after.entryId}` : `${ms}-0`;
      let read = 0;
      for (;;) {
        const count = Math.min(READ_COUNT, LIVE_REPLAY_MAX_PER_STREAM - read);
        if (count <= 0) {
          const more = (await this.bus.redis.xrange(LIVE_STREAMS[type], start, '+', 'COUNT', 1)) as unknown[];
          if (more.length > 0) complete = false;
          break;
        }
        const page = (await this.bus.redis.xrange(LIVE_STREAMS[type], start, '+', 'COUNT', count)) as Array<
          [string, string[]]
        >;
        for (const [id, fields] of page) {
          const e = parseStreamEntry(type, id, fields);
          if (e) events.push(e);
        }
        read += page.length;
        if (page.length < count) break;
        start = `(${page[page.length - 1]![0]}`;
      }
    }
    events.sort((a, b) => compareEntryIds(a.entryId, b.entryId));
    const labels = await this.labelsFor(events, [filter]);
    return { events: events.filter((e) => matchesFilter(e, filter, (uid) => labels.get(uid))), complete };
  }

  private onClosed(s: LiveSubscription, reason: LiveEndReason | 'closed'): void {
    if (!this.subscribers.delete(s)) return;
    subscribersGauge.dec();
    if (reason !== 'closed') dropped.inc({ reason });
    if (reason === 'slow_consumer')
      this.logger.warn(`dropped a live subscriber that fell ${s.maxBuffered} events behind`);
  }

  private async run(): Promise<void> {
    const keys = LIVE_TYPES.map((t) => LIVE_STREAMS[t]);
    while (this.running) {
      if (this.subscribers.size === 0) {
        // Nobody listens: stop reading (and forget the positions) until the next subscriber.
        this.active = undefined;
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      try {
        await this.activate();
        const ids = LIVE_TYPES.map((t) => this.positions.get(t)!);
        const reply = (await this.reader.xread(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          ...keys,
          ...ids,
        )) as StreamReply;
        if (!reply || !this.running) continue;
        await this.handle(reply);
      } catch (err) {
        if (!this.running) break;
        const now = Date.now();
        if (now - this.lastErrorLogMs > 30_000) {
          this.lastErrorLogMs = now;
          this.logger.warn(`reading the event streams failed (retrying): ${(err as Error).message}`);
        }
        await sleep(500);
      }
    }
  }

  private async handle(reply: NonNullable<StreamReply>): Promise<void> {
    const byType = new Map<LiveType, Array<[string, string[]]>>();
    for (const [key, entries] of reply) {
      const type = LIVE_TYPES.find((t) => LIVE_STREAMS[t] === key);
      if (type && entries.length > 0) byType.set(type, entries);
    }
    // A stream that filled its COUNT may hold older entries than what the others returned: hand
    // out nothing newer than its last entry this round (the rest is read again next round), so
    // events go out in entry-id order across streams and a resume (see replay) loses nothing.
    let cap: string | undefined;
    for (const entries of byType.values()) {
      if (entries.length < READ_COUNT) continue;
      const last = entries[entries.length - 1]![0];
      if (cap === undefined || compareEntryIds(last, cap) < 0) cap = last;
    }
    const events: LiveEvent[] = [];
    for (const [type, entries] of byType) {
      for (const [id, fields] of entries) {
        if (cap !== undefined && compareEntryIds(id, cap) > 0) break;
        this.positions.set(type, id);
        eventsRead.inc({ type });
        const e = parseStreamEntry(type, id, fields);
        if (e) events.push(e);
      }
    }
    if (events.length === 0 || this.subscribers.size === 0) return;
    events.sort((a, b) => compareEntryIds(a.entryId, b.entryId));
    const subs = [...this.subscribers];
    const labels = await this.labelsFor(
      events,
      subs.map((s) => s.filter),
    );
    for (const e of events) {
      for (const s of subs) if (matchesFilter(e, s.filter, (uid) => labels.get(uid))) s.push(e);
    }
  }

  /** Labels of the agents of `events` that some filter's selector needs (one query). */
  private async labelsFor(events: readonly LiveEvent[], filters: readonly LiveFilter[]): Promise<Map<string, Labels>> {
    const uids = events.filter((e) => needsLabels(e, filters)).map((e) => agentOf(e)!);
    if (uids.length === 0) return new Map();
    try {
      return await this.labels.mergedLabels(uids);
    } catch (err) {
      // Postgres unavailable: selector subscribers miss these events rather than everyone waiting.
      this.logger.warn(`looking up agent labels for selector filters failed: ${(err as Error).message}`);
      return new Map();
    }
  }

  /** Ends every subscriber (SSE responses close, GraphQL subscriptions complete) before the server closes. */
  beforeApplicationShutdown(): void {
    this.running = false;
    for (const s of [...this.subscribers]) s.finish('shutdown', 'The api process is shutting down; reconnect.');
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async onApplicationShutdown(): Promise<void> {
    this.running = false;
    // Unblock the pending XREAD BLOCK; with Redis down a queued command never settles: don't wait forever.
    this.reader.disconnect();
    await withDeadline(this.loop?.catch(() => undefined) ?? Promise.resolve(), 2000);
    await closeRedis(this.reader, 500);
  }
}
