import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/env.js';
import {
  applyMigrations,
  DEFAULT_MIGRATIONS_DIR,
  MigrationChecksumError,
  MigrationError,
  readMigrations,
} from './migrate.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

describe('applyMigrations', () => {
  let db: ScratchDatabase;
  let dir: string;

  beforeEach(async () => {
    db = await createScratchDatabase('migrate');
    dir = await mkdtemp(path.join(os.tmpdir(), 'opamp-migrations-'));
    await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  });

  afterEach(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  async function addMigration(name: string, sql: string): Promise<void> {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, 'migration.sql'), sql);
  }

  it('applies every migration to an empty database', async () => {
    const local = await readMigrations(dir);
    expect(local.length).toBeGreaterThan(0);

    const result = await applyMigrations(db.url, dir);

    expect(result).toEqual({ applied: local.map((m) => m.name), alreadyApplied: [] });
    const tables = await query<{ table_name: string }>(
      db.url,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    expect(tables.map((t) => t.table_name).sort()).toEqual([
      '_prisma_migrations',
      'agent_desired_configs',
      'agent_events',
      'agents',
      'api_keys',
      'audit_events',
      'command_types',
      'commands',
      'config_quarantine',
      'config_versions',
      'configs',
      'enrollment_tokens',
      'rollout_targets',
      'rollout_waves',
      'rollouts',
    ]);
  });

  it('is idempotent: a second run applies nothing', async () => {
    await applyMigrations(db.url, dir);
    const before = await query<MigrationRow>(db.url, 'SELECT * FROM _prisma_migrations ORDER BY migration_name');

    const second = await applyMigrations(db.url, dir);

    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(before.map((r) => r.migration_name));
    expect(await query<MigrationRow>(db.url, 'SELECT * FROM _prisma_migrations ORDER BY migration_name')).toEqual(
      before,
    );
  });

  it('records _prisma_migrations rows the way Prisma Migrate does', async () => {
    await applyMigrations(db.url, dir);

    const columns = await query<{
      column_name: string;
      data_type: string;
      is_nullable: string;
      character_maximum_length: number | null;
      column_default: string | null;
    }>(
      db.url,
      "SELECT column_name, data_type, is_nullable, character_maximum_length, column_default FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position",
    );
    expect(columns).toEqual([
      {
        column_name: 'id',
        data_type: 'character varying',
        is_nullable: 'NO',
        character_maximum_length: 36,
        column_default: null,
      },
      {
        column_name: 'checksum',
        data_type: 'character varying',
        is_nullable: 'NO',
        character_maximum_length: 64,
        column_default: null,
      },
      {
        column_name: 'finished_at',
        data_type: 'timestamp with time zone',
        is_nullable: 'YES',
        character_maximum_length: null,
        column_default: null,
      },
      {
        column_name: 'migration_name',
        data_type: 'character varying',
        is_nullable: 'NO',
        character_maximum_length: 255,
        column_default: null,
      },
      {
        column_name: 'logs',
        data_type: 'text',
        is_nullable: 'YES',
        character_maximum_length: null,
        column_default: null,
      },
      {
        column_name: 'rolled_back_at',
        data_type: 'timestamp with time zone',
        is_nullable: 'YES',
        character_maximum_length: null,
        column_default: null,
      },
      {
        column_name: 'started_at',
        data_type: 'timestamp with time zone',
        is_nullable: 'NO',
        character_maximum_length: null,
        column_default: 'now()',
      },
      {
        column_name: 'applied_steps_count',
        data_type: 'integer',
        is_nullable: 'NO',
        character_maximum_length: null,
        column_default: '0',
      },
    ]);

    const rows = await query<MigrationRow>(db.url, 'SELECT * FROM _prisma_migrations ORDER BY migration_name');
    const local = await readMigrations(dir);
    expect(rows).toHaveLength(local.length);
    for (const [i, m] of local.entries()) {
      const row = rows[i]!;
      const fileSha = createHash('sha256')
        .update(await readFile(path.join(dir, m.name, 'migration.sql')))
        .digest('hex');
      expect(row.migration_name).toBe(m.name);
      expect(row.checksum).toBe(fileSha);
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      expect(row.rolled_back_at).toBeNull();
      expect(row.logs).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
  });

  it('refuses to continue when an applied migration was modified', async () => {
    await applyMigrations(db.url, dir);
    const [first] = await readMigrations(dir);
    await writeFile(path.join(dir, first!.name, 'migration.sql'), `${first!.sql}\n-- edited after the fact\n`);
    await addMigration('29990101000000_later', 'CREATE TABLE later (id int);');

    const run = applyMigrations(db.url, dir);

    await expect(run).rejects.toBeInstanceOf(MigrationChecksumError);
    await expect(run).rejects.toThrow(first!.name);
    // Nothing after the check ran.
    expect(await query(db.url, "SELECT 1 FROM information_schema.tables WHERE table_name = 'later'")).toEqual([]);
  });

  it('applies new migrations in name order after the ones already applied', async () => {
    await applyMigrations(db.url, dir);
    await addMigration('29990102000000_second', 'ALTER TABLE first_table ADD COLUMN b int;');
    await addMigration('29990101000000_first', 'CREATE TABLE first_table (a int);');

    const result = await applyMigrations(db.url, dir);

    expect(result.applied).toEqual(['29990101000000_first', '29990102000000_second']);
    const cols = await query<{ column_name: string }>(
      db.url,
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'first_table' ORDER BY ordinal_position",
    );
    expect(cols.map((c) => c.column_name)).toEqual(['a', 'b']);
  });

  it('rolls a failing migration back completely and records nothing for it', async () => {
    await applyMigrations(db.url, dir);
    await addMigration('29990101000000_broken', 'CREATE TABLE half_done (a int);\nSELECT * FROM no_such_table;');

    await expect(applyMigrations(db.url, dir)).rejects.toThrow(
      /29990101000000_broken failed and was rolled back: .*no_such_table/,
    );

    expect(await query(db.url, "SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'")).toEqual([]);
    expect(
      await query(db.url, "SELECT 1 FROM _prisma_migrations WHERE migration_name = '29990101000000_broken'"),
    ).toEqual([]);
    // Fixed, it applies.
    await writeFile(path.join(dir, '29990101000000_broken', 'migration.sql'), 'CREATE TABLE half_done (a int);');
    expect((await applyMigrations(db.url, dir)).applied).toEqual(['29990101000000_broken']);
  });

  it('stops on a migration that an earlier (Prisma) run left unfinished', async () => {
    await applyMigrations(db.url, dir);
    await query(
      db.url,
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs) VALUES ('00000000-0000-4000-8000-000000000000', 'x', '29990101000000_failed', 'boom')",
    );

    await expect(applyMigrations(db.url, dir)).rejects.toThrow(
      /29990101000000_failed started but never finished.*prisma migrate resolve/,
    );
  });

  it('runs migrations marked opamp:no-transaction outside a transaction', async () => {
    await applyMigrations(db.url, dir);
    await addMigration(
      '29990101000000_concurrent',
      '-- opamp:no-transaction\nCREATE INDEX CONCURRENTLY agents_host_name_idx ON agents (host_name);',
    );

    expect((await applyMigrations(db.url, dir)).applied).toEqual(['29990101000000_concurrent']);
    expect(await query(db.url, "SELECT 1 FROM pg_indexes WHERE indexname = 'agents_host_name_idx'")).toHaveLength(1);
  });

  it('lets concurrent runners apply each migration exactly once', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => applyMigrations(db.url, dir)));

    const local = (await readMigrations(dir)).map((m) => m.name);
    expect(results.flatMap((r) => r.applied).sort()).toEqual(local);
    const rows = await query<{ migration_name: string; n: string }>(
      db.url,
      'SELECT migration_name, count(*) AS n FROM _prisma_migrations GROUP BY migration_name',
    );
    expect(rows.every((r) => r.n === '1')).toBe(true);
  });

  it('explains an unreachable database', async () => {
    await expect(applyMigrations('postgresql://opamp:opamp@127.0.0.1:1/opamp', dir)).rejects.toThrow(MigrationError);
    await expect(applyMigrations('postgresql://opamp:secret@127.0.0.1:1/opamp', dir)).rejects.toThrow(
      /cannot connect to Postgres at postgresql:\/\/opamp:\*\*\*@127\.0\.0\.1:1\/opamp/,
    );
  });
});
