// The command line end to end inside one process: argv → HTTP requests → output and exit code,
// against a scripted fetch (the e2e test runs the real binary against a real stack).
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Io } from './context.js';
import { run } from './program.js';

interface Call {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  auth: string | null;
}

type Handler = (call: Call) => { status: number; body?: unknown; problem?: boolean };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'opampctl-spec-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function harness(routes: Record<string, Handler>, env: Record<string, string> = {}) {
  const calls: Call[] = [];
  const out: string[] = [];
  const err: string[] = [];
  let t = Date.parse('2026-11-25T12:00:00Z');
  const io: Io = {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    env: {
      OPAMP_URL: 'http://api.test:8080',
      OPAMP_API_KEY: 'opk_test',
      OPAMPCTL_CONFIG: path.join(dir, 'c.json'),
      ...env,
    },
    home: dir,
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
    readStdin: async () => '',
    fetch: async (input, init) => {
      const url = new URL(input);
      const call: Call = {
        method: init.method ?? 'GET',
        path: url.pathname.replace(/^\/api\/v1/, ''),
        query: Object.fromEntries(url.searchParams),
        body: init.body ? JSON.parse(String(init.body)) : undefined,
        auth: new Headers(init.headers).get('authorization'),
      };
      calls.push(call);
      const handler = routes[`${call.method} ${call.path}`];
      const res = handler
        ? handler(call)
        : { status: 404, body: { title: 'Not found', detail: `no route ${call.path}` }, problem: true };
      return new Response(res.body === undefined ? null : JSON.stringify(res.body), {
        status: res.status,
        headers: { 'content-type': res.problem || res.status >= 400 ? 'application/problem+json' : 'application/json' },
      });
    },
  };
  return {
    calls,
    out,
    err,
    run: (...argv: string[]) => run(argv, io),
  };
}

const agent = {
  uid: '0192e3a4-5b6c-7d8e-9f01-23456789abcd',
  agentType: 'fluentbit',
  serviceName: 'fluent-bit',
  serviceVersion: '3.2.4',
  hostName: 'web-1',
  connectionState: 'connected',
  healthy: true,
  remoteConfigStatus: { status: 'APPLIED', lastRemoteConfigHash: 'ab'.repeat(32), errorMessage: '' },
  lastSeenAt: '2026-11-25T11:59:50Z',
  labels: { env: 'prod' },
};

