// API keys: create (shown once), list, get, revoke; verification with a short per-process cache;
// the first admin key from OPAMP_ADMIN_API_KEY.
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { PrismaService } from '@opamp/database';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { API_CONFIG, type ApiConfig } from '../api.config.js';
import { ProblemException, ProblemType, validationProblem, type InvalidParam } from '../common/problem.js';
import {
  decodeCursor,
  encodeCursor,
  parseLimit,
  queryFingerprint,
  singleParam,
  type Page,
} from '../common/pagination.js';
import { isRole, ROLES, type Principal, type Role } from './roles.js';
import { credentialStatus, displayPrefix, newSecret, secretDigest } from './secrets.js';

export interface ApiKeyView {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  bootstrap: boolean;
  rateLimitPerMinute: number | null;
  createdAt: string;
  createdBy: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
  lastUsedAt: string | null;
  /** active | expired | revoked */
  status: 'active' | 'expired' | 'revoked';
}

export interface CreateApiKeyInput {
  name: string;
  role: Role;
  expiresAt: Date | null;
  rateLimitPerMinute: number | null;
}

interface ApiKeyRow {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  bootstrap: boolean;
  rateLimitPerMinute: number | null;
  createdAt: Date;
  createdBy: string | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  lastUsedAt: Date | null;
}

interface CacheEntry {
  principal: Principal | null;
  expiresAtMs: number;
  keyExpiresAtMs: number | null;
}

const CACHE_MAX = 10_000;
/** last_used_at is written at most this often per key. */
const LAST_USED_WRITE_MS = 60_000;

export const apiKeyNotFound = (id: string): ProblemException =>
  new ProblemException({
    type: ProblemType.notFound,
    title: 'API key not found',
    status: 404,
    detail: `There is no API key with id ${id}.`,
  });

function view(row: ApiKeyRow, nowMs = Date.now()): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    prefix: row.prefix,
    bootstrap: row.bootstrap,
    rateLimitPerMinute: row.rateLimitPerMinute,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    revokedBy: row.revokedBy,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    status: credentialStatus(row.revokedAt, row.expiresAt, nowMs),
  };
}

const SELECT = {
  id: true,
  name: true,
  role: true,
  prefix: true,
  bootstrap: true,
  rateLimitPerMinute: true,
  createdAt: true,
  createdBy: true,
  expiresAt: true,
  revokedAt: true,
  revokedBy: true,
  lastUsedAt: true,
} as const;

@Injectable()
export class ApiKeysService implements OnApplicationBootstrap {
  private readonly logger = new Logger('ApiKeys');
  private readonly cache = new Map<string, CacheEntry>();
  private readonly lastUsedWrittenAt = new Map<string, number>();

  constructor(
    private readonly prisma: PrismaService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  /** Stores OPAMP_ADMIN_API_KEY as the bootstrap admin key; a different earlier one is revoked. */
  async onApplicationBootstrap(): Promise<void> {
    const key = this.config.OPAMP_ADMIN_API_KEY;
    if (!key) {
      const admins = await this.prisma.apiKey.count({ where: { role: 'admin', revokedAt: null } });
      if (admins === 0) {
        this.logger.warn('no admin API key exists and OPAMP_ADMIN_API_KEY is unset: nobody can manage keys');
      }
      return;
    }
    const hash = secretDigest(key);
    await this.prisma.$transaction(async (tx) => {
      const existing = await tx.apiKey.findUnique({ where: { secretHash: hash } });
      await tx.apiKey.updateMany({
        where: { bootstrap: true, revokedAt: null, NOT: { secretHash: hash } },
        data: { revokedAt: new Date(), revokedBy: 'system:OPAMP_ADMIN_API_KEY changed' },
      });
      if (!existing) {
        await tx.apiKey.create({
          data: {
            id: uidToString(uuidv7()),
            name: 'bootstrap admin (OPAMP_ADMIN_API_KEY)',
            role: 'admin',
            secretHash: hash,
            prefix: displayPrefix(key),
            bootstrap: true,
            createdBy: 'system:OPAMP_ADMIN_API_KEY',
          },
        });
        this.logger.log(`bootstrap admin key ${displayPrefix(key)}… stored`);
      } else if (existing.revokedAt) {
        this.logger.warn(`OPAMP_ADMIN_API_KEY (${displayPrefix(key)}…) was revoked; it stays revoked`);
      }
    });
  }

  /** The principal of an API key, or null when it is unknown, revoked or expired. */
  async verify(secret: string): Promise<Principal | null> {
    const hash = secretDigest(secret);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAtMs > now && (cached.keyExpiresAtMs === null || cached.keyExpiresAtMs > now)) {
      if (cached.principal) this.touch(cached.principal, now);
      return cached.principal;
    }
    const row = await this.prisma.apiKey.findUnique({ where: { secretHash: hash }, select: SELECT });
    const usable = row !== null && row.revokedAt === null && (row.expiresAt === null || row.expiresAt.getTime() > now);
    const principal: Principal | null = usable
      ? {
          id: `key:${row.id}`,
          type: 'api_key',
          name: row.name,
          role: row.role,
          rateLimitPerMinute: row.rateLimitPerMinute ?? this.config.API_RATE_LIMIT_PER_MINUTE,
        }
      : null;
    if (this.config.API_AUTH_CACHE_MS > 0) {
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(hash, {
        principal,
        expiresAtMs: now + this.config.API_AUTH_CACHE_MS,
        keyExpiresAtMs: row?.expiresAt?.getTime() ?? null,
      });
    }
    if (principal) this.touch(principal, now);
    return principal;
  }

