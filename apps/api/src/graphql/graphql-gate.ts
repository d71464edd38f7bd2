// Who may send GraphQL operations: the same authentication (API keys, OIDC) and per-principal
// rate limit as every REST route, applied to each POST /graphql and each graphql-ws operation
// (GraphQL does not pass through the REST guard: it checks roles per field instead).
import { Inject, Injectable } from '@nestjs/common';
import { AUTHENTICATOR, type Authenticator } from '../auth/authenticator.js';
import { RateLimiter, type RateDecision } from '../auth/rate-limiter.js';
import type { Principal } from '../auth/roles.js';
import { ProblemException, ProblemType } from '../common/problem.js';

export interface Admitted {
  principal: Principal;
  rate: RateDecision;
}

/** RateLimit-* headers of a decision (none when the principal has no limit). */
export function rateHeaders(rate: RateDecision): Record<string, string> {
  if (rate.limit <= 0) return {};
  return {
    'RateLimit-Limit': String(rate.limit),
    'RateLimit-Remaining': String(rate.remaining),
    'RateLimit-Reset': String(rate.resetSeconds),
  };
}

@Injectable()
export class GraphqlGate {
  constructor(
    @Inject(AUTHENTICATOR) private readonly auth: Authenticator,
    private readonly limiter: RateLimiter,
  ) {}

  /** The caller, counted against its rate limit; throws 401 / 429 (and 403 / 503 of OIDC) problems. */
  async admit(authorization: string | undefined, ip: string | undefined): Promise<Admitted> {
    const principal = await this.auth.authenticate(authorization, ip);
    const rate = await this.limiter.check(principal.id, principal.type, principal.rateLimitPerMinute);
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
    return { principal, rate };
  }
}
