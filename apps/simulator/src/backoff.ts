// Reconnect and retry pacing for simulated agents.

export interface BackoffOptions {
  /** Delay of the first retry after the immediate attempt, ms. */
  initialMs: number;
  /** Upper bound of the exponential part, ms. */
  maxMs: number;
  /** Growth factor per attempt. */
  factor: number;
  /**
   * The first reconnect after an unexpected drop goes out "immediately" (checklist §1.4), but spread
   * over [0, immediateJitterMs) so that thousands of agents dropped by one gateway restart do not
   * arrive in the same millisecond.
   */
  immediateJitterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 30_000, factor: 2, immediateJitterMs: 250 };

/**
 * Exponential backoff with "equal jitter": attempt n (1-based) waits in [d/2, d) with
 * d = min(max, initial * factor^(n-1)); attempt 0 is the immediate retry. The server's Retry-After is
 * a lower bound (the effective wait is max(backoff, Retry-After), like the opamp-go client).
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  get attempts(): number {
    return this.attempt;
  }

  /** Delay before the next attempt; advances the attempt counter. */
  next(retryAfterMs?: number): number {
    const n = this.attempt++;
    let delay: number;
    if (n === 0) {
      delay = this.random() * this.opts.immediateJitterMs;
    } else {
      const d = Math.min(this.opts.maxMs, this.opts.initialMs * this.opts.factor ** (n - 1));
      delay = d / 2 + (this.random() * d) / 2;
    }
    if (retryAfterMs !== undefined && retryAfterMs > delay) delay = retryAfterMs;
    return Math.round(delay);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Parses an HTTP Retry-After value the way the opamp-go client does: delay-seconds first (negative
 * becomes 0), then an HTTP-date (a past date becomes 0). Returns milliseconds, or undefined when the
 * header is absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^-?\d+$/.test(v)) return Math.max(0, Number(v)) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
