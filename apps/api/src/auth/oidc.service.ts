// People sign in with an OIDC provider and call the API with its JWT. We verify signature (JWKS),
// issuer, audience and expiry with `jose`, and map a claim to one of our roles.
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { API_CONFIG, type ApiConfig } from '../api.config.js';
import { ROLE_RANK, isRole, type Principal, type Role } from './roles.js';

export type OidcResult = { ok: true; principal: Principal } | { ok: false; status: 401 | 403 | 503; reason: string };

/** `a=admin,b=operator` → Map; throws on a bad entry (checked at start). */
export function parseRoleMap(text: string): Map<string, Role> {
  const map = new Map<string, Role>();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.lastIndexOf('=');
    const value = part.slice(0, eq).trim();
    const role = part.slice(eq + 1).trim();
    if (eq <= 0 || !value || !isRole(role)) {
      throw new Error(`OIDC_ROLE_MAP entry "${part}" must be <claim value>=<viewer|operator|admin>`);
    }
    map.set(value, role);
  }
  return map;
}

/** The claim at a dotted path (`realm_access.roles`) as a list of strings. */
export function claimValues(payload: JWTPayload, path: string): string[] {
  let v: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null) return [];
    v = (v as Record<string, unknown>)[part];
  }
  if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/** Highest role among the claim values (mapped, or equal to a role name); the default otherwise. */
export function roleFromClaims(values: string[], map: Map<string, Role>, fallback: Role | undefined): Role | undefined {
  let best: Role | undefined;
  for (const v of values) {
    const r = map.get(v) ?? (isRole(v) ? v : undefined);
    if (r && (best === undefined || ROLE_RANK[r] > ROLE_RANK[best])) best = r;
  }
  return best ?? fallback;
}

/** A compact JWS: three base64url parts. API keys never look like this. */
export const looksLikeJwt = (token: string): boolean => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);

@Injectable()
export class OidcService {
  private readonly logger = new Logger('Oidc');
  private readonly roleMap: Map<string, Role>;
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  private jwksLoading: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {
    this.roleMap = parseRoleMap(config.OIDC_ROLE_MAP);
  }

  get enabled(): boolean {
    return Boolean(this.config.OIDC_ISSUER);
  }

  async verify(token: string): Promise<OidcResult> {
    let jwks;
    try {
      jwks = await this.keySet();
    } catch (err) {
      this.logger.warn(`OIDC discovery failed: ${(err as Error).message}`);
      return { ok: false, status: 503, reason: 'the identity provider could not be reached to verify the token' };
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: this.config.OIDC_ISSUER,
        audience: this.config.OIDC_AUDIENCE,
        clockTolerance: 30,
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { ok: false, status: 401, reason: 'the token has expired' };
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        return { ok: false, status: 401, reason: `the token's "${err.claim}" claim is not accepted (${err.reason})` };
      }
      if (err instanceof joseErrors.JWKSTimeout || (err as { code?: string }).code === 'ERR_JOSE_GENERIC') {
        this.logger.warn(`JWKS fetch failed: ${(err as Error).message}`);
      }
      return { ok: false, status: 401, reason: 'the token is not a valid JWT from the configured issuer' };
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      return { ok: false, status: 401, reason: 'the token has no subject (sub)' };
    }
    const values = claimValues(payload, this.config.OIDC_ROLES_CLAIM);
    const role = roleFromClaims(values, this.roleMap, this.config.OIDC_DEFAULT_ROLE as Role | undefined);
    if (!role) {
      return {
        ok: false,
        status: 403,
        reason: `the token's "${this.config.OIDC_ROLES_CLAIM}" claim (${values.join(', ') || 'empty'}) maps to no role`,
      };
    }
    const name =
      [payload.email, payload.preferred_username, payload.name].find((v): v is string => typeof v === 'string') ??
      payload.sub;
    return {
      ok: true,
      principal: {
        id: `user:${payload.sub}`,
        type: 'user',
        name,
        role,
        rateLimitPerMinute: this.config.API_RATE_LIMIT_PER_MINUTE,
      },
    };
  }

  private async keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.jwks) return this.jwks;
    this.jwksLoading ??= this.discover()
      .then((url) => {
        this.jwks = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000 });
        return this.jwks;
      })
      .finally(() => {
        this.jwksLoading = undefined;
      });
    return this.jwksLoading;
  }

  private async discover(): Promise<string> {
    if (this.config.OIDC_JWKS_URL) return this.config.OIDC_JWKS_URL;
    const issuer = this.config.OIDC_ISSUER!.replace(/\/$/, '');
    const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`${issuer}/.well-known/openid-configuration answered ${res.status}`);
    const doc = (await res.json()) as { jwks_uri?: unknown };
    if (typeof doc.jwks_uri !== 'string') throw new Error('the discovery document has no jwks_uri');
    return doc.jwks_uri;
  }
}
