// The global guard of every REST route: authenticate (401), authorise by role (403, fail closed:
// a route without @RequireRole or @Public needs admin), rate-limit per principal (429).
import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { restAuditEntry, SAFE_METHODS } from '../audit/rest-audit.js';
import { AuditService } from '../audit/audit.service.js';
import { ProblemException, ProblemType } from '../common/problem.js';
import { AuthService } from './auth.service.js';
import type { AuthedRequest } from './principal.decorator.js';
import { RateLimiter, rateHeaders } from './rate-limiter.js';
import { AUDIT_METADATA, roleAllows, routeRole, type AuditSpec } from './roles.js';

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
    const need = routeRole(context.getHandler(), context.getClass()).role;
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

    const rate = await this.limiter.admit(principal);
    for (const [name, value] of Object.entries(rateHeaders(rate))) res.setHeader(name, value);
    req.principal = principal;
    return true;
  }
}
