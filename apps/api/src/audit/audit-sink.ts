// Where the GraphQL mutations write their audit entries (one per mutation field, like one per
// REST mutation). Bound to the audit log (AuditService) in app.module.ts; an interface of its own
// so the GraphQL layer depends on this shape only.
import type { Principal } from '../auth/roles.js';

/** Nest injection token of the AuditSink. */
export const AUDIT_SINK = Symbol('AUDIT_SINK');

export interface AuditSinkEntry {
  principal: Principal;
  /** What was done, e.g. "rollouts.create". */
  action: string;
  /** What kind of resource it was done to, e.g. "rollout". */
  resourceType: string;
  resourceId?: string;
  interface: 'graphql';
  /** The endpoint (/graphql) the operation came through. */
  path?: string;
  sourceIp?: string;
  userAgent?: string;
  /** denied: the caller's role is too low. */
  outcome: 'success' | 'failure' | 'denied';
  /** The HTTP status the same outcome has over REST (200, 403, 404, 409, …). */
  status?: number;
  /** The GraphQL field and operation, and the error message of a failure. */
  detail?: Record<string, unknown>;
}

export interface AuditSink {
  record(entry: AuditSinkEntry): Promise<void>;
}
