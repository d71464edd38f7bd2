import { Redis, type RedisOptions } from 'ioredis';

export interface RedisConnectOptions {
  /** Shown in CLIENT LIST and in logs. */
  name: string;
  /** A connection used for blocking reads (XREAD BLOCK) must not time out commands. */
  blocking?: boolean;
  /** Batch commands issued in the same tick into one round trip (hot paths). */
  autoPipelining?: boolean;
}

/**
 * Creates an ioredis client with the settings every app needs: RESP2 replies (stream replies
 * keep their classic nested-array shape), reconnect forever with capped backoff (a Redis restart
 * must never crash-loop an app), and commands queued while reconnecting.
 */
export function createRedis(url: string, opts: RedisConnectOptions): Redis {
  const options: RedisOptions = {
    connectionName: opts.name,
    protocol: 2,
    lazyConnect: true,
    enableAutoPipelining: opts.autoPipelining ?? false,
    maxRetriesPerRequest: opts.blocking ? null : 20,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  return new Redis(url, options);
}

/** Connects and fails fast (with a readable message) when Redis cannot be reached at boot. */
export async function connectRedis(client: Redis, url: string, timeoutMs = 10_000): Promise<void> {
  const redacted = url.replace(/\/\/[^@/]*@/, '//***@');
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Redis at ${redacted} not reachable within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new Error(`Cannot connect to Redis at ${redacted}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

export function isRedisReady(client: Redis): boolean {
  return client.status === 'ready';
}

/**
 * Closes a client without ever hanging shutdown: QUIT flushes what is queued, but when Redis
 * is down it would wait for reconnects, so after `timeoutMs` the socket is simply dropped.
 */
export async function closeRedis(client: Redis, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([client.quit(), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  } catch {
    // already closed
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** Resolves with the promise's value, or with `undefined` once `timeoutMs` has passed. */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