  async create(input: CreateApiKeyInput, by: Principal | undefined): Promise<ApiKeyView & { key: string }> {
    const key = newSecret('opk');
    const row = await this.prisma.apiKey.create({
      data: {
        id: uidToString(uuidv7()),
        name: input.name,
        role: input.role,
        secretHash: secretDigest(key),
        prefix: displayPrefix(key),
        rateLimitPerMinute: input.rateLimitPerMinute,
        expiresAt: input.expiresAt,
        createdBy: by?.id ?? null,
      },
      select: SELECT,
    });
    return { ...view(row as ApiKeyRow), key };
  }

  async list(query: Record<string, unknown>): Promise<Page<ApiKeyView>> {
    const unknown = Object.keys(query).filter((k) => !['limit', 'cursor', 'includeRevoked'].includes(k));
    if (unknown.length > 0) {
      throw validationProblem(
        unknown.map((k) => ({ name: k, reason: 'unknown parameter (allowed: limit, cursor, includeRevoked)' })),
      );
    }
    const limit = parseLimit(singleParam('limit', query.limit));
    const includeRevokedRaw = singleParam('includeRevoked', query.includeRevoked);
    if (includeRevokedRaw !== undefined && !['true', 'false'].includes(includeRevokedRaw)) {
      throw validationProblem([{ name: 'includeRevoked', reason: 'must be true or false' }]);
    }
    const includeRevoked = includeRevokedRaw === 'true';
    const fingerprint = queryFingerprint(['api-keys', includeRevoked]);
    const cursorRaw = singleParam('cursor', query.cursor);
    const after = cursorRaw ? decodeCursor(cursorRaw, fingerprint, isUuid) : undefined;
    const rows = await this.prisma.apiKey.findMany({
      where: { ...(includeRevoked ? {} : { revokedAt: null }), ...(after ? { id: { gt: after } } : {}) },
      orderBy: { id: 'asc' },
      take: limit + 1,
      select: SELECT,
    });
    const page = rows.slice(0, limit) as ApiKeyRow[];
    return {
      items: page.map((r) => view(r)),
      nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id, fingerprint) : null,
    };
  }

  async get(id: string): Promise<ApiKeyView> {
    if (!isUuid(id)) throw apiKeyNotFound(id);
    const row = await this.prisma.apiKey.findUnique({ where: { id }, select: SELECT });
    if (!row) throw apiKeyNotFound(id);
    return view(row as ApiKeyRow);
  }

  /** Revokes the key (idempotent). Takes effect on every api process within API_AUTH_CACHE_MS. */
  async revoke(id: string, by: Principal | undefined): Promise<ApiKeyView> {
    if (!isUuid(id)) throw apiKeyNotFound(id);
    await this.prisma.apiKey.updateMany({
      where: { id, revokedAt: null },
      data: { revokedAt: new Date(), revokedBy: by?.id ?? null },
    });
    // This process forgets the key at once; the others within API_AUTH_CACHE_MS.
    for (const [hash, entry] of this.cache) if (entry.principal?.id === `key:${id}`) this.cache.delete(hash);
    return this.get(id);
  }

  private touch(principal: Principal, now: number): void {
    const id = principal.id.slice('key:'.length);
    if ((this.lastUsedWrittenAt.get(id) ?? 0) + LAST_USED_WRITE_MS > now) return;
    this.lastUsedWrittenAt.set(id, now);
    if (this.lastUsedWrittenAt.size > CACHE_MAX) this.lastUsedWrittenAt.clear();
    this.prisma.apiKey
      .update({ where: { id }, data: { lastUsedAt: new Date(now) } })
      .catch((err: Error) => this.logger.debug(`last_used_at of ${id} not written: ${err.message}`));
  }
}

