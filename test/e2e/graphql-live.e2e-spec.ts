// Live updates end to end: simulated agents → gateway → fleet, a config and a rollout made through
// GraphQL mutations, the rollout worker driving the waves, and both live channels following it:
// a graphql-ws subscription to rolloutProgress and an SSE stream of /api/v1/events, which then
// resumes from a Last-Event-ID in the middle and gets exactly the rest again.
import { randomBytes } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SimulatedAgent } from '../../apps/simulator/src/index.js';
import { connectSse, type SseEvent, type SseStream } from '../../apps/api/src/testing/sse.js';
import { TEST_ADMIN_API_KEY, adminAuth } from '../support/env.js';
import { startApp, type RunningApp } from '../support/processes.js';
import { eventually } from '../support/wait.js';
import { SHARDS, metricValue, startStack, type Stack } from './helpers/stack.js';

const SUITE = `gl${randomBytes(3).toString('hex')}`;
const AGENTS = 6;

let stack: Stack;
let worker: RunningApp;
let ws: Client | undefined;
const agents: SimulatedAgent[] = [];
const streams: SseStream[] = [];

interface Progress {
  id: string;
  rolloutId: string;
  type: string;
  state: string;
  wave: number | null;
  counts: { applied: number } | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test reads nested data freely
async function gql(query: string, variables: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const res = await fetch(`${stack.api!.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...adminAuth() },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  expect(res.status).toBe(200);
  return body.data!;
}

beforeAll(async () => {
  stack = await startStack({ fleet: { FLEET_HEARTBEAT_INTERVAL_SECONDS: '1' } });
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
  for (let i = 0; i < AGENTS; i++) {
    const a = new SimulatedAgent({
      url: stack.opampWs,
      transport: 'ws',
      serviceName: 'fluent-bit',
      hostName: `${SUITE}-${i}`,
      labels: { suite: SUITE },
      applyDelayMs: 20,
    });
    agents.push(a);
    void a.start();
  }
}, 120_000);

afterAll(async () => {
  for (const s of streams) s.close();
  await ws?.dispose();
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  await worker?.stop('SIGTERM', 15_000).catch(() => undefined);
  await stack?.stop();
}, 60_000);

describe('live rollout progress', () => {
  it('graphql-ws and SSE both follow a rollout to completed; SSE resumes from Last-Event-ID', async () => {
    const selector = `suite=${SUITE}`;
    await eventually(
      async () => {
        const data = await gql(
          'query ($s: String) { agents(selector: $s, status: [connected], limit: 50) { items { uid } } }',
          { s: selector },
        );
        expect(data.agents.items).toHaveLength(AGENTS);
      },
      { timeoutMs: 30_000, intervalMs: 200, description: `${AGENTS} agents listed` },
    );
    const name = `${SUITE}-cfg`;
    await gql('mutation ($in: CreateConfigInput!) { createConfig(input: $in) { created } }', {
      in: { name, agentType: 'fluentbit' },
    });
    const version = await gql(
      'mutation ($c: String!, $f: [ConfigFileInput!]!) { addConfigVersion(config: $c, files: $f) { version { version hash } } }',
      {
        c: name,
        f: [
          {
            name: 'fluent-bit.conf',
            contentType: 'text/plain',
            content: '[INPUT]\n    Name dummy\n\n[OUTPUT]\n    Name  stdout\n    Match *\n',
          },
        ],
      },
    );
    const hash = version.addConfigVersion.version.hash as string;

    // Both channels listen before the rollout exists (it has no id yet): they filter by id on receipt.
    ws = createClient({
      url: `${stack.api!.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${TEST_ADMIN_API_KEY}` },
      retryAttempts: 0,
    });
    const subscription = ws.iterate<{ rolloutProgress: Progress }>({
      query: 'subscription { rolloutProgress { id rolloutId type state wave counts { applied } } }',
    });
    const sse = await connectSse(`${stack.api!.url}/api/v1/events?types=rollout`, adminAuth());
    expect(sse.status).toBe(200);
    streams.push(sse.stream!);
    // Both subscribers are registered with the api's live hub before the rollout is created.
    await eventually(async () => expect(await metricValue(stack.api!, 'opamp_api_live_subscribers')).toBe(2), {
      timeoutMs: 10_000,
      description: 'the graphql-ws and SSE subscribers to be registered',
    });

    const created = await gql(
      'mutation ($in: CreateRolloutInput!) { createRollout(input: $in) { id state plan { stages { waves } } } }',
      {
        in: {
          config: name,
          version: 1,
          selector,
          strategy: { firstWave: 2, growthFactor: 2, soakSeconds: 1, applyTimeoutSeconds: 30 },
        },
      },
    );
    const id = created.createRollout.id as string;
    const waves = (created.createRollout.plan.stages as Array<{ waves: number[] }>).flatMap((st) => st.waves);
    expect(waves.reduce((a, b) => a + b, 0)).toBe(AGENTS);
    expect(created.createRollout.state).toBe('running');

    const viaGraphql: Progress[] = [];
    for await (const r of subscription) {
      const p = r.data!.rolloutProgress;
      if (p.rolloutId !== id) continue;
      viaGraphql.push(p);
      if (p.type === 'completed') break;
    }
    const ofRollout = (e: SseEvent): Progress | undefined => {
      const p = JSON.parse(e.data) as Progress;
      return e.event === 'rollout' && p.rolloutId === id ? p : undefined;
    };
    const viaSse = (await sse.stream!.until((e) => ofRollout(e)?.type === 'completed', 30_000)).filter(ofRollout);

    // Every wave of the plan passes, and the rollout completes with every agent applied.
    const types = viaGraphql.map((p) => p.type);
    expect(types[0]).toBe('created');
    expect(types.filter((t) => t === 'wave_passed')).toHaveLength(waves.length);
    expect(types[types.length - 1]).toBe('completed');
    expect(viaGraphql[viaGraphql.length - 1]!.counts?.applied).toBe(AGENTS);
    // The same events, with the same ids, on both channels.
    expect(viaSse.map((e) => e.id)).toEqual(viaGraphql.map((p) => p.id));
    for (const a of agents) expect(Buffer.from(a.remoteConfigStatus.hash).toString('hex')).toBe(hash);

    // Resume from the first wave_passed: exactly the events after it, in order.
    const cut = viaGraphql.findIndex((p) => p.type === 'wave_passed');
    const resumed = await connectSse(`${stack.api!.url}/api/v1/events?types=rollout&rollout=${id}`, {
      ...adminAuth(),
      'last-event-id': viaGraphql[cut]!.id,
    });
    expect(resumed.status).toBe(200);
    streams.push(resumed.stream!);
    const rest: SseEvent[] = [];
    for (let i = cut + 1; i < viaGraphql.length; i++) rest.push(await resumed.stream!.next(5_000));
    expect(rest.map((e) => e.id)).toEqual(viaGraphql.slice(cut + 1).map((p) => p.id));
  }, 60_000);

  it('ends SSE streams and closes graphql-ws sockets (1001) when the api shuts down, without delaying its exit', async () => {
    const api = stack.api!;
    const before = await metricValue(api, 'opamp_api_live_subscribers');
    const sse = await connectSse(`${api.url}/api/v1/events`, adminAuth());
    expect(sse.status).toBe(200);
    streams.push(sse.stream!);
    const socket = new WebSocket(`${api.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { token: TEST_ADMIN_API_KEY } }));
    await new Promise((resolve) => socket.once('message', resolve)); // connection_ack
    socket.send(
      JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { agentChanged { id } }' } }),
    );
    await eventually(async () => expect(await metricValue(api, 'opamp_api_live_subscribers')).toBe(before + 2), {
      timeoutMs: 10_000,
    });

    const t0 = Date.now();
    await api.stop('SIGTERM', 15_000);
    const stopMs = Date.now() - t0;
    expect(await closed).toBe(1001);
    await sse.stream!.waitEnded(1_000);
    expect(stopMs, 'graceful stop with open live connections').toBeLessThan(5_000);
  }, 30_000);
});
