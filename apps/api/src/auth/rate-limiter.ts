// Per-principal request limit shared by every api replica: a counter per principal per minute
// in Redis (INCR + PEXPIRE in one round trip). Fixed windows let a client send up to twice the
// limit across a window boundary; that is acceptable for a protective limit and keeps the check
// to one Redis call. When Redis is unreachable requests are let through (the limit protects the
// service; refusing every call because of it would turn a Redis blip into an outage).
import { Injectable, Logger } from '@nestjs/common';
import { RedisKeys } from '@opamp/bus';
import { counter } from '@opamp/telemetry';
import { ProblemException, ProblemType } from '../common/problem.js';
import { BusService } from '../redis/bus.service.js';
import type { Principal } from './roles.js';

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

const WINDOW_MS = 60_000;

/** RateLimit-* headers of a decision (none when the principal has no limit). */
export function rateHeaders(rate: RateDecision): Record<string, string> {
  if (rate.limit <= 0) return {};
  return {
    'RateLimit-Limit': String(rate.limit),
    'RateLimit-Remaining': String(rate.remaining),
    'RateLimit-Reset': String(rate.resetSeconds),
  };
}

const rateLimited = counter('opamp_api_rate_limited_total', 'Requests refused with 429 by the per-key rate limit', [
  'principal_type',
]);

@Injectable()
export class RateLimiter {
  private readonly logger = new Logger('RateLimiter');
  private warnedAt = 0;

  constructor(private readonly bus: BusService) {}

  /**
   * Counts one request of `principal`; over its limit, throws the 429 problem (RateLimit-* and
   * Retry-After headers). REST (the guard) and GraphQL (its gate) both admit requests here.
   */
  async admit(principal: Principal): Promise<RateDecision> {
    const rate = await this.check(principal.id, principal.type, principal.rateLimitPerMinute);
    if (!rate.allowed) {
      throw new ProblemException(
        {
          type: ProblemType.rateLimited,
          title: 'Rate limit exceeded',
          status: 429,
          detail: `${rate.limit} requests per minute are allowed for this ${principal.type === 'api_key' ? 'API key' : 'person'}; retry in ${rate.resetSeconds} s.`,
        },
        { ...rateHeaders(rate), 'Retry-After': String(rate.resetSeconds) },
      );
    }
    return rate;
  }

  async check(principalId: string, principalType: string, limit: number, nowMs = Date.now()): Promise<RateDecision> {
    const window = Math.floor(nowMs / WINDOW_MS);
    const resetSeconds = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - nowMs) / 1000));
    if (limit <= 0) return { allowed: true, limit: 0, remaining: 0, resetSeconds };
    const key = RedisKeys.rateLimit(principalId, window);
    let count: number;
    try {
      const results = await this.bus.redis
        .multi()
        .incr(key)
        .pexpire(key, WINDOW_MS * 2)
        .exec();
      count = Number(results?.[0]?.[1] ?? 0);
    } catch (err) {
      if (nowMs - this.warnedAt > 30_000) {
        this.warnedAt = nowMs;
        this.logger.warn(`rate limit not checked (Redis): ${(err as Error).message}`);
      }
      return { allowed: true, limit, remaining: limit, resetSeconds };
    }
    const allowed = count <= limit;
    if (!allowed) rateLimited.inc({ principal_type: principalType });
    return { allowed, limit, remaining: Math.max(0, limit - count), resetSeconds };
  }
}