export const isUuid = (s: string): boolean => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s);

const MAX_NAME = 100;

/** Body of POST /api-keys: { name, role, expiresAt? | ttlSeconds?, rateLimitPerMinute? }. */
export function parseCreateApiKeyBody(body: unknown, nowMs = Date.now()): CreateApiKeyInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationProblem([
      { name: 'body', reason: 'must be a JSON object {"name": "...", "role": "viewer|operator|admin"}' },
    ]);
  }
  const b = body as Record<string, unknown>;
  const problems: InvalidParam[] = Object.keys(b)
    .filter((k) => !['name', 'role', 'expiresAt', 'ttlSeconds', 'rateLimitPerMinute'].includes(k))
    .map((k) => ({
      name: k,
      reason: 'unknown field (allowed: name, role, expiresAt, ttlSeconds, rateLimitPerMinute)',
    }));
  const name = typeof b.name === 'string' ? b.name.trim() : '';
  if (name.length === 0 || name.length > MAX_NAME) {
    problems.push({ name: 'name', reason: `is required: 1 to ${MAX_NAME} characters saying who or what uses the key` });
  }
  if (!isRole(b.role)) problems.push({ name: 'role', reason: `must be one of ${ROLES.join(', ')}` });
  const expiresAt = parseExpiry(b, nowMs, problems);
  let rateLimitPerMinute: number | null = null;
  if (b.rateLimitPerMinute !== undefined && b.rateLimitPerMinute !== null) {
    if (
      typeof b.rateLimitPerMinute !== 'number' ||
      !Number.isInteger(b.rateLimitPerMinute) ||
      b.rateLimitPerMinute < 1 ||
      b.rateLimitPerMinute > 1_000_000
    ) {
      problems.push({ name: 'rateLimitPerMinute', reason: 'must be an integer between 1 and 1000000' });
    } else {
      rateLimitPerMinute = b.rateLimitPerMinute;
    }
  }
  if (problems.length > 0) throw validationProblem(problems);
  return { name, role: b.role as Role, expiresAt, rateLimitPerMinute };
}

/** `expiresAt` (ISO 8601, in the future) or `ttlSeconds` (≥ 60), not both; null: never expires. */
export function parseExpiry(b: Record<string, unknown>, nowMs: number, problems: InvalidParam[]): Date | null {
  if (b.expiresAt !== undefined && b.ttlSeconds !== undefined) {
    problems.push({ name: 'expiresAt', reason: 'give either expiresAt or ttlSeconds, not both' });
    return null;
  }
  if (b.expiresAt !== undefined && b.expiresAt !== null) {
    const t = typeof b.expiresAt === 'string' ? Date.parse(b.expiresAt) : NaN;
    if (!Number.isFinite(t)) {
      problems.push({ name: 'expiresAt', reason: 'must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z' });
      return null;
    }
    if (t <= nowMs) {
      problems.push({ name: 'expiresAt', reason: 'must be in the future' });
      return null;
    }
    return new Date(t);
  }
  if (b.ttlSeconds !== undefined && b.ttlSeconds !== null) {
    if (
      typeof b.ttlSeconds !== 'number' ||
      !Number.isInteger(b.ttlSeconds) ||
      b.ttlSeconds < 60 ||
      b.ttlSeconds > 10 * 365 * 86_400
    ) {
      problems.push({
        name: 'ttlSeconds',
        reason: 'must be an integer number of seconds between 60 and 315360000 (10 years)',
      });
      return null;
    }
    return new Date(nowMs + b.ttlSeconds * 1000);
  }
  return null;
}
