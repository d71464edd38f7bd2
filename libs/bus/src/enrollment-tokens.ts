// Enrollment tokens as the api and the gateways share them through Redis (docs/enrollment.md):
// the token's shape, and the entry of the RedisKeys.enrollmentTokens hash, keyed by the SHA-256
// (hex) of the whole token. The gateway never reads Postgres: this entry is all it knows.
import { createHash } from 'node:crypto';

/** `oet_` + 32 random bytes in base64url (43 characters). */
export const ENROLLMENT_TOKEN_PATTERN = /^oet_[A-Za-z0-9_-]{43}$/;

/** True when `value` has the shape of an enrollment token (says nothing about whether it is usable). */
export function looksLikeEnrollmentToken(value: string): boolean {
  return value.length === 47 && ENROLLMENT_TOKEN_PATTERN.test(value);
}

/** Field name of a token in the mirror hash: SHA-256 of the whole token, lower-case hex. */
export function enrollmentTokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Value of a token in the mirror hash (JSON). */
export interface EnrollmentTokenMirror {
  id: string;
  /** Labels copied onto agents that enrol with the token. */
  labels: Record<string, string>;
  /** Unix ms after which the token is refused; null: never expires. */
  expiresAtMs: number | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeEnrollmentTokenMirror(entry: EnrollmentTokenMirror): string {
  return JSON.stringify({ id: entry.id, labels: entry.labels, expiresAtMs: entry.expiresAtMs });
}

/** The entry, or undefined when the JSON is not one (a corrupt entry is treated as no token). */
export function parseEnrollmentTokenMirror(raw: string): EnrollmentTokenMirror | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  if (typeof e.id !== 'string' || !UUID.test(e.id)) return undefined;
  const expiresAtMs = e.expiresAtMs ?? null;
  if (expiresAtMs !== null && (typeof expiresAtMs !== 'number' || !Number.isFinite(expiresAtMs))) return undefined;
  const labels: Record<string, string> = {};
  if (typeof e.labels === 'object' && e.labels !== null && !Array.isArray(e.labels)) {
    for (const [k, val] of Object.entries(e.labels as Record<string, unknown>)) {
      if (typeof val === 'string') labels[k] = val;
    }
  }
  return { id: e.id, labels, expiresAtMs };
}
