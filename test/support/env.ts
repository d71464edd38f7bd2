// Connection settings of the test infrastructure (scripts/infra.ts TEST_INFRA), as seen by tests.
// scripts/test.ts and test/support/global-setup.ts export DATABASE_URL/REDIS_URL; the defaults
// below are the same values, so a test file also works when run on its own.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresUrl, redisUrl, TEST_INFRA } from '../../scripts/infra.js';

export const TEST_POSTGRES_PORT = TEST_INFRA.postgresPort;
export const TEST_REDIS_PORT = TEST_INFRA.redisPort;
export const TEST_DATA_DIR = TEST_INFRA.dataDir;

/**
 * The admin API key of every api the tests start (vitest.config.ts puts it in OPAMP_ADMIN_API_KEY).
 * Kept in sync with vitest.config.ts TEST_ADMIN_API_KEY.
 */
export const TEST_ADMIN_API_KEY: string =
  process.env.OPAMP_ADMIN_API_KEY ?? 'opk_testadmin0_c2VjcmV0LW9mLXRoZS10ZXN0LWFkbWluLWtleS0wMDAwMDA';

/** `Authorization` header with the test admin key. */
export const adminAuth = (): Record<string, string> => ({ authorization: `Bearer ${TEST_ADMIN_API_KEY}` });

/** The migrated test database. */
export const DATABASE_URL: string = process.env.DATABASE_URL ?? postgresUrl(TEST_INFRA.postgresPort);
/** The test Redis. */
export const REDIS_URL: string = process.env.REDIS_URL ?? redisUrl(TEST_INFRA.redisPort);

/** An empty database on the test cluster, for tests that need a schema of their own (no migrations applied). */
export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createScratchDatabase(prefix = 'scratch'): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new URL(DATABASE_URL);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: admin.toString() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
