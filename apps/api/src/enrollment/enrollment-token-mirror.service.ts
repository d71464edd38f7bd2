// The Redis mirror of the usable enrollment tokens (docs/enrollment.md): the gateways never read
// Postgres, they look tokens up in RedisKeys.enrollmentTokens (sha256 hex → JSON entry) and close
// the connections of a token announced on RedisKeys.enrollmentTokenRevoked.
//
// Postgres is the truth. Every api replica resyncs the hash from it at start, every
// RESYNC_INTERVAL_MS and after each Redis reconnect (Redis may have lost its data): usable tokens
// missing from the hash are written back, entries no longer usable are removed. Several replicas
// doing it at once is harmless: they all converge on the same content.
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  RedisKeys,
  encodeEnrollmentTokenMirror,
  isRedisReady,
  parseEnrollmentTokenMirror,
  withDeadline,
  type EnrollmentTokenMirror,
} from '@opamp/bus';
import { PrismaService } from '@opamp/database';
import { BusService } from '../redis/bus.service.js';

export const RESYNC_INTERVAL_MS = 60_000;
/** A mirror write that takes longer fails the request (503) instead of hanging it. */
const WRITE_DEADLINE_MS = 3_000;

export class MirrorUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MirrorUnavailableError';
  }
}

export interface ResyncResult {
  /** Usable tokens written because the hash lacked them (or held another value). */
  written: number;
  /** Entries removed because the token is revoked, expired or unknown. */
  removed: number;
  /** Of the removed: revocations announced again (entries that were not simply expired). */
  announced: number;
}

interface TokenRow {
  id: string;
  secretHash: string;
  labels: unknown;
  expiresAt: Date | null;
}

export function mirrorEntryOf(row: Pick<TokenRow, 'id' | 'labels' | 'expiresAt'>): EnrollmentTokenMirror {
  const labels: Record<string, string> = {};
  if (typeof row.labels === 'object' && row.labels !== null && !Array.isArray(row.labels)) {
    for (const [k, v] of Object.entries(row.labels as Record<string, unknown>))
      if (typeof v === 'string') labels[k] = v;
  }
  return { id: row.id, labels, expiresAtMs: row.expiresAt ? row.expiresAt.getTime() : null };
}

@Injectable()
export class EnrollmentTokenMirrorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('EnrollmentTokenMirror');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ResyncResult> | undefined;
  private stopped = false;
  private readonly onRedisReady = (): void => {
    // A reconnect: the Redis we talk to may be a fresh one without the hash.
    this.resyncLogged('Redis reconnect');
  };

  constructor(
    private readonly bus: BusService,
    private readonly prisma: PrismaService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.resyncLogged('start');
    this.bus.redis.on('ready', this.onRedisReady);
    this.timer = setInterval(() => void this.resyncLogged('periodic'), RESYNC_INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.bus.redis.off('ready', this.onRedisReady);
  }

  /** Makes a new token usable on every gateway. Throws MirrorUnavailableError when Redis cannot be written. */
  async put(secretHash: string, entry: EnrollmentTokenMirror): Promise<void> {
    await this.write('store the token', () =>
      this.bus.redis.hset(RedisKeys.enrollmentTokens, secretHash, encodeEnrollmentTokenMirror(entry)),
    );
  }

  /**
   * Removes a revoked token, then tells the gateways so they close the connections it admitted
   * (in this order: a gateway that looks the token up after the announcement no longer finds it).
   */
  async revoke(secretHash: string, id: string): Promise<void> {
    await this.write('tell the gateways', async () => {
      await this.bus.redis.hdel(RedisKeys.enrollmentTokens, secretHash);
      await this.bus.redis.publish(RedisKeys.enrollmentTokenRevoked, id);
    });
  }

  /** Brings the hash in line with Postgres (see the header comment). One resync at a time per process. */
  resync(): Promise<ResyncResult> {
    this.running ??= this.doResync().finally(() => (this.running = undefined));
    return this.running;
  }

  private resyncLogged(why: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.resync().then(
      (r) => {
        if (r.written > 0) {
          // Nothing is missing in steady state: written entries mean Redis lost data (or a write failed).
          this.logger.warn(`${why}: restored ${r.written} enrollment token(s) missing from Redis`);
        }
        if (r.removed > 0) {
          this.logger.log(
            `${why}: removed ${r.removed} unusable enrollment token(s) from Redis (${r.announced} revocations announced)`,
          );
        }
      },
      (err: Error) => this.logger.warn(`${why}: enrollment token resync failed: ${err.message}`),
    );
  }

  private async doResync(): Promise<ResyncResult> {
    const redis = this.bus.redis;
    // The hash first, Postgres second: a token created in between (row, then HSET) is either in
    // both reads or only in Postgres, so it is never taken for a stale entry and removed.
    const before = await redis.hgetall(RedisKeys.enrollmentTokens);
    const now = Date.now();
    const rows: TokenRow[] = await this.prisma.enrollmentToken.findMany({
      where: { revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date(now) } }] },
      select: { id: true, secretHash: true, labels: true, expiresAt: true },
    });
    const usable = new Map(rows.map((r) => [r.secretHash, encodeEnrollmentTokenMirror(mirrorEntryOf(r))]));

    const toWrite: string[] = [];
    const added: string[] = [];
    for (const [hash, value] of usable) {
      if (before[hash] === value) continue;
      toWrite.push(hash, value);
      if (before[hash] === undefined) added.push(hash);
    }
    const toRemove: string[] = [];
    const announce: string[] = [];
    for (const [hash, value] of Object.entries(before)) {
      if (usable.has(hash)) continue;
      toRemove.push(hash);
      const entry = parseEnrollmentTokenMirror(value);
      // Not usable although its own expiry has not passed: revoked (or deleted). Announce it again
      // in case a gateway missed the first announcement (or the revoke could not publish).
      if (entry && (entry.expiresAtMs === null || entry.expiresAtMs > now)) announce.push(entry.id);
    }
    if (toWrite.length > 0) await redis.hset(RedisKeys.enrollmentTokens, ...toWrite);
    if (toRemove.length > 0) await redis.hdel(RedisKeys.enrollmentTokens, ...toRemove);
    for (const id of announce) await redis.publish(RedisKeys.enrollmentTokenRevoked, id);

    // A token revoked while this resync ran (after the Postgres read) may just have been written
    // back: check the entries this resync added and take the revoked ones out again.
    if (added.length > 0) {
      const revoked = await this.prisma.enrollmentToken.findMany({
        where: { secretHash: { in: added }, NOT: { revokedAt: null } },
        select: { id: true, secretHash: true },
      });
      for (const r of revoked) {
        await redis.hdel(RedisKeys.enrollmentTokens, r.secretHash);
        await redis.publish(RedisKeys.enrollmentTokenRevoked, r.id);
      }
    }
    return { written: toWrite.length / 2, removed: toRemove.length, announced: announce.length };
  }

  private async write(what: string, fn: () => Promise<unknown>): Promise<void> {
    if (!isRedisReady(this.bus.redis)) throw new MirrorUnavailableError(`Redis is not reachable: cannot ${what}`);
    let failure: Error | undefined;
    const done = await withDeadline(
      fn().then(
        () => true,
        (err: Error) => {
          failure = err;
          return false;
        },
      ),
      WRITE_DEADLINE_MS,
    );
    if (done !== true) {
      throw new MirrorUnavailableError(
        failure
          ? `Redis refused the write (${failure.message}): cannot ${what}`
          : `Redis did not answer: cannot ${what}`,
      );
    }
  }
}
