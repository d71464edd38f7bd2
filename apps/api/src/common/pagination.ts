// Opaque cursor pagination. A cursor carries the sort key of the last item returned and a
// fingerprint of the query it belongs to, so a cursor replayed against different filters is
// refused instead of silently returning a wrong page.
import { createHash } from 'node:crypto';
import { ProblemException, ProblemType, validationProblem } from './problem.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

interface CursorPayload {
  /** Sort key of the last item of the previous page. */
  k: string;
  /** Query fingerprint. */
  q: string;
}

export function queryFingerprint(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 12);
}

export function encodeCursor(key: string, fingerprint: string): string {
  const payload: CursorPayload = { k: key, q: fingerprint };
  return Buffer.from(JSON.stringify(payload)).toString('base64url');
}

const invalidCursor = (detail: string): ProblemException =>
  new ProblemException({
    type: ProblemType.invalidCursor,
    title: 'Invalid cursor',
    status: 400,
    detail,
    invalidParams: [{ name: 'cursor', reason: detail }],
  });

/** Returns the sort key inside `raw`, or throws a 400 problem. `validKey` checks the key's shape. */
export function decodeCursor(raw: string, fingerprint: string, validKey: (k: string) => boolean): string {
  let payload: unknown;
  try {
    // Long enough for a sort key holding a long text value (agents sorted by name, version).
    if (!/^[A-Za-z0-9_-]{1,4096}$/.test(raw)) throw new Error('not base64url');
    payload = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor('the cursor is not one this API issued; pass the nextCursor of a previous response unchanged');
  }
  const p = payload as Partial<CursorPayload> | null;
  if (!p || typeof p.k !== 'string' || typeof p.q !== 'string' || !validKey(p.k)) {
    throw invalidCursor('the cursor is not one this API issued; pass the nextCursor of a previous response unchanged');
  }
  if (p.q !== fingerprint) {
    throw invalidCursor(
      'the cursor belongs to a query with different filters; repeat the original filters or start without a cursor',
    );
  }
  return p.k;
}

/** `limit` query parameter: integer in 1..max, default `def`. */
export function parseLimit(raw: unknown, def = DEFAULT_PAGE_SIZE, max = MAX_PAGE_SIZE): number {
  if (raw === undefined) return def;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw.trim())) {
    throw validationProblem([
      { name: 'limit', reason: `must be an integer between 1 and ${max}, got ${JSON.stringify(raw)}` },
    ]);
  }
  const n = Number(raw.trim());
  if (n < 1 || n > max) throw validationProblem([{ name: 'limit', reason: `must be between 1 and ${max}, got ${n}` }]);
  return n;
}

/** A single-valued query parameter (repeating it is an error). */
export function singleParam(name: string, raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'string') return raw;
  throw validationProblem([{ name, reason: 'must be given at most once, as a plain string' }]);
}