describe('usage errors exit 2 with a message', () => {
  it.each([
    [['agents', 'list', '--bogus'], /unknown option '--bogus'/],
    [['nope'], /unknown command 'nope'/],
    [['rollouts', 'start', '--selector', 'a=b'], /required option '--config/],
    [['rollouts', 'plan', '--config', 'c', '--selector', '', '--first-wave', 'lots'], /--first-wave takes/],
    [['agents', 'label', agent.uid, 'oops'], /not a label change/],
    [['commands', 'send', '--capability', 'c', '--type', 't'], /an agent uid or --selector/],
    [['-o', 'yaml', 'agents', 'list'], /Allowed choices are table, json/],
  ])('%j', async (argv, message) => {
    const h = harness({});
    expect(await h.run(...argv)).toBe(2);
    expect(h.err.join('\n')).toMatch(message);
    expect(h.calls, 'nothing is sent').toEqual([]);
  });

  it('--help exits 0', async () => {
    const h = harness({});
    expect(await h.run('rollouts', 'start', '--help')).toBe(0);
    expect(h.out.join('\n')).toContain('--stage <name=selector[:manual]>');
  });
});

describe('agents', () => {
  it('list: filters become query parameters; a table by default; the API JSON with -o json', async () => {
    const page = { items: [agent], nextCursor: 'c2' };
    const h = harness({ 'GET /agents': () => ({ status: 200, body: page }) });
    const argv = [
      'agents',
      'list',
      '-l',
      'env=prod',
      '--status',
      'connected',
      '--health',
      'healthy',
      '--type',
      'fluentbit',
    ];
    expect(await h.run(...argv, '--q', 'web', '--sort', '-lastSeenAt', '--limit', '10')).toBe(0);
    expect(h.calls[0]).toMatchObject({
      method: 'GET',
      path: '/agents',
      query: {
        selector: 'env=prod',
        status: 'connected',
        health: 'healthy',
        agentType: 'fluentbit',
        q: 'web',
        sort: '-lastSeenAt',
        limit: '10',
      },
      auth: 'Bearer opk_test',
    });
    expect(h.out[0]!.split('\n')).toEqual([
      'UID                                   SERVICE     VERSION  TYPE       HOST   STATUS     HEALTH   CONFIG                LAST SEEN',
      '0192e3a4-5b6c-7d8e-9f01-23456789abcd  fluent-bit  3.2.4    fluentbit  web-1  connected  healthy  applied abababababab  10s ago',
    ]);
    expect(h.err.join('\n')).toContain('--cursor c2');

    const j = harness({ 'GET /agents': () => ({ status: 200, body: page }) });
    expect(await j.run('agents', 'list', '-o', 'json')).toBe(0);
    expect(JSON.parse(j.out.join('\n'))).toEqual(page);
  });

  it('list --all follows nextCursor', async () => {
    const h = harness({
      'GET /agents': (c) =>
        c.query.cursor === undefined
          ? { status: 200, body: { items: [agent], nextCursor: 'p2' } }
          : { status: 200, body: { items: [{ ...agent, uid: 'x' }], nextCursor: null } },
    });
    expect(await h.run('-o', 'json', 'agents', 'list', '--all')).toBe(0);
    expect(h.calls.map((c) => c.query.cursor)).toEqual([undefined, 'p2']);
    expect(JSON.parse(h.out[0]!).items).toHaveLength(2);
  });

  it('label: PATCH {set, remove}', async () => {
    const h = harness({
      [`PATCH /agents/${agent.uid}/labels`]: () => ({ status: 200, body: { uid: agent.uid, labels: { env: 'prod' } } }),
    });
    expect(await h.run('agents', 'label', agent.uid, 'env=prod', 'team-')).toBe(0);
    expect(h.calls[0]!.body).toEqual({ set: { env: 'prod' }, remove: ['team'] });
    expect(h.out.join('\n')).toContain('labels:  env=prod');
  });
});

describe('API errors exit 1 with one readable line', () => {
  it('problem+json: title, detail, status', async () => {
    const h = harness({
      'GET /agents': () => ({
        status: 401,
        body: {
          type: 'urn:opampcp:problem:unauthenticated',
          title: 'Unauthenticated',
          status: 401,
          detail: 'The API key is not valid.',
        },
      }),
    });
    expect(await h.run('agents', 'list')).toBe(1);
    expect(h.err).toEqual(['error: Unauthenticated: The API key is not valid. (HTTP 401)']);
  });

  it('no server configured', async () => {
    const h = harness({}, { OPAMP_URL: '', OPAMP_API_KEY: '' });
    expect(await h.run('agents', 'list')).toBe(1);
    expect(h.err[0]).toMatch(/no API URL: run "opampctl login/);
  });
});

describe('login', () => {
  it('checks the key with GET /me and stores url and key with mode 0600', async () => {
    const h = harness(
      { 'GET /me': () => ({ status: 200, body: { id: 'key:1', name: 'ci', role: 'operator' } }) },
      { OPAMP_URL: '', OPAMP_API_KEY: '' },
    );
    expect(await h.run('login', '--url', 'http://cp.example:8080/', '--key', 'opk_abc')).toBe(0);
    expect(h.calls[0]).toMatchObject({ path: '/me', auth: 'Bearer opk_abc' });
    const file = path.join(dir, 'c.json');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ url: 'http://cp.example:8080', key: 'opk_abc' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(h.out[0]).toBe(`Logged in to http://cp.example:8080 as ci (operator); saved to ${file}`);

    // Later commands use the stored login; OPAMP_API_KEY wins over it.
    const later = harness(
      { 'GET /agents': () => ({ status: 200, body: { items: [], nextCursor: null } }) },
      {
        OPAMP_URL: '',
        OPAMP_API_KEY: 'opk_env',
      },
    );
    expect(await later.run('agents', 'list')).toBe(0);
    expect(later.calls[0]).toMatchObject({ auth: 'Bearer opk_env' });
  });

  it('falls back to GET /agents?limit=1 when the server has no /me; a refused key stores nothing', async () => {
    const h = harness(
      { 'GET /agents': () => ({ status: 200, body: { items: [], nextCursor: null } }) },
      { OPAMP_URL: '' },
    );
    expect(await h.run('login', '--url', 'http://cp:1', '--key', 'k')).toBe(0);
    expect(h.calls.map((c) => `${c.path}?${new URLSearchParams(c.query)}`)).toEqual(['/me?', '/agents?limit=1']);

    await rm(path.join(dir, 'c.json'));
    const bad = harness({ 'GET /me': () => ({ status: 401, body: { title: 'Unauthenticated', detail: 'bad key' } }) });
    expect(await bad.run('login', '--url', 'http://cp:1', '--key', 'wrong')).toBe(1);
    await expect(stat(path.join(dir, 'c.json'))).rejects.toThrow(/ENOENT/);
  });
});

describe('configs apply', () => {
  const config = {
    name: 'web',
    agentType: 'fluentbit',
    description: null,
    versionCount: 1,
    latestVersion: { version: 1, hash: 'cd'.repeat(32), createdAt: '' },
  };

  it('creates a missing config, posts the files with content types from their extensions', async () => {
    await writeFile(path.join(dir, 'fluent-bit.conf'), '[INPUT]\n    Name dummy\n');
    await writeFile(path.join(dir, 'parsers.yaml'), 'parsers: []\n');
    await writeFile(path.join(dir, '.hidden'), 'skipped');
    const h = harness({
      'POST /configs': () => ({ status: 201, body: { ...config, versionCount: 0, latestVersion: null } }),
      'POST /configs/web/versions': () => ({
        status: 201,
        body: { config: 'web', version: 1, hash: 'cd'.repeat(32), created: true },
      }),
    });
    expect(await h.run('configs', 'apply', '-f', dir, '--name', 'web', '--type', 'fluentbit')).toBe(0);
    expect(h.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /configs/web',
      'POST /configs',
      'POST /configs/web/versions',
    ]);
    expect(h.calls[1]!.body).toEqual({ name: 'web', agentType: 'fluentbit' });
    expect(h.calls[2]!.body).toEqual({
      files: [
        { name: 'fluent-bit.conf', contentType: 'text/plain', content: '[INPUT]\n    Name dummy\n', encoding: 'utf8' },
        { name: 'parsers.yaml', contentType: 'application/yaml', content: 'parsers: []\n', encoding: 'utf8' },
      ],
    });
    expect(h.out.join('\n')).toBe('config web created (agent type fluentbit)\nweb@1 created (hash cdcdcdcdcdcd)');
  });

  it('unchanged when the API answers 200 with the existing version; needs --type only to create', async () => {
    const file = path.join(dir, 'web.conf');
    await writeFile(file, '[INPUT]\n    Name dummy\n');
    const h = harness({
      'GET /configs/web': () => ({
        status: 200,
        body: { ...config, versionCount: 2, latestVersion: { version: 2, hash: 'ef', createdAt: '' } },
      }),
      'POST /configs/web/versions': () => ({
        status: 200,
        body: { config: 'web', version: 1, hash: 'cd'.repeat(32), created: false },
      }),
    });
    expect(await h.run('configs', 'apply', '-f', file)).toBe(0);
    expect(h.out.join('\n')).toBe('web@1 unchanged (hash cdcdcdcdcdcd); note: the latest version is 2');

    const missing = harness({});
    expect(await missing.run('configs', 'apply', '-f', file)).toBe(1);
    expect(missing.err[0]).toMatch(/config "web" does not exist yet: add --type/);
  });
});

describe('rollouts', () => {
  const created = {
    id: 'r1',
    state: 'running',
    reason: null,
    config: { name: 'web' },
    version: { number: 3, hash: 'ab'.repeat(32) },
    selector: 'env=prod',
    plan: {
      targets: 10,
      stages: [
        { name: 'canary', selector: 'canary=true', promotion: 'manual', agents: 2, waves: [1, 1] },
        { name: 'rest', selector: '', promotion: 'auto', agents: 8, waves: [2, 4, 2] },
      ],
      excluded: { alreadyAtTarget: 1, inOtherRollout: 0 },
      minimumDurationSeconds: 150,
    },
  };

  it('plan: strategy flags become the strategy object; the latest version when none is given', async () => {
    const h = harness({
      'GET /configs/web': () => ({ status: 200, body: { name: 'web', latestVersion: { version: 3, hash: 'ab' } } }),
      'POST /rollouts': () => ({ status: 200, body: { ...created, id: null, state: 'planned', dryRun: true } }),
    });
    const argv = ['rollouts', 'plan', '--config', 'web', '-l', 'env=prod', '--first-wave', '1', '--factor', '2'];
    const more = [
      '--max-wave',
      '25%',
      '--soak',
      '1m',
      '--max-failures',
      '5%',
      '--on-failure',
      'rollback',
      '--no-follow-new-agents',
    ];
    const stages = ['--stage', 'canary=canary=true:manual', '--stage', 'rest='];
    expect(await h.run(...argv, ...more, ...stages)).toBe(0);
    expect(h.calls[1]!.body).toEqual({
      config: 'web',
      version: 3,
      selector: 'env=prod',
      dryRun: true,
      strategy: {
        firstWave: 1,
        growthFactor: 2,
        maxWave: '25%',
        soakSeconds: 60,
        maxFailurePercent: 5,
        onFailure: 'rollback',
        followNewAgents: false,
        stages: [
          { name: 'canary', selector: 'canary=true', promotion: 'manual' },
          { name: 'rest', selector: '', promotion: 'auto' },
        ],
      },
    });
    expect(h.out.join('\n').split('\n')).toEqual([
      'plan: web@3 (hash abababababab) to 10 agents matching "env=prod"',
      'STAGE   SELECTOR     PROMOTION  AGENTS  WAVES',
      'canary  canary=true  manual          2  1, 1',
      'rest    -            auto            8  2, 4, 2',
      'not targeted: 1 already at this version',
      "takes at least 2m30s (the waves' soak times)",
    ]);
  });

  it('start --wait: progress lines, then the exit code of the end state', async () => {
    let polls = 0;
    const states = ['running', 'running', 'paused'];
    const h = harness({
      'POST /rollouts': () => ({ status: 201, body: created }),
      'GET /rollouts/r1': () => ({
        status: 200,
        body: {
          ...created,
          state: states[Math.min(polls++, 2)],
          pauseCause: polls > 2 ? 'budget' : null,
          counts: { pending: 9, applying: 0, applied: 0, failed: polls > 2 ? 1 : 0, timed_out: 0, skipped: 0 },
        },
      }),
    });
    expect(await h.run('rollouts', 'start', '--config', 'web@3', '-l', 'env=prod', '--wait', '--interval', '1s')).toBe(
      4,
    );
    const progress = h.out.filter((l) => l.startsWith('['));
    expect(progress).toEqual([
      '[   0s] running  applied 0  failed 0  pending 9',
      '[   2s] paused  applied 0  failed 1  pending 9',
    ]);
    expect(h.out.at(-1)).toBe('rollout r1: failed: paused by the failure budget');
  });

  it('controls post {reason}; rollback --wait waits for rolled_back (exit 5)', async () => {
    const h = harness({
      'POST /rollouts/r1/rollback': () => ({ status: 200, body: { ...created, state: 'rolling_back', reason: 'bad' } }),
      'GET /rollouts/r1': () => ({ status: 200, body: { ...created, state: 'rolled_back', reason: 'bad' } }),
    });
    expect(await h.run('rollouts', 'rollback', 'r1', '--reason', 'bad', '--wait')).toBe(5);
    expect(h.calls[0]!.body).toEqual({ reason: 'bad' });
    expect(h.calls.map((c) => c.method)).toEqual(['POST', 'GET']);
  });

  it('status --wait --timeout: exit 6', async () => {
    const h = harness({ 'GET /rollouts/r1': () => ({ status: 200, body: created }) });
    expect(await h.run('rollouts', 'status', 'r1', '--wait', '--timeout', '5s')).toBe(6);
    expect(h.out.at(-1)).toBe('rollout r1: timed out after 5s (still running)');
  });
});

describe('commands', () => {
  it('send to one agent with JSON parameters; bulk by selector with --dry-run', async () => {
    const h = harness({
      [`POST /agents/${agent.uid}/commands`]: () => ({
        status: 202,
        body: { id: 'c1', agentUid: agent.uid, kind: 'custom', state: 'queued' },
      }),
      'POST /commands/bulk': () => ({
        status: 200,
        body: { dryRun: true, matched: 5, eligible: 4, ineligible: { noCapability: 1, offline: 0 } },
      }),
    });
    expect(
      await h.run('commands', 'send', agent.uid, '--capability', 'io.x', '--type', 'echo', '--params', '{"a":1}'),
    ).toBe(0);
    expect(h.calls[0]!.body).toEqual({ capability: 'io.x', type: 'echo', parameters: { a: 1 } });
    expect(
      await h.run('commands', 'send', '-l', 'env=prod', '--capability', 'io.x', '--type', 'echo', '--dry-run'),
    ).toBe(0);
    expect(h.calls[1]!.body).toEqual({
      selector: 'env=prod',
      command: { kind: 'custom', capability: 'io.x', type: 'echo' },
      dryRun: true,
    });
    expect(h.out.at(-1)).toBe('dry run: 5 matched, 4 would get it, 1 would not (noCapability 1)');
  });

  it('get --wait: exit 0 on succeeded, 4 on failed', async () => {
    for (const [state, code] of [
      ['succeeded', 0],
      ['failed', 4],
    ] as const) {
      let polls = 0;
      const h = harness({
        'GET /commands/c1': () => ({
          status: 200,
          body: { id: 'c1', agentUid: agent.uid, kind: 'restart', state: polls++ === 0 ? 'sent' : state },
        }),
      });
      expect(await h.run('commands', 'get', 'c1', '--wait')).toBe(code);
      expect(h.out).toEqual(['command c1: sent', `command c1: ${state}`]);
    }
  });
});
