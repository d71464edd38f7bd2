// The global guard of every REST route: authenticate (401), authorise by role (403, fail closed:
// a route without @RequireRole or @Public needs admin), rate-limit per principal (429).
import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { HealthController } from '@opamp/telemetry';
import { restAuditEntry, SAFE_METHODS } from '../audit/rest-audit.js';
import { AuditService } from '../audit/audit.service.js';
import { ProblemException, ProblemType } from '../common/problem.js';
import { AuthService } from './auth.service.js';
import type { AuthedRequest } from './principal.decorator.js';
import { RateLimiter } from './rate-limiter.js';
import { AUDIT_METADATA, PUBLIC_METADATA, ROLE_METADATA, roleAllows, type AuditSpec, type Role } from './roles.js';

/** Controllers outside this app (libs) whose routes are public: /healthz, /readyz, /metrics. */
const PUBLIC_CONTROLLERS = new Set<unknown>([HealthController]);

/** The role a handler needs: its own, its controller's, else admin (fail closed). */
export function requiredRole(reflector: Reflector, context: ExecutionContext): Role | 'public' {
  const targets = [context.getHandler(), context.getClass()];
  if (PUBLIC_CONTROLLERS.has(context.getClass())) return 'public';
  if (reflector.getAllAndOverride<boolean>(PUBLIC_METADATA, targets)) return 'public';
  return reflector.getAllAndOverride<Role>(ROLE_METADATA, targets) ?? 'admin';
}

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    private readonly limiter: RateLimiter,
    private readonly audit: AuditService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const need = requiredRole(this.reflector, context);
    if (need === 'public') return true;
    const req = context.switchToHttp().getRequest<AuthedRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const principal = await this.auth.authenticate(req.headers.authorization);

    if (!roleAllows(principal.role, need)) {
      if (!SAFE_METHODS.has(req.method)) {
        req.principal = principal;
        const spec = this.reflector.get<AuditSpec | undefined>(AUDIT_METADATA, context.getHandler());
        await this.audit.record({
          ...restAuditEntry(context, req, spec),
          outcome: 'denied',
          status: 403,
          detail: { reason: `needs role ${need}` },
        });
      }
      throw new ProblemException({
        type: ProblemType.forbidden,
        title: 'Insufficient role',
        status: 403,
        detail: `${req.method} ${req.route?.path ?? req.path} needs the ${need} role; ${principal.type === 'api_key' ? 'this API key' : principal.name} has ${principal.role}.`,
      });
    }

    const rate = await this.limiter.check(principal.id, principal.type, principal.rateLimitPerMinute);
    if (rate.limit > 0) {
      res.setHeader('RateLimit-Limit', String(rate.limit));
      res.setHeader('RateLimit-Remaining', String(rate.remaining));
      res.setHeader('RateLimit-Reset', String(rate.resetSeconds));
    }
    if (!rate.allowed) {
      throw new ProblemException(
        {
          type: ProblemType.rateLimited,
          title: 'Rate limit exceeded',
          status: 429,
          detail: `${rate.limit} requests per minute are allowed for this ${principal.type === 'api_key' ? 'API key' : 'person'}; retry in ${rate.resetSeconds} s.`,
        },
        { 'Retry-After': String(rate.resetSeconds) },
      );
    }
    req.principal = principal;
    return true;
  }
}
