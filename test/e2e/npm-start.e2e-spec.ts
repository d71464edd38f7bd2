// `npm start` as a user runs it: the whole control plane from one command, Ctrl-C stops it
// cleanly, and what it stored survives the next start. Runs scripts/start.ts on private ports
// and a private data folder so it never collides with the test infrastructure.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/infra.js';
import { freePort } from '../support/processes.js';
import { postOpamp, uidText, description, decodeS2A } from '../support/opamp-raw-client.js';
import { waitFor } from '../support/wait.js';
import { newUid } from './helpers/agents.js';

interface StartRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const dataDir = path.join(REPO_ROOT, '.data', `e2e-start-${randomBytes(4).toString('hex')}`);
const runs: StartRun[] = [];

async function ports(): Promise<Record<string, string>> {
  const [pg, redis, gateway, fleet, api, worker] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  return {
    OPAMP_POSTGRES_PORT: String(pg),
    OPAMP_REDIS_PORT: String(redis),
    GATEWAY_PORT: String(gateway),
    FLEET_PORT: String(fleet),
    API_PORT: String(api),
    ROLLOUT_WORKER_PORT: String(worker),
  };
}

function npmStart(env: Record<string, string>): StartRun {
  const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'scripts/start.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      // The test run's own infra URLs must not leak into the apps `npm start` launches.
      DATABASE_URL: '',
      REDIS_URL: '',
      // No key given: `npm start` must generate the first admin key itself.
      OPAMP_ADMIN_API_KEY: '',
      OPAMP_DATA_DIR: dataDir,
      FLEET_FLUSH_INTERVAL_MS: '100',
      FLEET_LAST_SEEN_PERSIST_SECONDS: '0',
      NO_COLOR: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const run = { child, output: () => out, exited };
  runs.push(run);
  return run;
}

async function untilRunning(run: StartRun): Promise<void> {
  await waitFor(
    async () => {
      if (run.child.exitCode !== null) throw new Error(`npm start exited early:\n${run.output()}`);
      return run.output().includes('Press Ctrl-C to stop.');
    },
    { timeoutMs: 120_000, intervalMs: 200, description: 'npm start to report it is running' },
  );
}

afterAll(async () => {
  for (const run of runs) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('runs the control plane, stops cleanly on Ctrl-C, and keeps its data for the next start', async () => {
    const env = await ports();
    const gatewayUrl = `http://127.0.0.1:${env.GATEWAY_PORT}/v1/opamp`;
    const apiUrl = `http://127.0.0.1:${env.API_PORT}/api/v1/agents`;

    const first = npmStart(env);
    await untilRunning(first);
    const out = first.output();
    expect(out).toContain(`ws://localhost:${env.GATEWAY_PORT}/v1/opamp`);
    expect(out).toContain(`http://localhost:${env.API_PORT}/api/v1`);
    // The first start generates an admin key, prints it once and keeps it (mode 0600) in the data folder.
    const printed = /Admin API key\s+(opk_[A-Za-z0-9_-]{43})/.exec(out)?.[1];
    expect(printed, out).toBeDefined();
    const keyFile = path.join(dataDir, 'admin-api-key');
    expect((await readFile(keyFile, 'utf8')).trim()).toBe(printed);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const auth = { headers: { authorization: `Bearer ${printed!}` } };
    expect((await fetch(`${apiUrl}?limit=1`)).status).toBe(401);
    expect((await fetch(`${apiUrl}?limit=1`, auth)).status).toBe(200);
    for (const port of [env.GATEWAY_PORT, env.FLEET_PORT, env.API_PORT, env.ROLLOUT_WORKER_PORT]) {
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    }

    const uid = newUid();
    const res = await postOpamp(gatewayUrl, {
      instanceUid: uid,
      sequenceNum: 0n,
      capabilities: 0x1n,
      agentDescription: description(
        { 'service.name': 'fluent-bit', 'service.instance.id': uidText(uid) },
        { 'host.name': 'laptop' },
      ),
    });
    expect(res.status).toBe(200);
    expect(decodeS2A(res.body).errorResponse).toBeUndefined();
    await waitFor(async () => (await fetch(`${apiUrl}/${uidText(uid)}`, auth)).status === 200, {
      timeoutMs: 15_000,
      description: 'the agent to reach Postgres',
    });

    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(first.output()).toMatch(/stopped\s*$/);
    // Everything is down: the ports are free again.
    await expect(fetch(`http://127.0.0.1:${env.API_PORT}/healthz`)).rejects.toThrow();

    const second = npmStart(env);
    await untilRunning(second);
    // The second start reuses the saved key and does not print it again.
    expect(second.output()).not.toContain(printed!);
    expect(second.output()).toContain(`Admin API key       in ${keyFile}`);
    const agent = (await (await fetch(`${apiUrl}/${uidText(uid)}`, auth)).json()) as {
      description: { identifying: Record<string, string>; nonIdentifying: Record<string, string> };
    };
    expect(agent.description.identifying['service.name']).toBe('fluent-bit');
    expect(agent.description.nonIdentifying['host.name']).toBe('laptop');
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  }, 300_000);
});
