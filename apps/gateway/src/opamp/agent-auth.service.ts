import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Redis } from 'ioredis';
import {
  RedisKeys,
  closeRedis,
  connectRedis,
  createRedis,
  isRedisReady,
  looksLikeEnrollmentToken,
  parseEnrollmentTokenMirror,
  withDeadline,
  type EnrollmentTokenMirror,
} from '@opamp/bus';
import { GatewayBusService } from '../bus/gateway-bus.service.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.config.js';
import { AdmittedTokens } from './admitted-tokens.js';
import { gatewayMetrics } from './gateway.metrics.js';

/** Admitted. `tokenId` names the enrollment token that did it ('' for open mode or the shared secret). */
export interface AuthAdmitted {
  ok: true;
  tokenId: string;
  /** SHA-256 (hex) of the token; '' without one. */
  tokenDigest: string;
}
/** 401: no usable credential. 503: the token could not be checked (Redis unreachable). */
export interface AuthRefused {
  ok: false;
  status: 401 | 503;
}
export type AuthResult = AuthAdmitted | AuthRefused;

/** How long a token looked up in Redis is trusted without asking again. */
export const POSITIVE_CACHE_MS = 5_000;
/** How long an unknown token stays refused without asking again (a new token works after at most this). */
export const NEGATIVE_CACHE_MS = 2_000;
const CACHE_MAX_ENTRIES = 10_000;
/** A lookup Redis does not answer within this time is a 503. */
const LOOKUP_DEADLINE_MS = 2_000;
/** Revoked ids are remembered this long (late lookups and upgrades in flight during a revocation). */
const REVOKED_MEMORY_MS = 10 * 60_000;
const REVOKED_MEMORY_MAX = 1_000;
/** After the revocation subscriber reconnects, wait this long before checking the tokens in use. */
const RECONCILE_DELAY_MS = 5_000;

const OPEN: AuthAdmitted = { ok: true, tokenId: '', tokenDigest: '' };
const REFUSED: AuthRefused = { ok: false, status: 401 };
const UNAVAILABLE: AuthRefused = { ok: false, status: 503 };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface CacheEntry {
  /** null: no such token. */
  entry: EnrollmentTokenMirror | null;
  /** The verdict while the token has not expired (allocated once per lookup). */
  admitted: AuthAdmitted | undefined;
  untilMs: number;
}

export type RevokedListener = (tokenId: string) => void;

/**
 * Agent authentication at the transport edge (docs/enrollment.md), for every HTTP request and
 * every WS upgrade:
 * - `Authorization: Bearer <OPAMP_ENROLLMENT_SECRET>` is admitted;
 * - `Authorization: Bearer oet_…` is admitted when it is a usable enrollment token: the api
 *   mirrors those into the Redis hash RedisKeys.enrollmentTokens (sha256 hex → { id, labels,
 *   expiresAtMs }); lookups are cached in-process for a few seconds (positive and negative), and
 *   concurrent lookups of one token share one HGET, so a poll storm does not become a Redis storm;
 * - any other Bearer is refused (401);
 * - no credential: admitted in `open` mode, refused in `token` mode (implied by a shared secret).
 * When Redis cannot answer for a token not in the cache the result is 503 (fail closed).
 *
 * Revocations arrive on the RedisKeys.enrollmentTokenRevoked channel (own connection): the token
 * leaves the cache and listeners (the WS server) close the connections it admitted.
 */
