import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { redactDatabaseUrl } from './database-url.js';
import { PrismaClient } from './generated/prisma/client.js';

/** Nest injection token for {@link DatabaseOptions}. */
export const DATABASE_OPTIONS = Symbol('DATABASE_OPTIONS');

export interface DatabaseOptions {
  /** Postgres connection URL. Default: process.env.DATABASE_URL. */
  url?: string;
  /** Maximum connections in this process's pool. Default 10. */
  poolSize?: number;
  /** Give up connecting after this long. Default 5000 ms. */
  connectTimeoutMs?: number;
}

export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

function resolveUrl(options: DatabaseOptions): string {
  const url = options.url ?? process.env.DATABASE_URL;
  if (!url)
    throw new DatabaseUnavailableError(
      'DATABASE_URL is not set: it must name the Postgres database (postgresql://user:password@host:port/db).',
    );
  return url;
}

/**
 * The Prisma client (driver adapter `@prisma/adapter-pg`, no engine binary) as a Nest provider.
 * Connects when the module initialises and fails the boot with a clear error when Postgres is
 * unreachable; closes the pool at application shutdown, after every onModuleDestroy /
 * beforeApplicationShutdown hook (so write-behind buffers can still flush).
 */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleInit, OnApplicationShutdown {
  /** The URL this client connects to, password redacted. */
  readonly redactedUrl: string;

  constructor(@Optional() @Inject(DATABASE_OPTIONS) options: DatabaseOptions = {}) {
    const url = resolveUrl(options);
    super({
      adapter: new PrismaPg({
        connectionString: url,
        max: options.poolSize ?? 10,
        connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      }),
    });
    this.redactedUrl = redactDatabaseUrl(url);
  }

  async onModuleInit(): Promise<void> {
    try {
      await this.$connect();
      await this.$queryRaw`SELECT 1`;
    } catch (err) {
      throw new DatabaseUnavailableError(
        `Cannot reach Postgres at ${this.redactedUrl}: ${(err as Error).message || String(err)}. ` +
          'Check DATABASE_URL and that Postgres is running (`npm start` runs one locally).',
      );
    }
    new Logger('PrismaService').log(`connected to ${this.redactedUrl}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.$disconnect();
  }

  /** True when a trivial query succeeds within timeoutMs: for readiness probes. */
  async isHealthy(timeoutMs = 2_000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.$queryRaw`SELECT 1`.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}
