// Turns an `Authorization` header into a Principal: an API key (`opk_…`, or the bootstrap key)
// or, when OIDC is configured, a JWT from the issuer. REST (the guard), GraphQL over HTTP and
// graphql-ws all authenticate through here.
import { Injectable } from '@nestjs/common';
import { counter } from '@opamp/telemetry';
import { ProblemException, ProblemType } from '../common/problem.js';
import { ApiKeysService } from './api-keys.service.js';
import { OidcService, looksLikeJwt } from './oidc.service.js';
import type { Principal } from './roles.js';
import { bearerToken } from './secrets.js';

export const WWW_AUTHENTICATE = 'Bearer realm="opamp-api"';

const authFailures = counter('opamp_api_auth_failures_total', 'Requests refused by authentication (401)', ['reason']);

export function unauthenticated(detail: string, reason: string): ProblemException {
  authFailures.inc({ reason });
  return new ProblemException(
    { type: ProblemType.unauthenticated, title: 'Authentication required', status: 401, detail },
    { 'WWW-Authenticate': WWW_AUTHENTICATE },
  );
}

@Injectable()
export class AuthService {
  constructor(
    private readonly keys: ApiKeysService,
    private readonly oidc: OidcService,
  ) {}

  /** The caller, or a 401 (403 when a person's token maps to no role; 503 when the IdP is down). */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    const token = bearerToken(authorization);
    if (!token) {
      throw unauthenticated(
        authorization === undefined
          ? 'Send an API key (or an OIDC token) as "Authorization: Bearer <token>".'
          : 'The Authorization header must be "Bearer <token>".',
        authorization === undefined ? 'missing' : 'malformed',
      );
    }
    if (this.oidc.enabled && looksLikeJwt(token)) {
      const result = await this.oidc.verify(token);
      if (result.ok) return result.principal;
      if (result.status === 401) throw unauthenticated(`OIDC token refused: ${result.reason}.`, 'oidc');
      if (result.status === 503) {
        throw new ProblemException(
          {
            type: ProblemType.unavailable,
            title: 'Identity provider unavailable',
            status: 503,
            detail: `OIDC token not verified: ${result.reason}.`,
          },
          { 'Retry-After': '5' },
        );
      }
      throw new ProblemException({
        type: ProblemType.forbidden,
        title: 'No role',
        status: 403,
        detail: `OIDC token accepted but ${result.reason}; ask an admin to map it (OIDC_ROLE_MAP).`,
      });
    }
    const principal = await this.keys.verify(token);
    if (!principal) throw unauthenticated('The API key is unknown, revoked or expired.', 'invalid_key');
    return principal;
  }
}
