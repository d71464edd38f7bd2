// instance_uid helpers. OpAMP uids are 16 raw bytes on the wire; the canonical text form
// (8-4-4-4-12 lower-case hex) is what the OpAMP-Instance-UID HTTP header, logs and the API use.
import { getRandomValues } from 'node:crypto';

export const UID_LENGTH = 16;

/** Plain lower-case hex of any byte string (no dashes). */
export function uidToHex(bytes: Uint8Array): string {
  // A Buffer view (no copy) so the native hex encoder does the work: this keys hot per-agent maps.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * Canonical 8-4-4-4-12 lower-case form of a 16-byte uid. Values of any other length (invalid uids
 * that still need to be logged) come back as plain hex, so this never throws.
 */
export function uidToString(bytes: Uint8Array): string {
  const h = uidToHex(bytes);
  if (bytes.length !== UID_LENGTH) return h;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const CANONICAL_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PLAIN_RE = /^[0-9a-f]{32}$/i;

/**
 * Parses the canonical form (any case) or 32 plain hex digits. Returns null for anything else
 * (braces, urn: prefix, whitespace, wrong length), so header values can be checked without try/catch.
 */
export function uidFromString(s: string): Uint8Array | null {
  let plain: string;
  if (CANONICAL_RE.test(s)) plain = s.replace(/-/g, '');
  else if (PLAIN_RE.test(s)) plain = s;
  else return null;
  return Uint8Array.from(Buffer.from(plain, 'hex'));
}

/** True for 16 bytes that are not all zero (clients refuse the nil UUID, so we never accept or assign it). */
export function isValidUid(bytes: Uint8Array): boolean {
  if (bytes.length !== UID_LENGTH) return false;
  for (let i = 0; i < UID_LENGTH; i++) if (bytes[i] !== 0) return true;
  return false;
}

/** Byte-wise equality of two uids (constant length check first). */
export function uidEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A new UUIDv7 (RFC 9562) as 16 bytes: 48-bit big-endian Unix milliseconds, version nibble 7 in
 * byte 6, variant bits 10 in byte 8, the remaining 74 bits random. Used for
 * agent_identification.new_instance_uid; time-ordered uids keep database indexes compact.
 */
export function uuidv7(nowMs: number = Date.now()): Uint8Array {
  const bytes = getRandomValues(new Uint8Array(UID_LENGTH));
  // 48 bits do not fit in a 32-bit bitwise op, so split into high 16 and low 32 bits arithmetically.
  const ms = Math.max(0, Math.floor(nowMs)) % 2 ** 48;
  const hi = Math.floor(ms / 2 ** 32);
  const lo = ms >>> 0;
  bytes[0] = (hi >>> 8) & 0xff;
  bytes[1] = hi & 0xff;
  bytes[2] = (lo >>> 24) & 0xff;
  bytes[3] = (lo >>> 16) & 0xff;
  bytes[4] = (lo >>> 8) & 0xff;
  bytes[5] = lo & 0xff;
  bytes[6] = 0x70 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  return bytes;
}
