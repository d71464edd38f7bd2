// Vitest globalSetup of the medium and e2e projects.
//
// Under `npm test` (scripts/test.ts, OPAMP_TEST_INFRA=1) Postgres and Redis are already running
// and migrated. When vitest is run directly, this starts the same test infrastructure (fresh
// data in .data/test) and stops it at teardown. Either way the migrations are applied.
//
// Both projects list this file; vitest may load it once per project, so the running
// infrastructure is shared through globalThis and stopped by the last teardown.
import { applyMigrations } from '../../libs/database/src/migrate.js';
import { startTestInfra, type RunningInfra } from '../../scripts/infra.js';
import { DATABASE_URL, REDIS_URL } from './env.js';

interface Shared {
  users: number;
  ready: Promise<RunningInfra | undefined>;
}

const KEY = Symbol.for('opamp.test.infra');
const holder = globalThis as typeof globalThis & { [KEY]?: Shared };

async function bringUp(): Promise<RunningInfra | undefined> {
  if (process.env.OPAMP_TEST_INFRA === '1') {
    await applyMigrations(DATABASE_URL);
    return undefined;
  }
  const infra = await startTestInfra({ fresh: true });
  try {
    process.env.DATABASE_URL = infra.databaseUrl;
    process.env.REDIS_URL = infra.redisUrl;
    await applyMigrations(infra.databaseUrl);
    return infra;
  } catch (err) {
    await infra.stop();
    throw err;
  }
}

export async function setup(): Promise<() => Promise<void>> {
  const shared = (holder[KEY] ??= { users: 0, ready: bringUp() });
  shared.users += 1;
  try {
    await shared.ready;
  } catch (err) {
    shared.users -= 1;
    if (shared.users === 0) holder[KEY] = undefined;
    throw err;
  }
  process.env.DATABASE_URL ??= DATABASE_URL;
  process.env.REDIS_URL ??= REDIS_URL;
  return async () => {
    shared.users -= 1;
    if (shared.users > 0) return;
    holder[KEY] = undefined;
    const infra = await shared.ready;
    await infra?.stop();
  };
}

export default setup;
