// opampctl end to end: the real CLI as a child process against a running stack (gateway, fleet,
// api, rollout worker) with simulated agents. It runs the package `npm run build` makes
// (scripts/build.ts buildCli: ~0.1 s a start instead of ~1 s of on-the-fly compiling); one run
// goes through the repository's launcher (apps/cli/bin/opampctl.js, what `npx opampctl` runs). Covers login,
// idempotent configs apply, configs diff, rollouts plan, and every --wait exit code:
// 0 completed, 3 held for promotion, 4 paused by the failure budget / aborted, 5 rolled back
// while waiting, 6 --timeout; plus a refused key (1) and a usage error (2).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAgent, type SimulatedAgentOptions } from '../../apps/simulator/src/index.js';
import { buildCli } from '../../scripts/build.js';
import { REPO_ROOT } from '../../scripts/infra.js';
import { TEST_ADMIN_API_KEY } from '../support/env.js';
import { startApp, type RunningApp } from '../support/processes.js';
import { eventually, waitFor } from '../support/wait.js';
import { apiFor, SHARDS, startStack, type Api, type Stack } from './helpers/stack.js';

const SUITE = `ctl${randomBytes(3).toString('hex')}`;
/** The custom capability of the command test; the fleet forwards its replies (FLEET_CUSTOM_CAPABILITIES). */
const CAP = `com.example.ctl.${SUITE}`;
/** The launcher `npx opampctl` runs in the repository (compiles the TypeScript on the fly). */
const REPO_BIN = path.join(REPO_ROOT, 'apps', 'cli', 'bin', 'opampctl.js');
/** The built package; under the repository so that it finds node_modules (commander). */
const BUILD_DIR = path.join(REPO_ROOT, 'tmp', `opampctl-e2e-${SUITE}`);
const BIN = path.join(BUILD_DIR, 'apps', 'cli', 'bin', 'opampctl.js');

let stack: Stack;
let api: Api;
let worker: RunningApp;
let home: string;
const agents: SimulatedAgent[] = [];

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of every CLI run: its own config file, nothing inherited that could log it in. */
const cliEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  HOME: home,
  OPAMPCTL_CONFIG: path.join(home, 'opampctl.json'),
  ...extra,
});

interface RunningCli {
  /** Resolves with the first stdout line matching `re`. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  done: Promise<CliResult>;
}

function startCli(args: string[], env: Record<string, string> = {}, bin = BIN): RunningCli {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: home,
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const w of waiters) w();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return {
    done,
    line: (re, timeoutMs = 30_000) =>
      waitFor(() => stdout.split('\n').find((l) => re.test(l)), {
        timeoutMs,
        intervalMs: 50,
        description: `CLI output ${re}`,
      }),
  };
}

async function cli(args: string[], env: Record<string, string> = {}, bin = BIN): Promise<CliResult> {
  return startCli(args, env, bin).done;
}

/**
 * argv from a template: the literal text splits on whitespace, each `${value}` stays one
 * argument (so selectors and paths need no quoting).
 */
function args(strings: TemplateStringsArray, ...values: string[]): string[] {
  const out: string[] = [];
  strings.forEach((text, i) => {
    out.push(...text.split(/\s+/).filter((w) => w !== ''));
    if (i < values.length) out.push(values[i]!);
  });
  return out;
}

/** What a failed expectation should show: the whole run. */
const shown = (r: CliResult): string => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

function startAgents(
  n: number,
  group: string,
  opts: Partial<SimulatedAgentOptions> = {},
  tier = 'main',
): SimulatedAgent[] {
  const started = Array.from({ length: n }, (_, i) => {
    const a = new SimulatedAgent({
      url: stack.opampWs,
      transport: 'ws',
      serviceName: 'fluent-bit',
      hostName: `${SUITE}-${group}-${tier}-${i}`,
      labels: { suite: SUITE, group, tier },
      applyDelayMs: 20,
      ...opts,
    });
    void a.start();
    return a;
  });
  agents.push(...started);
  return started;
}

async function waitListed(selector: string, n: number): Promise<void> {
  await eventually(
    async () => {
      const res = await api.request<{ items: unknown[] }>(
        'GET',
        `/api/v1/agents?selector=${encodeURIComponent(selector)}&status=connected&limit=100`,
      );
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBe(n);
    },
    { timeoutMs: 20_000, intervalMs: 100, description: `${n} agents for ${selector}` },
  );
}

const fluentBit = (output: string): string =>
  `[SERVICE]\n    Flush 1\n\n[INPUT]\n    Name dummy\n    Tag  ctl\n\n[OUTPUT]\n    Name  ${output}\n    Match *\n`;

/** Writes a one-file config and applies it as config `name` (version created). */
async function applied(name: string, output: string): Promise<void> {
  const dir = path.join(home, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'fluent-bit.conf'), fluentBit(output));
  const r = await cli(['configs', 'apply', '-f', dir, '--type', 'fluentbit']);
  expect(r.code, shown(r)).toBe(0);
}

