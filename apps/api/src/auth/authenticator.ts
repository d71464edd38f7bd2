// Turning credentials into a Principal for the front doors the REST guard does not cover: GraphQL
// over HTTP, the graphql-ws `connection_init` payload, and the periodic re-check of long-lived
// streams. Bound to AuthService (API keys, OIDC) in app.module.ts.
import type { Request } from 'express';
import { ProblemException, ProblemType } from '../common/problem.js';
import { roleAllows, type Principal, type Role } from './roles.js';

/** Nest injection token of the Authenticator. */
export const AUTHENTICATOR = Symbol('AUTHENTICATOR');

export interface Authenticator {
  /**
   * The caller behind an `Authorization` header value ("Bearer <API key or OIDC JWT>"). Throws a
   * ProblemException with status 401 when the header is missing, malformed, unknown, revoked or
   * expired; `ip` is the caller's address.
   */
  authenticate(authorizationHeader: string | undefined, ip?: string): Promise<Principal>;
}

export function forbidden(principal: Principal, need: Role, what: string): ProblemException {
  return new ProblemException({
    type: ProblemType.forbidden,
    title: 'Insufficient role',
    status: 403,
    detail: `${what} needs the ${need} role; ${principal.type === 'api_key' ? 'this API key' : principal.name} has ${principal.role}.`,
  });
}

/** Throws 403 unless `principal` has `need` or a higher role. */
export function requireRole(principal: Principal, need: Role, what: string): void {
  if (!roleAllows(principal.role, need)) throw forbidden(principal, need, what);
}

/**
 * The caller of an HTTP request: the Principal the global guard put on the request, or (a
 * request the guard did not see) the one the Authenticator finds for its Authorization header.
 */
export async function principalOf(req: Request, auth: Authenticator): Promise<Principal> {
  const known = (req as Request & { principal?: Principal }).principal;
  return known ?? auth.authenticate(req.headers.authorization, req.ip);
}
