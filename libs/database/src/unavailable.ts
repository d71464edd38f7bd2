// Telling "Postgres is not there right now" apart from errors a retry would not fix, so callers
// can answer 503 (try again later) instead of 500, and keep retrying instead of giving up.

/** Prisma error codes of an unreachable, timed-out or exhausted database. */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
/** Driver adapter (adapter-pg) error kinds of the same. */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/**
 * SQLSTATE classes 08 (connection exception) and 57P (operator intervention: admin shutdown,
 * crash shutdown, cannot connect now / starting up).
 */
const SQLSTATE = /^(08|57P)/;
/** node-postgres errors that carry no code. */
const MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Can't reach database server/i;

interface ErrorShape {
  code?: unknown;
  message?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown; originalCode?: unknown } } };
  cause?: unknown;
}

/** True when `err` says Postgres could not be reached or went away (down, restarting, pool exhausted). */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 3) return false;
  const e = err as ErrorShape;
  if (typeof e.code === 'string' && (PRISMA_CODES.has(e.code) || SQLSTATE.test(e.code))) return true;
  const cause = e.meta?.driverAdapterError?.cause;
  if (cause) {
    if (typeof cause.kind === 'string' && ADAPTER_KINDS.has(cause.kind)) return true;
    for (const code of [cause.code, cause.originalCode])
      if (typeof code === 'string' && SQLSTATE.test(code)) return true;
  }
  if (typeof e.message === 'string' && MESSAGES.test(e.message)) return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}