const sel = (group: string): string => `suite=${SUITE},group=${group}`;
const ROLLOUT_ID = /^rollout ([0-9a-f-]{36}) created/;

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'opampctl-e2e-'));
  await buildCli(BUILD_DIR);
  stack = await startStack({ fleet: { FLEET_HEARTBEAT_INTERVAL_SECONDS: '1', FLEET_CUSTOM_CAPABILITIES: CAP } });
  api = apiFor(stack);
  worker = await startApp(
    'rollout-worker',
    {
      OPAMP_SHARDS: SHARDS,
      LOG_LEVEL: 'warn',
      ROLLOUT_WORKER_TICK_MS: '200',
      ROLLOUT_WORKER_SWEEP_INTERVAL_MS: '1000',
    },
    { timeoutMs: 60_000 },
  );
  startAgents(3, 'ok');
  startAgents(1, 'staged', {}, 'canary');
  startAgents(2, 'staged', {}, 'rest');
  startAgents(2, 'bad', { failConfig: true });
  startAgents(2, 'rb');
  startAgents(1, 'slow');
  startAgents(1, 'cmd', { customCapabilities: [CAP], commandReplies: true });
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  await worker?.stop('SIGTERM', 15_000).catch(() => undefined);
  await stack?.stop();
  if (home) await rm(home, { recursive: true, force: true });
  await rm(BUILD_DIR, { recursive: true, force: true });
}, 60_000);

