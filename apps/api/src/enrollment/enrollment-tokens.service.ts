// Enrollment tokens: the credentials agents present to the gateway (docs/enrollment.md). Only the
// SHA-256 of a token is stored; the token itself is in the create reply and nowhere else.
import { Injectable, Logger } from '@nestjs/common';
import { PrismaService } from '@opamp/database';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { credentialStatus, displayPrefix, newSecret, secretDigest } from '../auth/secrets.js';
import type { Principal } from '../auth/roles.js';
import { decodeCursor, encodeCursor, queryFingerprint, type Page } from '../common/pagination.js';
import { ProblemException, ProblemType } from '../common/problem.js';
import {
  EnrollmentTokenMirrorService,
  MirrorUnavailableError,
  mirrorEntryOf,
} from './enrollment-token-mirror.service.js';
import {
  isEnrollmentTokenId,
  type CreateEnrollmentTokenInput,
  type ListEnrollmentTokensQuery,
} from './enrollment-tokens.query.js';

export interface EnrollmentTokenView {
  id: string;
  name: string;
  /** The first characters of the token (`oet_` + 8), to tell tokens apart. */
  prefix: string;
  labels: Record<string, string>;
  createdAt: string;
  createdBy: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
  status: 'active' | 'expired' | 'revoked';
}

interface TokenRow {
  id: string;
  name: string;
  prefix: string;
  labels: unknown;
  createdAt: Date;
  createdBy: string | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

const SELECT = {
  id: true,
  name: true,
  prefix: true,
  labels: true,
  createdAt: true,
  createdBy: true,
  expiresAt: true,
  revokedAt: true,
  revokedBy: true,
} as const;

export function enrollmentTokenView(row: TokenRow, nowMs = Date.now()): EnrollmentTokenView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    labels: mirrorEntryOf(row).labels,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    revokedBy: row.revokedBy,
    status: credentialStatus(row.revokedAt, row.expiresAt, nowMs),
  };
}

export function enrollmentTokenNotFound(id: string): ProblemException {
  return new ProblemException({
    type: ProblemType.notFound,
    title: 'Enrollment token not found',
    status: 404,
    detail: `There is no enrollment token with id ${id.length > 64 ? `${id.slice(0, 64)}…` : id}.`,
  });
}

function redisUnavailable(detail: string): ProblemException {
  return new ProblemException({ type: ProblemType.unavailable, title: 'Service Unavailable', status: 503, detail });
}

@Injectable()
export class EnrollmentTokensService {
  private readonly logger = new Logger('EnrollmentTokens');

  constructor(
    private readonly prisma: PrismaService,
    private readonly mirror: EnrollmentTokenMirrorService,
  ) {}

  /**
   * Stores the token, then mirrors it into Redis so gateways accept it at once. When Redis cannot
   * be written the row is removed again and the caller gets 503: a token that is in the reply is
   * always usable.
   */
  async create(
    input: CreateEnrollmentTokenInput,
    by: Principal | undefined,
  ): Promise<EnrollmentTokenView & { token: string }> {
    const token = newSecret('oet');
    const secretHash = secretDigest(token);
    const row = await this.prisma.enrollmentToken.create({
      data: {
        id: uidToString(uuidv7()),
        name: input.name,
        secretHash,
        prefix: displayPrefix(token),
        labels: input.labels,
        expiresAt: input.expiresAt,
        createdBy: by?.id ?? null,
      },
      select: SELECT,
    });
    try {
      await this.mirror.put(secretHash, mirrorEntryOf(row));
    } catch (err) {
      if (!(err instanceof MirrorUnavailableError)) throw err;
      await this.prisma.enrollmentToken.delete({ where: { id: row.id } }).catch((e: Error) => {
        // The resync removes the entry should it reach Redis after all; the row stays unusable
        // to nobody's harm (nobody ever saw the token).
        this.logger.warn(`token ${row.id} not mirrored and not deleted: ${e.message}`);
      });
      throw redisUnavailable(`${err.message}. The token was not created; try again.`);
    }
    return { ...enrollmentTokenView(row), token };
  }

  /** Oldest first (ids are UUIDv7); revoked tokens only with includeRevoked. */
  async list(q: ListEnrollmentTokensQuery): Promise<Page<EnrollmentTokenView>> {
    const fingerprint = queryFingerprint(['enrollment-tokens', q.includeRevoked]);
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, fingerprint, isEnrollmentTokenId);
    const rows = await this.prisma.enrollmentToken.findMany({
      where: { ...(q.includeRevoked ? {} : { revokedAt: null }), ...(after ? { id: { gt: after } } : {}) },
      orderBy: { id: 'asc' },
      take: q.limit + 1,
      select: SELECT,
    });
    const page = rows.slice(0, q.limit);
    const now = Date.now();
    return {
      items: page.map((r) => enrollmentTokenView(r, now)),
      nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id, fingerprint) : null,
    };
  }

  async get(id: string): Promise<EnrollmentTokenView> {
    if (!isEnrollmentTokenId(id)) throw enrollmentTokenNotFound(id);
    const row = await this.prisma.enrollmentToken.findUnique({ where: { id }, select: SELECT });
    if (!row) throw enrollmentTokenNotFound(id);
    return enrollmentTokenView(row);
  }

  /**
   * Revokes the token (idempotent: a second call changes nothing in Postgres but removes and
   * announces it again), then removes it from Redis and tells the gateways, which close the WS
   * connections it admitted (close code 4401) and refuse it from then on.
   */
  async revoke(id: string, by: Principal | undefined): Promise<EnrollmentTokenView> {
    if (!isEnrollmentTokenId(id)) throw enrollmentTokenNotFound(id);
    await this.prisma.enrollmentToken.updateMany({
      where: { id, revokedAt: null },
      data: { revokedAt: new Date(), revokedBy: by?.id ?? null },
    });
    const row = await this.prisma.enrollmentToken.findUnique({
      where: { id },
      select: { ...SELECT, secretHash: true },
    });
    if (!row) throw enrollmentTokenNotFound(id);
    try {
      await this.mirror.revoke(row.secretHash, row.id);
    } catch (err) {
      if (!(err instanceof MirrorUnavailableError)) throw err;
      throw redisUnavailable(
        `${err.message}. The token is revoked in the database but the gateways may still accept it: ` +
          'repeat the revoke (it is idempotent); otherwise the next resync after Redis is back tells them.',
      );
    }
    return enrollmentTokenView(row);
  }
}
