// Who may send GraphQL operations: the same authentication (API keys, OIDC) and per-principal
// rate limit as every REST route, applied to each POST /graphql and each graphql-ws operation
// (GraphQL does not pass through the REST guard: it checks roles per field instead).
import { Inject, Injectable } from '@nestjs/common';
import { AUTHENTICATOR, type Authenticator } from '../auth/authenticator.js';
import { RateLimiter, type RateDecision } from '../auth/rate-limiter.js';
import type { Principal } from '../auth/roles.js';

export interface Admitted {
  principal: Principal;
  rate: RateDecision;
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
    const rate = await this.limiter.admit(principal);
    return { principal, rate };
  }
}