describe('opampctl', () => {
  it('login stores url and key (0600); later commands use them; a refused key exits 1, a usage error 2', async () => {
    const login = await cli(['login', '--url', stack.api!.url, '--key', TEST_ADMIN_API_KEY]);
    expect(login.code, shown(login)).toBe(0);
    expect(login.stdout).toContain(`Logged in to ${stack.api!.url}`);
    const file = path.join(home, 'opampctl.json');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ url: stack.api!.url, key: TEST_ADMIN_API_KEY });
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    await waitListed(sel('ok'), 3);
    const list = await cli(['agents', 'list', '-l', sel('ok'), '--status', 'connected']);
    expect(list.code, shown(list)).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^UID\s+SERVICE\s+VERSION\s+TYPE\s+HOST\s+STATUS/);
    expect(list.stdout.match(new RegExp(`${SUITE}-ok-main-\\d`, 'g'))).toHaveLength(3);

    // OPAMP_API_KEY wins over the stored key.
    const refused = await cli(['agents', 'list'], { OPAMP_API_KEY: 'opk_not_a_key_0000000000000000000000' });
    expect(refused.code, shown(refused)).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^error: .*\(HTTP 401\)$/m);
    const badLogin = await cli(['login', '--url', stack.api!.url, '--key', 'opk_not_a_key_0000000000000000000000'], {
      OPAMPCTL_CONFIG: path.join(home, 'other.json'),
    });
    expect(badLogin.code, shown(badLogin)).toBe(1);
    await expect(stat(path.join(home, 'other.json')), 'a refused key is not stored').rejects.toThrow(/ENOENT/);

    const usage = await cli(['rollouts', 'start', '--selector', 'a=b'], {}, REPO_BIN);
    expect(usage.code, shown(usage)).toBe(2);
    expect(usage.stderr).toContain("required option '--config <name[@version]>' not specified");

    const down = await cli(['agents', 'list'], { OPAMP_URL: 'http://127.0.0.1:1', OPAMP_API_KEY: 'k' });
    expect(down.code, shown(down)).toBe(1);
    expect(down.stderr).toContain('cannot reach http://127.0.0.1:1/api/v1/agents');
  });

  it('configs apply is idempotent; configs diff shows versions and what apply would change; plan and start --wait → 0', async () => {
    const name = `${SUITE}-ok`;
    const dir = path.join(home, 'ok');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'fluent-bit.conf'), fluentBit('stdout'));
    const first = await cli(['configs', 'apply', '-f', dir, '--name', name, '--type', 'fluentbit']);
    expect(first.code, shown(first)).toBe(0);
    expect(first.stdout).toContain(`config ${name} created (agent type fluentbit)`);
    expect(first.stdout).toMatch(new RegExp(`${name}@1 created`));
    const again = await cli(['configs', 'apply', '-f', dir, '--name', name]);
    expect(again.code, shown(again)).toBe(0);
    expect(again.stdout.trim()).toMatch(new RegExp(`^${name}@1 unchanged \\(hash [0-9a-f]{12}\\)$`));

    await writeFile(path.join(dir, 'fluent-bit.conf'), fluentBit('null'));
    const preview = await cli(['configs', 'diff', name, '--file', dir]);
    expect(preview.code, shown(preview)).toBe(0);
    expect(preview.stdout).toContain('changed    fluent-bit.conf  (+1 -1)');
    expect(preview.stdout).toContain('-    Name  stdout\n+    Name  null');
    const second = await cli(['configs', 'apply', '-f', dir, '--name', name]);
    expect(second.stdout, shown(second)).toMatch(new RegExp(`${name}@2 created`));
    const diff = await cli(['-o', 'json', 'configs', 'diff', name]);
    expect(diff.code, shown(diff)).toBe(0);
    expect(JSON.parse(diff.stdout)).toMatchObject({
      from: { version: 1 },
      to: { version: 2 },
      summary: { changed: 1, added: 0, removed: 0, unchanged: 0 },
    });

    const ramp = args`--first-wave 1 --max-wave 100% --soak 1`;
    const plan = await cli([...args`rollouts plan --config ${name} -l ${sel('ok')}`, ...ramp]);
    expect(plan.code, shown(plan)).toBe(0);
    expect(plan.stdout).toContain(`plan: ${name}@2`);
    expect(plan.stdout).toMatch(/all\s+-\s+auto\s+3\s+1, 2/);
    const none = await api.request<{ items: unknown[] }>('GET', `/api/v1/rollouts?config=${name}`);
    expect(none.body.items, 'a plan stores nothing').toEqual([]);

    const start = await cli([
      ...args`rollouts start --config ${name} -l ${sel('ok')} --wait --interval 500ms --timeout 60`,
      ...ramp,
    ]);
    expect(start.code, shown(start)).toBe(0);
    const lines = start.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^rollout [0-9a-f-]{36}: completed$/);
    expect(
      lines.some((l) => /^\[\s*\d+s\] running .*applied \d+\s+failed 0/.test(l)),
      shown(start),
    ).toBe(true);
    expect(
      lines.some((l) => /^\[\s*\d+s\] completed .*applied 3\s+failed 0\s+pending 0/.test(l)),
      shown(start),
    ).toBe(true);
  }, 60_000);

  it('a manual stage holds: --wait exits 3; promote --wait carries on to completed (0)', async () => {
    const name = `${SUITE}-staged`;
    await applied(name, 'stdout');
    await waitListed(sel('staged'), 3);
    const ref = `${name}@1`;
    const held = await cli(args`rollouts start --config ${ref} -l ${sel('staged')} --first-wave 100% --max-wave 100%
      --soak 1 --stage canary=tier=canary:manual --stage rest=tier=rest --wait --interval 500ms --timeout 60`);
    expect(held.code, shown(held)).toBe(3);
    expect(held.stdout).toMatch(/paused: waiting for promotion$/m);
    const id = ROLLOUT_ID.exec(held.stdout.split('\n')[0]!)![1]!;

    const promoted = await cli(['rollouts', 'promote', id, '--wait', '--interval', '500ms', '--timeout', '60']);
    expect(promoted.code, shown(promoted)).toBe(0);
    expect(promoted.stdout).toMatch(/stage 2\/2 rest/);
    const status = await cli(['-o', 'json', 'rollouts', 'status', id]);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'completed', counts: { applied: 3 } });
  }, 60_000);

  it('agents failing the config: the failure budget pauses it and --wait exits 4; abort --wait exits 4 too', async () => {
    const name = `${SUITE}-bad`;
    await applied(name, 'stdout');
    await waitListed(sel('bad'), 2);
    const r = await cli(args`rollouts start --config ${name} -l ${sel('bad')} --first-wave 1 --soak 1 --max-failures 0
      --wait --interval 500ms --timeout 60`);
    expect(r.code, shown(r)).toBe(4);
    expect(r.stdout).toMatch(/paused .*failed 1 .*\(failure budget exceeded/);
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/: failed: paused by the failure budget$/);
    const id = ROLLOUT_ID.exec(r.stdout)![1]!;
    const status = await cli(['-o', 'json', 'rollouts', 'status', id]);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'paused', pauseCause: 'budget' });

    const aborted = await cli(['rollouts', 'abort', id, '--reason', 'bad config', '--wait']);
    expect(aborted.code, shown(aborted)).toBe(4);
    expect(aborted.stdout).toMatch(/: aborted$/m);
  }, 60_000);

  it('a rollback by someone else while waiting: --wait exits 5', async () => {
    const name = `${SUITE}-rb`;
    await applied(name, 'stdout');
    await waitListed(sel('rb'), 2);
    const waiting = startCli(args`rollouts start --config ${name} -l ${sel('rb')} --first-wave 100% --max-wave 100%
      --soak 300 --wait --interval 500ms --timeout 60`);
    const id = ROLLOUT_ID.exec(await waiting.line(ROLLOUT_ID))![1]!;
    await waiting.line(/\] running .*applied 2/);
    const rb = await cli(['rollouts', 'rollback', id, '--reason', 'canary looks wrong']);
    expect(rb.code, shown(rb)).toBe(0);
    expect(rb.stdout).toContain(`rollout ${id}: rolling_back (canary looks wrong)`);
    const ended = await waiting.done;
    expect(ended.code, shown(ended)).toBe(5);
    // Two agents roll back within a poll or two: the wait sees rolling_back or already rolled_back.
    expect(ended.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^rollout ${id}: roll(ing|ed) back$`));
  }, 60_000);

  it('--timeout before the rollout ends: exit 6', async () => {
    const name = `${SUITE}-slow`;
    await applied(name, 'stdout');
    await waitListed(sel('slow'), 1);
    const r = await cli(
      args`rollouts start --config ${name} -l ${sel('slow')} --soak 600 --wait --timeout 1 --interval 500ms`,
    );
    expect(r.code, shown(r)).toBe(6);
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/: timed out after 1s \(still running\)$/);
    const id = ROLLOUT_ID.exec(r.stdout)![1]!;
    expect((await cli(['rollouts', 'abort', id])).code).toBe(0);
    const listed = await cli(['rollouts', 'list', '--config', name]);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+${name}@1\\s+aborted`));
  }, 30_000);

  it('agents label (PATCH), commands send --wait and audit list', async () => {
    await waitListed(sel('cmd'), 1);
    const found = await cli(['-o', 'json', 'agents', 'list', '-l', sel('cmd')]);
    const uid = (JSON.parse(found.stdout) as { items: Array<{ uid: string }> }).items[0]!.uid;

    const label = await cli(['agents', 'label', uid, 'team=platform', 'tier-']);
    expect(label.code, shown(label)).toBe(0);
    const after = await cli(['-o', 'json', 'agents', 'list', '-l', `suite=${SUITE},team=platform`]);
    expect((JSON.parse(after.stdout) as { items: Array<{ uid: string }> }).items.map((a) => a.uid)).toEqual([uid]);

    // A custom command needs its type defined first (an admin setting the CLI does not cover).
    const type = `ping.${SUITE}`;
    const defined = await api.request('PUT', `/api/v1/command-types/${CAP}/${type}`, {
      parametersSchema: { type: 'object' },
      timeoutSeconds: 20,
    });
    expect(defined.status, JSON.stringify(defined.body)).toBe(201);
    const sent = await cli(args`commands send ${uid} --capability ${CAP} --type ${type} --params {"n":1}
      --wait --timeout 20`);
    expect(sent.code, shown(sent)).toBe(0);
    expect(sent.stdout).toMatch(/: succeeded/);

    const audit = await cli(['-o', 'json', 'audit', 'list', '--action', 'rollouts.create', '--since', '10m']);
    expect(audit.code, shown(audit)).toBe(0);
    expect((JSON.parse(audit.stdout) as { items: unknown[] }).items.length).toBeGreaterThanOrEqual(5);
  }, 30_000);
});
