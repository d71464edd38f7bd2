// Proves prisma/schema.prisma and prisma/migrations agree: the migrations, applied to an empty
// database, produce exactly the tables, columns, enums, keys and indexes the schema describes.
// When this fails, change the schema and write the matching migration (or the other way round).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/env.js';
import { applyMigrations, DEFAULT_MIGRATIONS_DIR } from './migrate.js';
import { getDmmf } from './prisma-dmmf.js';
import { diffSchemaAgainstDatabase } from './schema-drift.js';

const SCHEMA_PATH = path.resolve(DEFAULT_MIGRATIONS_DIR, '..', 'schema.prisma');

describe('schema.prisma and the migrations', () => {
  let db: ScratchDatabase;
  let client: pg.Client;
  let schema: string;

  beforeAll(async () => {
    schema = await readFile(SCHEMA_PATH, 'utf8');
    db = await createScratchDatabase('drift');
    await applyMigrations(db.url);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('describe the same database', async () => {
    const dmmf = getDmmf(schema);
    expect(dmmf.datamodel.models.length).toBeGreaterThan(0);

    expect(await diffSchemaAgainstDatabase(dmmf, client)).toEqual([]);
  });

  // Guards the guard: a checker that reports nothing for a schema that plainly differs proves nothing.
  it('reports a schema that differs from the migrations', async () => {
    const edited = schema
      .replace(/serviceName(\s+)String\?/, 'serviceName$1String')
      .replace(/capabilities(\s+)BigInt(\s+)@default\(0\)/, 'capabilities$1Int$2@default(7)')
      .replace('@@index([agentType, uid])', '@@index([agentType, hostName])')
      .replace('\n  offline\n', '\n  offline\n  retired\n')
      .replace(/@@map\("agent_events"\)/, 'extra String?\n  @@map("agent_events")')
      .replace('onDelete: Cascade', 'onDelete: Restrict');
    expect(edited).not.toBe(schema);

    const problems = await diffSchemaAgainstDatabase(getDmmf(edited), client);

    expect(problems).toEqual(
      expect.arrayContaining([
        'Agent.serviceName: column is NULL in the database but required in the schema',
        'Agent.capabilities: column type is int8 in the database, the schema needs int4',
        'Agent.capabilities: default is 0 in the database, 7 in the schema',
        'index agents_agent_type_host_name_idx on agents(agent_type, host_name): missing in the database',
        'index agents_agent_type_uid_idx on agents(agent_type, uid) exists in the database but not in the schema',
        'enum AgentConnectionState: database values [connected, disconnected, offline] ≠ schema values [connected, disconnected, offline, retired]',
        'AgentEvent.extra: column "agent_events"."extra" is missing in the database',
        'foreign key agent_events_agent_uid_fkey (AgentEvent.agent): ON DELETE is Cascade in the database, Restrict in the schema',
      ]),
    );
  });

  it('reports a database that differs from the schema', async () => {
    await client.query('BEGIN');
    try {
      await client.query('ALTER TABLE agents ALTER COLUMN labels DROP DEFAULT');
      await client.query('ALTER TABLE agents ADD COLUMN surprise int');
      await client.query('DROP INDEX agents_labels_idx');
      await client.query('CREATE INDEX agents_labels_idx ON agents USING gin (labels)');
      await client.query('CREATE TABLE stray (id int)');

      const problems = await diffSchemaAgainstDatabase(getDmmf(schema), client);

      expect(problems).toEqual(
        expect.arrayContaining([
          'Agent.labels: the schema default is {}, the column has no default',
          'model Agent: column "agents"."surprise" exists in the database but not in the schema',
          'index agents_labels_idx on agents(labels): operator class of labels is jsonb_ops in the database, jsonb_path_ops in the schema',
          'table "stray" exists in the database but has no model',
        ]),
      );
    } finally {
      await client.query('ROLLBACK');
    }
  });
});
