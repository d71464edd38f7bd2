// Applies the SQL migrations in prisma/migrations without Prisma's native schema engine (which
// cannot be installed on every machine), keeping Prisma's own bookkeeping table
// `_prisma_migrations` exactly as `prisma migrate deploy` does, so either tool can take over.
//
// - Migrations are the folders of migrationsDir that contain migration.sql, applied in name order.
// - Each one runs in its own transaction together with its bookkeeping row: it is either fully
//   applied and recorded, or not at all. (A migration that cannot run in a transaction, such as
//   CREATE INDEX CONCURRENTLY, starts with the line `-- opamp:no-transaction`; it then runs like
//   Prisma runs it: row first, script, then finished_at.)
// - Runners take the same session advisory lock as Prisma Migrate (72707369), so any number of
//   pods/processes may run this concurrently with each other and with `prisma migrate deploy`.
// - A migration already applied whose migration.sql changed since (checksum mismatch), or a
//   migration that failed half-way in an earlier run, stops the runner with an explicit error.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { redactDatabaseUrl } from './database-url.js';

/** The repository's prisma/migrations (override with OPAMP_MIGRATIONS_DIR, for example in a container image). */
export const DEFAULT_MIGRATIONS_DIR = process.env.OPAMP_MIGRATIONS_DIR
  ? path.resolve(process.env.OPAMP_MIGRATIONS_DIR)
  : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../prisma/migrations');

/** Prisma Migrate's advisory lock key (schema-engine: `pg_advisory_lock(72707369)`). */
export const PRISMA_MIGRATE_ADVISORY_LOCK = 72707369;

/** The bookkeeping table as Prisma Migrate creates it. */
export const PRISMA_MIGRATIONS_TABLE_DDL = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

const NO_TRANSACTION_MARKER = /^\s*--\s*opamp:no-transaction\s*$/m;

export interface MigrationFile {
  name: string;
  sql: string;
  /** sha256 (hex) of migration.sql, as Prisma computes it. */
  checksum: string;
}

export interface MigrationResult {
  /** Migrations applied by this run, in order. */
  applied: string[];
  /** Migrations that were already applied before this run. */
  alreadyApplied: string[];
}

export interface MigrateOptions {
  log?: (message: string) => void;
  /** How long to wait for another runner's lock before giving up. Default 5 minutes. */
  lockTimeoutMs?: number;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export class MigrationChecksumError extends MigrationError {
  override name = 'MigrationChecksumError';
  constructor(readonly migrations: string[]) {
    super(
      `The following migration(s) were modified after they were applied to the database: ${migrations.join(', ')}. ` +
        'Applied migrations must never change: restore the original migration.sql and put the change in a new migration.',
    );
  }
}

export function migrationChecksum(sql: string | Buffer): string {
  return createHash('sha256').update(sql).digest('hex');
}

/** The migrations in migrationsDir, in the order they apply. */
export async function readMigrations(migrationsDir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  if (!existsSync(migrationsDir)) throw new MigrationError(`migrations directory ${migrationsDir} does not exist`);
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory() && existsSync(path.join(migrationsDir, e.name, 'migration.sql')))
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(path.join(migrationsDir, name, 'migration.sql'));
      return { name, sql: bytes.toString('utf8'), checksum: migrationChecksum(bytes) };
    }),
  );
}

interface AppliedRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
}

