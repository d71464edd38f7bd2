// `npm run db:migrate`: applies prisma/migrations to DATABASE_URL (default: the `npm start`
// Postgres) with the engine-free runner of @opamp/database. Options:
//   --url <postgres url>   instead of DATABASE_URL
//   --dir <migrations dir> instead of prisma/migrations
//   --status               list applied / pending migrations without applying anything
import path from 'node:path';
import pg from 'pg';
import { redactDatabaseUrl } from '../libs/database/src/database-url.js';
import { applyMigrations, DEFAULT_MIGRATIONS_DIR, readMigrations } from '../libs/database/src/migrate.js';
import { DEV_INFRA, postgresUrl } from './infra.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function status(url: string, dir: string): Promise<void> {
  const local = await readMigrations(dir);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const exists = (await client.query("SELECT to_regclass('_prisma_migrations') IS NOT NULL AS ok")).rows[0]
      ?.ok as boolean;
    const rows = exists
      ? (
          await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
            'SELECT migration_name, checksum, finished_at FROM _prisma_migrations WHERE rolled_back_at IS NULL',
          )
        ).rows
      : [];
    const applied = new Map(rows.map((r) => [r.migration_name, r]));
    for (const m of local) {
      const row = applied.get(m.name);
      const state = !row
        ? 'pending'
        : !row.finished_at
          ? 'FAILED (unfinished)'
          : row.checksum !== m.checksum
            ? 'applied, but MODIFIED since'
            : 'applied';
      console.log(`${state.padEnd(28)} ${m.name}`);
    }
    for (const name of applied.keys())
      if (!local.some((m) => m.name === name)) console.log(`${'applied, missing locally'.padEnd(28)} ${name}`);
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const url = arg('--url') ?? process.env.DATABASE_URL ?? postgresUrl(DEV_INFRA.postgresPort);
  const dir = path.resolve(arg('--dir') ?? DEFAULT_MIGRATIONS_DIR);
  console.log(`database:   ${redactDatabaseUrl(url)}`);
  console.log(`migrations: ${path.relative(process.cwd(), dir) || dir}`);
  if (process.argv.includes('--status')) return status(url, dir);
  const result = await applyMigrations(url, dir, { log: (m) => console.log(m) });
  console.log(
    result.applied.length
      ? `applied ${result.applied.length} migration(s)`
      : `up to date (${result.alreadyApplied.length} migration(s) applied earlier)`,
  );
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  const hint = /ECONNREFUSED/.test(message)
    ? ' (is Postgres running? `npm start` or `npm run infra` starts the local one)'
    : '';
  console.error(`db:migrate failed: ${message}${hint}`);
  process.exit(1);
});
