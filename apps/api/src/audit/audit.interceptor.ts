// Writes an audit entry for every REST mutation (non-GET) after the handler finished, before the
// response goes out: success with the status, or failure with the error's status and detail.
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { catchError, from, mergeMap, throwError, type Observable } from 'rxjs';
import { restAuditEntry, SAFE_METHODS } from './rest-audit.js';
import type { AuthedRequest } from '../auth/principal.decorator.js';
import { AUDIT_METADATA, type AuditSpec } from '../auth/roles.js';
import { ProblemException } from '../common/problem.js';
import { AuditService, summarizeBody, type AuditEntry } from './audit.service.js';

/** The id of what a create returned, for routes whose id is not in the path. */
function resourceIdFromBody(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as Record<string, unknown>;
  for (const k of ['id', 'uid', 'name', 'bulkId', 'commandId']) if (typeof b[k] === 'string') return b[k] as string;
  return null;
}

function statusOf(err: unknown): number {
  if (err instanceof ProblemException) return err.status;
  const s = (err as { getStatus?: () => number }).getStatus?.();
  return typeof s === 'number' ? s : 500;
}

@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly audit: AuditService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<AuthedRequest>();
    if (SAFE_METHODS.has(req.method)) return next.handle();
    const res = context.switchToHttp().getResponse<Response>();
    const handler = context.getHandler();
    const spec = this.reflector.get<AuditSpec | undefined>(AUDIT_METADATA, handler);
    const declaredCode = this.reflector.get<number | undefined>(HTTP_CODE_METADATA, handler);
    const base = (): Omit<AuditEntry, 'outcome'> => restAuditEntry(context, req, spec);
    const query = Object.keys(req.query ?? {}).length > 0 ? { query: req.query } : {};
    const body =
      req.body !== undefined && Object.keys(req.body ?? {}).length > 0 ? { body: summarizeBody(req.body) } : {};
    return next.handle().pipe(
      mergeMap(async (result: unknown) => {
        const entry = base();
        const status = res.statusCode !== 200 ? res.statusCode : (declaredCode ?? (req.method === 'POST' ? 201 : 200));
        await this.audit.record({
          ...entry,
          resourceId: entry.resourceId ?? resourceIdFromBody(result),
          outcome: 'success',
          status,
          detail: { ...query, ...body },
        });
        return result;
      }),
      catchError((err: unknown) =>
        from(
          this.audit.record({
            ...base(),
            outcome: 'failure',
            status: statusOf(err),
            detail: { ...query, ...body, error: err instanceof Error ? err.message.slice(0, 1000) : String(err) },
          }),
        ).pipe(mergeMap(() => throwError(() => err))),
      ),
    );
  }
}
