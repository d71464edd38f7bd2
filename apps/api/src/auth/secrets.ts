// Bearer secrets (API keys `opk_…`): random, shown once, stored only as a SHA-256 digest.
// SHA-256 without a salt is the right tool here: the secrets carry 256 random bits, so there is
// nothing to brute-force, and a digest lookup by unique index keeps verification one query.
import { createHash, randomBytes } from 'node:crypto';

/** Characters of a key kept in listings so people can tell keys apart (`opk_AbCdEfGh`). */
export const DISPLAY_PREFIX_LENGTH = 12;

/** A new secret: `<kind>_` + 32 random bytes in base64url (43 characters). */
export function newSecret(kind: 'opk' | 'oet'): string {
  return `${kind}_${randomBytes(32).toString('base64url')}`;
}

export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function displayPrefix(secret: string): string {
  return secret.slice(0, DISPLAY_PREFIX_LENGTH);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i.exec(header);
  return m?.[1];
}

/** active | expired | revoked: the state of a key or token with these timestamps at `nowMs`. */
export function credentialStatus(
  revokedAt: Date | null,
  expiresAt: Date | null,
  nowMs = Date.now(),
): 'active' | 'expired' | 'revoked' {
  if (revokedAt) return 'revoked';
  return expiresAt && expiresAt.getTime() <= nowMs ? 'expired' : 'active';
}
