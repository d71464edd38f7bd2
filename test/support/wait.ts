// Bounded polling for e2e tests: never a fixed sleep where a condition can be observed instead.

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Delay between attempts (default 50 ms). */
  intervalMs?: number;
  /** Shown in the timeout error. */
  description?: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `probe` until it returns something other than undefined / null / false, and returns that
 * value. Errors thrown by the probe count as "not yet" (the last one is reported on timeout).
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let lastValue: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      lastValue = value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  const what = opts.description ? ` (${opts.description})` : '';
  const detail =
    lastError instanceof Error ? `: last error: ${lastError.message}` : `: last value ${String(lastValue)}`;
  const err = new Error(`condition not met within ${timeoutMs} ms${what}${detail}`);
  if (lastError instanceof Error) (err as Error & { cause?: unknown }).cause = lastError;
  throw err;
}

/**
 * Retries a block of assertions (e.g. `expect(...)` calls) until it stops throwing, then returns
 * its result. On timeout the last assertion error is rethrown unchanged, so the test output shows
 * the real expected/actual diff.
 */
export async function eventually<T>(block: () => T | Promise<T>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await block();
    } catch (err) {
      if (Date.now() >= deadline) {
        if (err instanceof Error && opts.description) err.message = `${opts.description}: ${err.message}`;
        throw err;
      }
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** Resolves with the promise's value, or rejects after `ms` with a clear message. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, description = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${description} did not complete within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when the promise settles within `ms` (value ignored); never rejects. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
