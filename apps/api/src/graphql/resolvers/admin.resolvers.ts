// Enrollment tokens, API keys and the audit log.
import { AUDIT_EVENT_FIELDS, type AuditEventView } from '../../audit/audit.service.js';
import { parseCreateApiKeyBody, type ApiKeyView } from '../../auth/api-keys.service.js';
import type { Page } from '../../common/pagination.js';
import {
  parseCreateEnrollmentTokenBody,
  parseListEnrollmentTokensQuery,
} from '../../enrollment/enrollment-tokens.query.js';
import type { EnrollmentTokenView } from '../../enrollment/enrollment-tokens.service.js';
import { objectType, restBody, restQuery, type FieldResolver, type ObjectResolvers } from '../resolver-types.js';
import type { ResolverDeps } from './deps.js';

export function adminQueries(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    enrollmentTokens: (_s, a) => d.enrollmentTokens.list(parseListEnrollmentTokensQuery(restQuery(a))),
    enrollmentToken: (_s, a) => d.enrollmentTokens.get(String(a.id)),
    apiKeys: (_s, a) => d.apiKeys.list(restQuery(a)),
    apiKey: (_s, a) => d.apiKeys.get(String(a.id)),
    auditEvents: (_s, a) => d.audit.list(restQuery(a)),
  };
}

export function adminMutations(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    createEnrollmentToken: (_s, a, ctx) =>
      d.enrollmentTokens.create(parseCreateEnrollmentTokenBody(restBody(a.input)), ctx.principal),
    revokeEnrollmentToken: (_s, a, ctx) => d.enrollmentTokens.revoke(String(a.id), ctx.principal),
    createApiKey: (_s, a, ctx) => d.apiKeys.create(parseCreateApiKeyBody(restBody(a.input)), ctx.principal),
    revokeApiKey: (_s, a, ctx) => d.apiKeys.revoke(String(a.id), ctx.principal),
  };
}

const TOKEN_FIELDS = [
  'id',
  'name',
  'prefix',
  'labels',
  'createdAt',
  'createdBy',
  'expiresAt',
  'revokedAt',
  'revokedBy',
  'status',
] as const;

const KEY_FIELDS = [
  'id',
  'name',
  'role',
  'prefix',
  'bootstrap',
  'rateLimitPerMinute',
  'createdAt',
  'createdBy',
  'expiresAt',
  'revokedAt',
  'revokedBy',
  'lastUsedAt',
  'status',
] as const;

export const adminTypes: Record<string, ObjectResolvers> = {
  EnrollmentToken: objectType<EnrollmentTokenView>(TOKEN_FIELDS),
  EnrollmentTokenConnection: objectType<Page<EnrollmentTokenView>>(['items', 'nextCursor']),
  CreatedEnrollmentToken: objectType<EnrollmentTokenView & { token: string }>([...TOKEN_FIELDS, 'token']),
  ApiKey: objectType<ApiKeyView>(KEY_FIELDS),
  ApiKeyConnection: objectType<Page<ApiKeyView>>(['items', 'nextCursor']),
  CreatedApiKey: objectType<ApiKeyView & { key: string }>([...KEY_FIELDS, 'key']),
  AuditEvent: objectType<AuditEventView>(AUDIT_EVENT_FIELDS),
  AuditEventConnection: objectType<Page<AuditEventView>>(['items', 'nextCursor']),
};
