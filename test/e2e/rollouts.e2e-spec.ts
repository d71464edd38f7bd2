// Staged, ramped rollouts end to end: simulated agents (WS and HTTP) → gateway → Redis → fleet
// → Postgres, the api creating configs and rollouts, and the rollout worker (BullMQ) driving the
// waves. Everything real; only the clock is sped up (soak 1 s, flush 100 ms, worker tick fast).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { AgentCapabilities, RemoteConfigStatuses, createOpAMPClient } from '@elastic/opamp-client-node';
import { SimulatedAgent, type SimulatedAgentOptions } from '../../apps/simulator/src/index.js';
import { startApp, type RunningApp } from '../support/processes.js';
import { eventually, waitFor } from '../support/wait.js';
import { apiFor, SHARDS, startStack, type Api, type Stack } from './helpers/stack.js';

const WORKER_ENV = {
  OPAMP_SHARDS: SHARDS,
  LOG_LEVEL: 'warn',
  ROLLOUT_WORKER_TICK_MS: '200',
  ROLLOUT_WORKER_SWEEP_INTERVAL_MS: '1000',
};

let stack: Stack;
let api: Api;
let worker: RunningApp;
const agents: SimulatedAgent[] = [];
/** Isolates this file's agents from other e2e files sharing the database. */
const SUITE = `ro${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  // 1 s heartbeats: HTTP agents poll every second, so "on their next poll" is quick.
  stack = await startStack({ fleet: { FLEET_HEARTBEAT_INTERVAL_SECONDS: '1' } });
  api = apiFor(stack);
  worker = await startApp('rollout-worker', WORKER_ENV, { timeoutMs: 60_000 });
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  await worker?.stop('SIGTERM', 15_000).catch(() => undefined);
  await stack?.stop();
}, 60_000);

interface WaveView {
  index: number;
  stage: number;
  size: number;
  state: string;
  direction?: string;
  startedAt: string | null;
  finishedAt: string | null;
  counts: Record<'pending' | 'applying' | 'applied' | 'failed' | 'timed_out' | 'skipped', number>;
}

interface RolloutView {
  id: string;
  state: string;
  reason: string | null;
  stageIndex?: number;
  plan: {
    targets: number;
    stages: Array<{ name: string; agents: number; waves: number[] }>;
    excluded: Record<string, number>;
  };
  waves: WaveView[];
  counts: WaveView['counts'];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function startAgents(n: number, group: string, opts: Partial<SimulatedAgentOptions> = {}): SimulatedAgent[] {
  const started: SimulatedAgent[] = [];
  for (let i = 0; i < n; i++) {
    const a = new SimulatedAgent({
      url: opts.transport === 'http' ? stack.opampHttp : stack.opampWs,
      transport: 'ws',
      serviceName: 'fluent-bit',
      hostName: `${SUITE}-${group}-${i}`,
      labels: { suite: SUITE, group },
      applyDelayMs: 20,
      ...opts,
    });
    started.push(a);
    void a.start();
  }
  agents.push(...started);
  return started;
}

/** Waits until the api lists `n` connected agents for the selector (so the write-behind has them). */
async function waitListed(selector: string, n: number): Promise<void> {
  await eventually(
    async () => {
      const res = await api.request<{ items: unknown[] }>(
        'GET',
        `/api/v1/agents?selector=${encodeURIComponent(selector)}&status=connected&limit=500`,
      );
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBe(n);
    },
    { timeoutMs: 30_000, intervalMs: 200, description: `${n} agents for ${selector}` },
  );
}

async function createConfig(name: string, versions: string[]): Promise<Array<{ version: number; hash: string }>> {
  const c = await api.request('POST', '/api/v1/configs', { name, agentType: 'fluentbit', description: 'e2e' });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  const out: Array<{ version: number; hash: string }> = [];
  for (const body of versions) {
    const v = await api.request<{ version: number; hash: string }>('POST', `/api/v1/configs/${name}/versions`, {
      files: [{ name: 'fluent-bit.conf', contentType: 'text/plain', content: body }],
    });
    expect(v.status, JSON.stringify(v.body)).toBe(201);
    out.push(v.body);
  }
  return out;
}

const config = (output: string): string =>
  `[SERVICE]\n    Flush 1\n\n[INPUT]\n    Name dummy\n    Tag  e2e\n\n[OUTPUT]\n    Name  ${output}\n    Match *\n`;

async function rollout(id: string): Promise<RolloutView> {
  const res = await api.request<RolloutView>('GET', `/api/v1/rollouts/${id}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function waitRollout(id: string, states: string[], timeoutMs = 60_000): Promise<RolloutView> {
  return waitFor(
    async () => {
      const r = await rollout(id);
      return states.includes(r.state) ? r : undefined;
    },
    { timeoutMs, intervalMs: 200, description: `rollout ${id} to reach ${states.join('|')}` },
  );
}