@Injectable()
export class AgentAuthService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('AgentAuth');
  private readonly secretDigest: Buffer | undefined;
  /** Whether a request without credentials is refused. */
  readonly credentialRequired: boolean;
  /** The tokens holding live WS connections (filled by the WS server). */
  readonly admitted = new AdmittedTokens();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<CacheEntry | undefined>>();
  private readonly revoked = new Map<string, number>();
  private readonly listeners: RevokedListener[] = [];
  private readonly subscriber: Redis;
  private readonly redisUrl: string;
  private subscribed = false;
  private reconcileTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    private readonly bus: GatewayBusService,
  ) {
    this.secretDigest = config.OPAMP_ENROLLMENT_SECRET ? digest(config.OPAMP_ENROLLMENT_SECRET) : undefined;
    // A shared secret has always meant "agents must authenticate"; it keeps that meaning.
    this.credentialRequired = config.GATEWAY_AGENT_AUTH === 'token' || this.secretDigest !== undefined;
    this.redisUrl = config.REDIS_URL;
    this.subscriber = createRedis(config.REDIS_URL, { name: `gateway:${config.gatewayId}:revocations` });
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === RedisKeys.enrollmentTokenRevoked) this.tokenRevoked(message);
    });
    this.subscriber.on('ready', () => {
      // ioredis subscribes again by itself after a reconnect; revocations published meanwhile
      // were missed, so the tokens still in use are checked once the api had time to resync.
      if (!this.subscribed) return;
      clearTimeout(this.reconcileTimer);
      this.reconcileTimer = setTimeout(() => void this.reconcile(), RECONCILE_DELAY_MS);
      this.reconcileTimer.unref();
    });
    this.logger.log(
      `agent authentication: ${this.credentialRequired ? 'token' : 'open'} mode${this.secretDigest ? ' (shared secret set)' : ''}`,
    );
  }

  async onModuleInit(): Promise<void> {
    await connectRedis(this.subscriber, this.redisUrl);
    await this.subscriber.subscribe(RedisKeys.enrollmentTokenRevoked);
    this.subscribed = true;
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.reconcileTimer);
    await closeRedis(this.subscriber);
  }

  /** Called with the id of every revoked token (after it left the cache). */
  onRevoked(listener: RevokedListener): void {
    this.listeners.push(listener);
  }

  /** True when token `id` was revoked recently (an upgrade admitted just before must not stay open). */
  isRevoked(id: string): boolean {
    return this.revoked.has(id);
  }

  /**
   * The verdict for a request's headers: synchronous unless an enrollment token must be looked
   * up in Redis (not cached).
   */
  authenticate(headers: IncomingHttpHeaders): AuthResult | Promise<AuthResult> {
    const bearer = bearerOf(headers.authorization);
    if (bearer === undefined) {
      if (this.credentialRequired) return this.count(REFUSED);
      gatewayMetrics.agentAuth.inc({ result: 'open' });
      return OPEN;
    }
    const d = digest(bearer);
    // Compare fixed-length digests so neither length nor content leaks through timing.
    if (this.secretDigest && timingSafeEqual(d, this.secretDigest)) {
      gatewayMetrics.agentAuth.inc({ result: 'secret' });
      return OPEN;
    }
    // Anything not shaped like a token is refused without asking Redis.
    if (!looksLikeEnrollmentToken(bearer)) return this.count(REFUSED);
    const hex = d.toString('hex');
    const now = Date.now();
    const cached = this.cache.get(hex);
    if (cached && cached.untilMs > now) {
      gatewayMetrics.tokenLookups.inc({ source: 'cache' });
      return this.count(verdict(cached, now));
    }
    return this.lookup(hex).then((entry) => this.count(entry ? verdict(entry, Date.now()) : UNAVAILABLE));
  }

  private count(result: AuthResult): AuthResult {
    gatewayMetrics.agentAuth.inc({
      result: result.ok ? (result.tokenId ? 'token' : 'open') : result.status === 401 ? 'refused' : 'unavailable',
    });
    return result;
  }

  /** One HGET per token at a time; undefined when Redis cannot answer. */
  private lookup(hex: string): Promise<CacheEntry | undefined> {
    let pending = this.inflight.get(hex);
    if (pending) return pending;
    if (!isRedisReady(this.bus.redis)) return Promise.resolve(undefined);
    gatewayMetrics.tokenLookups.inc({ source: 'redis' });
    pending = withDeadline(this.bus.redis.hget(RedisKeys.enrollmentTokens, hex), LOOKUP_DEADLINE_MS)
      .then(
        (raw) => {
          if (raw === undefined) return undefined; // no answer in time
          let entry = raw === null ? null : (parseEnrollmentTokenMirror(raw) ?? null);
          // Read before a revocation, answered after it: still revoked.
          if (entry && this.revoked.has(entry.id)) entry = null;
          const now = Date.now();
          const cached: CacheEntry = {
            entry,
            admitted: entry ? { ok: true, tokenId: entry.id, tokenDigest: hex } : undefined,
            untilMs: now + (entry ? POSITIVE_CACHE_MS : NEGATIVE_CACHE_MS),
          };
          this.remember(hex, cached);
          return cached;
        },
        (err: Error) => {
          this.logger.warn(`enrollment token lookup failed: ${err.message}`);
          return undefined;
        },
      )
      .finally(() => this.inflight.delete(hex));
    this.inflight.set(hex, pending);
    return pending;
  }

  private remember(hex: string, entry: CacheEntry): void {
    this.cache.delete(hex);
    // Bounded: the oldest entry goes first (insertion order).
    if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(hex, entry);
  }

  /** A revocation announced by the api (or found by reconcile). */
  tokenRevoked(id: string): void {
    if (!UUID.test(id)) return;
    const now = Date.now();
    this.revoked.delete(id);
    this.revoked.set(id, now);
    for (const [k, at] of this.revoked) {
      if (this.revoked.size <= REVOKED_MEMORY_MAX && now - at < REVOKED_MEMORY_MS) break;
      this.revoked.delete(k);
    }
    for (const [hex, c] of this.cache) if (c.entry?.id === id) this.cache.delete(hex);
    for (const listener of this.listeners) {
      try {
        listener(id);
      } catch (err) {
        this.logger.error(`revocation listener failed: ${(err as Error).message}`);
      }
    }
  }

  /**
   * After the subscriber reconnected: tokens holding connections that are gone from the mirror
   * were revoked while we were not listening. An empty mirror is not taken as a revocation: Redis
   * lost its data and the api restores it (docs/enrollment.md).
   */
  async reconcile(): Promise<void> {
    const inUse = this.admitted.inUse();
    if (inUse.length === 0) return;
    try {
      const redis = this.bus.redis;
      const [size, values] = await Promise.all([
        redis.hlen(RedisKeys.enrollmentTokens),
        redis.hmget(RedisKeys.enrollmentTokens, ...inUse.map((t) => t.digestHex)),
      ]);
      if (size === 0) {
        this.logger.warn(
          'enrollment token mirror is empty in Redis (data loss?): connections kept until the api restores it',
        );
        return;
      }
      inUse.forEach((t, i) => {
        if (values[i] === null || values[i] === undefined) {
          this.logger.warn(`enrollment token ${t.id} is gone from Redis: treated as revoked`);
          this.tokenRevoked(t.id);
        }
      });
    } catch (err) {
      this.logger.warn(`enrollment token reconcile failed: ${(err as Error).message}`);
    }
  }
}

function verdict(cached: CacheEntry, now: number): AuthResult {
  const e = cached.entry;
  if (!e || !cached.admitted) return REFUSED;
  if (e.expiresAtMs !== null && e.expiresAtMs <= now) return REFUSED;
  return cached.admitted;
}

/** The credential of `Authorization: Bearer <credential>`; undefined without one (other schemes included). */
function bearerOf(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1];
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
