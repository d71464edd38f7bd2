// Retry hints for throttling: the HTTP Retry-After header (integer seconds) and
// ServerErrorResponse.retry_info.retry_after_nanoseconds (uint64) for in-band UNAVAILABLE.

/**
 * `base` seconds plus up to `jitterFraction * base` of random extra delay, rounded up to a whole
 * second and never below 1. The jitter only ever adds: Retry-After is a lower bound for clients, and
 * spreading reconnects after an overload over [base, base*(1+fraction)) avoids a synchronized
 * thundering herd. Non-finite or non-positive inputs degrade to the minimum instead of throwing.
 */
export function jitteredRetryAfterSeconds(
  base: number,
  jitterFraction = 0.5,
  rand: () => number = Math.random,
): number {
  const b = Number.isFinite(base) && base > 0 ? base : 1;
  const f = Number.isFinite(jitterFraction) && jitterFraction > 0 ? jitterFraction : 0;
  let r = rand();
  if (!Number.isFinite(r) || r < 0) r = 0;
  if (r >= 1) r = 1 - Number.EPSILON;
  return Math.max(1, Math.ceil(b * (1 + f * r)));
}

/** Seconds to nanoseconds as the uint64 bigint used by RetryInfo; negative/non-finite give 0n. */
export function retryAfterNanos(seconds: number): bigint {
  if (!Number.isFinite(seconds) || seconds <= 0) return 0n;
  if (Number.isInteger(seconds)) return BigInt(seconds) * 1_000_000_000n;
  return BigInt(Math.round(seconds * 1e9));
}
