// The audit entry of a REST request: who, what and from where, shared by the audit interceptor
// (handled mutations) and the auth guard (denied ones).
import type { ExecutionContext } from '@nestjs/common';
import type { AuthedRequest } from '../auth/principal.decorator.js';
import type { AuditSpec } from '../auth/roles.js';
import type { AuditEntry } from './audit.service.js';

/** Methods that change nothing: never audited. */
export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The audited resource's id from the route parameters (named by the spec, else the first). */
export function resourceIdFromParams(
  params: Record<string, string | string[]> | undefined,
  spec: AuditSpec | undefined,
): string | null {
  if (!params) return null;
  const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join('/') : v);
  const names = spec?.resourceParam === undefined ? undefined : ([] as string[]).concat(spec.resourceParam);
  if (!names) return one(Object.values(params)[0]) ?? null;
  const parts = names.map((n) => one(params[n]));
  return parts.every((p) => p !== undefined) ? parts.join('/') : null;
}

/**
 * Who, what and from where of a REST request, as the audit log records it (the interceptor for
 * handled mutations, the guard for denied ones).
 */
export function restAuditEntry(
  context: ExecutionContext,
  req: AuthedRequest,
  spec: AuditSpec | undefined,
): Omit<AuditEntry, 'outcome'> {
  return {
    principal: req.principal,
    action: spec?.action ?? `${context.getClass().name}.${context.getHandler().name}`,
    resourceType: spec?.resourceType ?? null,
    resourceId: resourceIdFromParams(req.params, spec),
    interface: 'rest',
    method: req.method,
    path: req.originalUrl.split('?')[0],
    sourceIp: req.ip ?? null,
    userAgent: req.headers['user-agent'] ?? null,
  };
}