async function startRollout(body: Record<string, unknown>): Promise<RolloutView> {
  const res = await api.request<RolloutView>('POST', '/api/v1/rollouts', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const forward = (r: RolloutView): WaveView[] =>
  r.waves.filter((w) => (w.direction ?? 'forward') === 'forward').sort((a, b) => a.index - b.index);

function expectWavesInOrder(waves: WaveView[]): void {
  for (let i = 1; i < waves.length; i++) {
    const prev = waves[i - 1]!;
    const cur = waves[i]!;
    expect(prev.finishedAt, `wave ${prev.index} finished`).not.toBeNull();
    expect(cur.startedAt, `wave ${cur.index} started`).not.toBeNull();
    expect(Date.parse(cur.startedAt!), `wave ${cur.index} starts after wave ${prev.index} ends`).toBeGreaterThanOrEqual(
      Date.parse(prev.finishedAt!),
    );
  }
}

describe('rollouts', () => {
  it('a 200-agent rollout runs in waves of the strategy sizes, in order, to completed; later agents get it too', async () => {
    const fleet = startAgents(200, 'ramp');
    const selector = `suite=${SUITE},group=ramp`;
    await waitListed(selector, 200);
    const [v1] = await createConfig(`${SUITE}-ramp`, [config('stdout')]);
    const strategy = { firstWave: 10, growthFactor: 2, maxWave: 80, soakSeconds: 1, applyTimeoutSeconds: 30 };

    const dry = await api.request<RolloutView>('POST', '/api/v1/rollouts', {
      config: `${SUITE}-ramp`,
      version: 1,
      selector,
      strategy,
      dryRun: true,
    });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.plan.targets).toBe(200);
    expect(dry.body.plan.stages.map((s) => s.waves)).toEqual([[10, 20, 40, 80, 50]]);
    const listed = await api.request<{ items: unknown[] }>('GET', `/api/v1/rollouts?config=${SUITE}-ramp`);
    expect(listed.body.items, 'a dry run stores nothing').toEqual([]);

    const created = await startRollout({ config: `${SUITE}-ramp`, version: 1, selector, strategy });
    expect(created.state).toBe('running');
    const done = await waitRollout(created.id, ['completed', 'paused', 'aborted']);
    expect(done.state, done.reason ?? '').toBe('completed');
    const waves = forward(done);
    expect(waves.map((w) => w.size)).toEqual([10, 20, 40, 80, 50]);
    expect(waves.map((w) => w.counts.applied)).toEqual([10, 20, 40, 80, 50]);
    expectWavesInOrder(waves);

    for (const a of fleet) {
      expect(hex(a.remoteConfigStatus.hash)).toBe(v1!.hash);
      // A heartbeat crossing the push may be answered with the config again (§3.6: the reported hash
      // still differs); the agent applies it once.
      expect(a.stats.configsApplied, 'each agent applies the config exactly once').toBe(1);
    }

    // Agents that enrol after completion and match the selector get the config (followNewAgents).
    const late = startAgents(3, 'ramp', { transport: 'http', heartbeatSeconds: 1 });
    await eventually(
      () => {
        for (const a of late) expect(hex(a.remoteConfigStatus.hash)).toBe(v1!.hash);
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'late agents receive the completed rollout config' },
    );
  }, 150_000);

  it('pauses inside the failure budget and says why; rollback restores the previous hash; a FAILED hash is not re-offered', async () => {
    const marker = 'Retry_Limit  no_limits_typo';
    // Every 10th agent rejects configs containing the marker (a config bad for some agents only).
    const fleet = Array.from({ length: 100 }, (_, i) =>
      startAgents(1, 'budget', i % 10 === 0 ? { failConfig: true, failConfigMatching: marker } : {}),
    ).flat();
    const selector = `suite=${SUITE},group=budget`;
    await waitListed(selector, 100);
    const name = `${SUITE}-budget`;
    const [v1, v2] = await createConfig(name, [config('stdout'), config(`stdout\n    ${marker}`)]);
    const quick = { soakSeconds: 1, applyTimeoutSeconds: 30, growthFactor: 2 };

    const first = await startRollout({ config: name, version: 1, selector, strategy: { ...quick, firstWave: 50 } });
    expect((await waitRollout(first.id, ['completed', 'paused'])).state).toBe('completed');

    const bad = await startRollout({
      config: name,
      version: 2,
      selector,
      strategy: { ...quick, firstWave: 10, maxFailurePercent: 5 },
    });
    const paused = await waitRollout(bad.id, ['paused', 'completed']);
    expect(paused.state).toBe('paused');
    expect(paused.reason).toMatch(/fail/i);
    expect(paused.reason).toMatch(/5 ?%/);
    const failed = paused.counts.failed + paused.counts.timed_out;
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(failed, 'stops long before all 10 bad agents are hit').toBeLessThan(10);
    expect(paused.counts.pending, 'most of the fleet was never touched').toBeGreaterThan(50);

    const touched = fleet.filter((a) => hex(a.remoteConfigStatus.hash) === v2!.hash);
    expect(touched.length).toBeGreaterThan(0);
    const rb = await api.request('POST', `/api/v1/rollouts/${bad.id}/rollback`);
    expect(rb.status, JSON.stringify(rb.body)).toBe(200);
    const rolledBack = await waitRollout(bad.id, ['rolled_back']);
    expect(rolledBack.reason ?? '').not.toBe('');
    await eventually(
      () => {
        for (const a of fleet) expect(hex(a.remoteConfigStatus.hash), 'every agent back on v1').toBe(v1!.hash);
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    // v2 again: the agents that reported FAILED for it are quarantined, excluded and never re-offered.
    const badAgents = fleet.filter((a) => a.stats.configsFailed > 0);
    const receivedBefore = badAgents.map((a) => a.stats.configsReceived);
    // The bad agents not reached the first time fail now (~8 %), inside a 20 % budget.
    const retry = await startRollout({
      config: name,
      version: 2,
      selector,
      strategy: { ...quick, firstWave: 50, maxFailurePercent: 20 },
    });
    expect(retry.plan.excluded.quarantined).toBe(badAgents.length);
    const retried = await waitRollout(retry.id, ['completed', 'paused']);
    expect(retried.state, retried.reason ?? '').toBe('completed');
    expect(badAgents.map((a) => a.stats.configsReceived)).toEqual(receivedBefore);
  }, 180_000);

  it('stages promote in order; a manual stage holds until promoted; HTTP agents get the config on their next poll', async () => {
    const tiers = { test: 4, staging: 6, prod: 10 };
    for (const [tier, n] of Object.entries(tiers))
      startAgents(n, 'staged', {
        transport: 'http',
        heartbeatSeconds: 1,
        labels: { suite: SUITE, group: 'staged', tier },
      });
    const selector = `suite=${SUITE},group=staged`;
    await waitListed(selector, 20);
    const name = `${SUITE}-staged`;
    const [v1] = await createConfig(name, [config('stdout')]);
    const r = await startRollout({
      config: name,
      version: 1,
      selector,
      strategy: {
        firstWave: 2,
        soakSeconds: 1,
        applyTimeoutSeconds: 30,
        stages: [
          { name: 'test', selector: 'tier=test' },
          { name: 'staging', selector: 'tier=staging', promotion: 'manual' },
          { name: 'prod', selector: 'tier=prod' },
        ],
      },
    });
    expect(r.plan.stages.map((s) => [s.name, s.agents])).toEqual([
      ['test', 4],
      ['staging', 6],
      ['prod', 10],
    ]);
    const held = await waitRollout(r.id, ['paused', 'completed']);
    expect(held.state).toBe('paused');
    expect(held.reason).toMatch(/promot/i);
    const byStage = (v: RolloutView, stage: number) => forward(v).filter((w) => w.stage === stage);
    expect(byStage(held, 2).every((w) => w.counts.pending === w.size)).toBe(true);
    expect(byStage(held, 0).every((w) => w.counts.applied === w.size)).toBe(true);
    expect(byStage(held, 1).every((w) => w.counts.applied === w.size)).toBe(true);

    const promoted = await api.request('POST', `/api/v1/rollouts/${r.id}/promote`);
    expect(promoted.status, JSON.stringify(promoted.body)).toBe(200);
    const done = await waitRollout(r.id, ['completed', 'paused']);
    expect(done.state, done.reason ?? '').toBe('completed');
    expectWavesInOrder(forward(done));
    const applied = await api.request<{ items: Array<{ remoteConfigStatus?: { lastRemoteConfigHash?: string } }> }>(
      'GET',
      `/api/v1/agents?selector=${encodeURIComponent(selector)}&limit=100`,
    );
    expect(applied.body.items.map((a) => a.remoteConfigStatus?.lastRemoteConfigHash)).toEqual(Array(20).fill(v1!.hash));
  }, 150_000);

  it('a worker killed mid-rollout resumes where it was: every agent is sent the config once', async () => {
    const fleet = startAgents(60, 'crash');
    const selector = `suite=${SUITE},group=crash`;
    await waitListed(selector, 60);
    const name = `${SUITE}-crash`;
    const [v1] = await createConfig(name, [config('stdout')]);
    const r = await startRollout({
      config: name,
      version: 1,
      selector,
      strategy: { firstWave: 5, growthFactor: 2, maxWave: 100, soakSeconds: 2, applyTimeoutSeconds: 30 },
    });
    await waitFor(async () => forward(await rollout(r.id)).some((w) => w.index >= 1 && w.counts.applied > 0), {
      timeoutMs: 30_000,
      description: 'second wave under way',
    });
    await worker.kill9();
    worker = await startApp('rollout-worker', WORKER_ENV, { timeoutMs: 60_000 });
    const done = await waitRollout(r.id, ['completed', 'paused']);
    expect(done.state, done.reason ?? '').toBe('completed');
    expect(forward(done).map((w) => w.size)).toEqual([5, 10, 20, 25]);
    expectWavesInOrder(forward(done));
    for (const a of fleet) {
      expect(hex(a.remoteConfigStatus.hash)).toBe(v1!.hash);
      expect(a.stats.configsApplied, 'no agent is targeted twice').toBe(1);
    }
  }, 150_000);

  it('refuses a rollout that overlaps a running one and names it', async () => {
    startAgents(10, 'overlap');
    const selector = `suite=${SUITE},group=overlap`;
    await waitListed(selector, 10);
    const name = `${SUITE}-overlap`;
    await createConfig(name, [config('stdout'), config('null')]);
    const slow = await startRollout({
      config: name,
      version: 1,
      selector,
      strategy: { firstWave: 1, growthFactor: 2, soakSeconds: 30 },
    });
    const res = await api.request<{ detail: string; type?: string }>('POST', '/api/v1/rollouts', {
      config: name,
      version: 2,
      selector: `${selector},host.name=${SUITE}-overlap-3`,
    });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.detail).toContain(slow.id);
    const abort = await api.request('POST', `/api/v1/rollouts/${slow.id}/abort`);
    expect(abort.status).toBe(200);
    expect((await waitRollout(slow.id, ['aborted'])).state).toBe('aborted');
    const after = await api.request('POST', '/api/v1/rollouts', { config: name, version: 2, selector, dryRun: true });
    expect(after.status, 'an aborted rollout releases its agents').toBe(200);
  }, 120_000);

  it('interop: @elastic/opamp-client-node with AcceptsRemoteConfig receives the config and its APPLIED shows in the rollout', async () => {
    const received: Array<{ hash: string; files: string[] }> = [];
    const client = createOpAMPClient({
      endpoint: stack.opampHttp,
      capabilities: BigInt(
        Number(AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig) |
          Number(AgentCapabilities.AgentCapabilities_ReportsRemoteConfig),
      ),
      heartbeatIntervalSeconds: 0.3,
      onMessage: ({ remoteConfig }) => {
        if (!remoteConfig) return;
        received.push({ hash: hex(remoteConfig.configHash), files: Object.keys(remoteConfig.config?.configMap ?? {}) });
        // The independent client reports what it applied, as a real agent would.
        client.setRemoteConfigStatus({
          lastRemoteConfigHash: remoteConfig.configHash,
          status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
        });
      },
    });
    client.setAgentDescription({
      identifyingAttributes: { 'service.name': 'elastic-interop-rollout', 'service.version': '1.0.0' },
      nonIdentifyingAttributes: { suite: SUITE, group: 'elastic', 'host.name': `${SUITE}-elastic` },
    });
    client.start();
    try {
      const selector = `suite=${SUITE},group=elastic`;
      await waitListed(selector, 1);
      const name = `${SUITE}-elastic`;
      const c = await api.request('POST', '/api/v1/configs', { name, agentType: 'generic' });
      expect(c.status).toBe(201);
      const v = await api.request<{ version: number; hash: string }>('POST', `/api/v1/configs/${name}/versions`, {
        files: [{ name: 'agent.yaml', contentType: 'application/yaml', content: 'logging:\n  level: debug\n' }],
      });
      expect(v.status).toBe(201);
      const r = await startRollout({ config: name, version: 1, selector, strategy: { soakSeconds: 1 } });
      const done = await waitRollout(r.id, ['completed', 'paused']);
      expect(done.state, done.reason ?? '').toBe('completed');
      expect(done.counts.applied).toBe(1);
      expect(received[0]).toEqual({ hash: v.body.hash, files: ['agent.yaml'] });
      expect(new Set(received.map((x) => x.hash))).toEqual(new Set([v.body.hash]));
    } finally {
      await client.shutdown();
    }
  }, 90_000);
});