async function acquireLock(client: pg.Client, timeoutMs: number, log: (m: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
      PRISMA_MIGRATE_ADVISORY_LOCK,
    ]);
    if (rows[0]?.locked) return;
    if (!announced) {
      log('waiting for another migration runner to finish');
      announced = true;
    }
    if (Date.now() > deadline)
      throw new MigrationError(`timed out after ${timeoutMs} ms waiting for the migration lock`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Applies every migration in migrationsDir that the database does not have yet.
 * Safe to run concurrently and repeatedly.
 */
export async function applyMigrations(
  databaseUrl: string,
  migrationsDir: string = DEFAULT_MIGRATIONS_DIR,
  options: MigrateOptions = {},
): Promise<MigrationResult> {
  const log = options.log ?? (() => undefined);
  const migrations = await readMigrations(migrationsDir);
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new MigrationError(
      `cannot connect to Postgres at ${redactDatabaseUrl(databaseUrl)}: ${(err as Error).message}`,
    );
  }
  try {
    await acquireLock(client, options.lockTimeoutMs ?? 5 * 60_000, log);
    try {
      await client.query(PRISMA_MIGRATIONS_TABLE_DDL);
      const { rows } = await client.query<AppliedRow>(
        'SELECT id, checksum, migration_name, finished_at, rolled_back_at, logs FROM "_prisma_migrations" ORDER BY started_at, migration_name',
      );
      // Rolled-back attempts (`prisma migrate resolve --rolled-back`) do not count, as in Prisma.
      const live = rows.filter((r) => r.rolled_back_at === null);
      const failed = live.filter((r) => r.finished_at === null);
      if (failed.length > 0) {
        throw new MigrationError(
          `migration(s) ${failed.map((r) => r.migration_name).join(', ')} started but never finished in an earlier run` +
            `${failed[0]?.logs ? ` (${failed[0].logs.split('\n')[0]})` : ''}. ` +
            'Inspect the database, then mark it with `prisma migrate resolve --rolled-back <name>` (or --applied) and retry.',
        );
      }
      const appliedByName = new Map(live.map((r) => [r.migration_name, r]));
      const local = new Set(migrations.map((m) => m.name));
      const modified = migrations.filter((m) => {
        const row = appliedByName.get(m.name);
        return (
          row !== undefined &&
          row.checksum !== m.checksum &&
          row.checksum !== migrationChecksum(m.sql.replaceAll('\r\n', '\n'))
        );
      });
      if (modified.length > 0) throw new MigrationChecksumError(modified.map((m) => m.name));
      for (const name of appliedByName.keys()) {
        if (!local.has(name))
          log(`warning: migration ${name} is applied in the database but missing from ${migrationsDir}`);
      }

      const result: MigrationResult = { applied: [], alreadyApplied: [] };
      for (const migration of migrations) {
        if (appliedByName.has(migration.name)) {
          result.alreadyApplied.push(migration.name);
          continue;
        }
        log(`applying migration ${migration.name}`);
        await applyOne(client, migration);
        result.applied.push(migration.name);
      }
      return result;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_ADVISORY_LOCK]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function applyOne(client: pg.Client, migration: MigrationFile): Promise<void> {
  const id = randomUUID();
  const insert =
    'INSERT INTO "_prisma_migrations" (id, checksum, started_at, migration_name) VALUES ($1, $2, now(), $3)';
  const finish =
    'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = applied_steps_count + 1 WHERE id = $1';

  if (NO_TRANSACTION_MARKER.test(migration.sql)) {
    // Prisma's own sequence: a row marks the attempt; on failure the logs say why and the row
    // stays unfinished, which stops later runs until a human resolves it.
    await client.query(insert, [id, migration.checksum, migration.name]);
    try {
      await client.query(migration.sql);
    } catch (err) {
      await client
        .query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, String((err as Error).message)])
        .catch(() => undefined);
      throw new MigrationError(
        `migration ${migration.name} failed (not transactional; the database may be partly migrated): ${(err as Error).message}`,
      );
    }
    await client.query(finish, [id]);
    return;
  }

  await client.query('BEGIN');
  try {
    await client.query(insert, [id, migration.checksum, migration.name]);
    await client.query(migration.sql);
    await client.query(finish, [id]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    const pgErr = err as Error & { position?: string };
    throw new MigrationError(
      `migration ${migration.name} failed and was rolled back: ${pgErr.message}${pgErr.position ? ` (at character ${pgErr.position} of migration.sql)` : ''}`,
    );
  }
}
