// One real control plane per e2e file: fleet + gateway(s) + api as child processes against the
// test Redis and Postgres (test/support/global-setup.ts), plus small helpers to read what the
// API stores about an agent. No mocks anywhere.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { startApp, type RunningApp } from '../../support/processes.js';
import { adminAuth } from '../../support/env.js';
import { uidText } from '../../support/opamp-raw-client.js';
import { eventually, type WaitOptions } from '../../support/wait.js';

/** Same shard count for every app of every stack (must agree between gateway and fleet). */
export const SHARDS = '4';

export interface StackOptions {
  /** Extra gateway env (e.g. size limits). */
  gateway?: Record<string, string>;
  /** Extra fleet env; `false` to run without a fleet. */
  fleet?: Record<string, string> | false;
  /** Extra api env; `false` to run without the api. */
  api?: Record<string, string> | false;
}

export interface Stack {
  gateway: RunningApp;
  fleet: RunningApp | undefined;
  api: RunningApp | undefined;
  /** http://127.0.0.1:<port>/v1/opamp */
  opampHttp: string;
  /** ws://127.0.0.1:<port>/v1/opamp */
  opampWs: string;
  fleetEnv: Record<string, string>;
  /** Starts one more gateway (own env) against the same Redis/fleet; stopped with the stack. */
  addGateway(env?: Record<string, string>): Promise<RunningApp>;
  /** Starts one more fleet replica (the stack's fleet env plus `env`); stopped with the stack. */
  addFleet(env?: Record<string, string>): Promise<RunningApp>;
  /** Starts one more api replica; stopped with the stack. */
  addApi(env?: Record<string, string>): Promise<RunningApp>;
  /** Stops the fleet gracefully and starts a new one with the same env. */
  restartFleet(): Promise<RunningApp>;
  stop(): Promise<void>;
}

export const baseFleetEnv = (): Record<string, string> => ({
  OPAMP_SHARDS: SHARDS,
  FLEET_FLUSH_INTERVAL_MS: '100',
  // By default a bare heartbeat writes no row (last_seen at most every 300 s), so the stored
  // sequenceNum would lag by design. 0 persists every message, so the API shows the latest seq.
  FLEET_LAST_SEEN_PERSIST_SECONDS: '0',
  LOG_LEVEL: 'warn',
});

/** The api of a test stack: no rate limit (load tests post back to back with one key). */
export const baseApiEnv = (): Record<string, string> => ({
  OPAMP_SHARDS: SHARDS,
  LOG_LEVEL: 'warn',
  API_RATE_LIMIT_PER_MINUTE: '0',
});

export const baseGatewayEnv = (): Record<string, string> => ({
  OPAMP_SHARDS: SHARDS,
  GATEWAY_HTTP_REPLY_TIMEOUT_MS: '8000',
  LOG_LEVEL: 'warn',
});

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const fleetEnv = { ...baseFleetEnv(), ...(opts.fleet || {}) };
  const started: RunningApp[] = [];
  try {
    // The fleet first, so replies flow as soon as the gateway takes traffic.
    let fleet = opts.fleet === false ? undefined : await startApp('fleet', fleetEnv, { timeoutMs: 60_000 });
    if (fleet) started.push(fleet);
    const [gateway, api] = await Promise.all([
      startApp('gateway', { ...baseGatewayEnv(), ...(opts.gateway ?? {}) }, { timeoutMs: 60_000 }),
      opts.api === false
        ? Promise.resolve(undefined)
        : startApp('api', { ...baseApiEnv(), ...(opts.api ?? {}) }, { timeoutMs: 60_000 }),
    ]);
    started.push(gateway);
    if (api) started.push(api);
    const host = `127.0.0.1:${gateway.port}`;
    const stack: Stack = {
      gateway,
      get fleet() {
        return fleet;
      },
      api,
      opampHttp: `http://${host}/v1/opamp`,
      opampWs: `ws://${host}/v1/opamp`,
      fleetEnv,
      async addGateway(env = {}) {
        const gw = await startApp('gateway', { ...baseGatewayEnv(), ...env }, { timeoutMs: 60_000 });
        started.push(gw);
        return gw;
      },
      async addFleet(env = {}) {
        const f = await startApp('fleet', { ...fleetEnv, ...env }, { timeoutMs: 60_000 });
        started.push(f);
        return f;
      },
      async addApi(env = {}) {
        const a = await startApp('api', { ...baseApiEnv(), ...env }, { timeoutMs: 60_000 });
        started.push(a);
        return a;
      },
      async restartFleet() {
        if (fleet) {
          await fleet.stop('SIGTERM');
          started.splice(started.indexOf(fleet), 1);
        }
        fleet = await startApp('fleet', fleetEnv, { timeoutMs: 60_000 });
        started.push(fleet);
        return fleet;
      },
      async stop() {
        // Gateways and api first, the fleet last (it flushes the write-behind on SIGTERM).
        const order = [...started].sort((a, b) => Number(a.name === 'fleet') - Number(b.name === 'fleet'));
        for (const app of order) await app.stop('SIGTERM', 15_000).catch(() => undefined);
      },
    } as Stack;
    return stack;
  } catch (err) {
    for (const app of started) await app.kill9().catch(() => undefined);
    throw err;
  }
}

/** True while the process has not exited. */
export async function isAlive(app: RunningApp): Promise<boolean> {
  const state = await Promise.race([
    app.exited.then(() => 'exited'),
    new Promise((r) => setTimeout(() => r('alive'), 20)),
  ]);
  return state === 'alive';
}

/** Asserts that the app process is alive and its /healthz answers 200. */
export async function expectHealthy(app: RunningApp): Promise<void> {
  expect(await isAlive(app), `${app.name} process must still be running`).toBe(true);
  const res = await fetch(`${app.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
  expect(res.status, `${app.name} /healthz`).toBe(200);
  await res.body?.cancel();
}

/** Sum of a Prometheus metric's samples on an app's /metrics (0 when absent). Labels are matched as given. */
export async function metricValue(app: RunningApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${app.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

// ---------------------------------------------------------------------------------------------
// API access

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** Loose view of the agent resource; fields are checked by the tests that rely on them. */
export interface AgentView {
  uid: string;
  connectionState: string;
  /** `{ value: "<decimal>", hex, names }` in this API; read with big(). */
  capabilities: number | string | { value: string; hex?: string; names?: string[] };
  sequenceNum: number | string | null;
  description?: { identifying?: Record<string, unknown>; nonIdentifying?: Record<string, unknown> } | null;
  transport?: string | null;
  [key: string]: unknown;
}

export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        Accept: 'application/json',
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...this.headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  /** GET /api/v1/agents/{uid}: the agent, or undefined on 404. */
  async agent(uid: Uint8Array | string): Promise<AgentView | undefined> {
    const id = typeof uid === 'string' ? uid : uidText(uid);
    const res = await this.request<AgentView & { data?: AgentView }>('GET', `/api/v1/agents/${id}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET /api/v1/agents/${id} → ${res.status} ${JSON.stringify(res.body)}`);
    // Accept both a bare resource and a `{ data: resource }` wrapper.
    const body = res.body as unknown as Record<string, unknown>;
    const inner = body.data;
    return (inner && typeof inner === 'object' && !('uid' in body) ? inner : body) as AgentView;
  }

  /** Polls GET /api/v1/agents/{uid} until `check` (assertions) passes; returns the last view. */
  async waitAgent(
    uid: Uint8Array | string,
    check: (agent: AgentView) => void,
    opts: WaitOptions = {},
  ): Promise<AgentView> {
    return eventually(
      async () => {
        const agent = await this.agent(uid);
        expect(agent, `agent ${typeof uid === 'string' ? uid : uidText(uid)} should exist in the API`).toBeDefined();
        check(agent!);
        return agent!;
      },
      { timeoutMs: 10_000, intervalMs: 100, ...opts },
    );
  }

  /** GET /api/v1/agents/{uid}/events (newest first), first page of up to 100. */
  async events(uid: Uint8Array): Promise<Array<{ type: string; at: string; data: Record<string, unknown> }>> {
    const res = await this.request<{ items: Array<{ type: string; at: string; data: Record<string, unknown> }> }>(
      'GET',
      `/api/v1/agents/${uidText(uid)}/events?limit=100`,
    );
    if (res.status !== 200) throw new Error(`GET events → ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.items;
  }

  restart(uid: Uint8Array): Promise<ApiResponse> {
    return this.request('POST', `/api/v1/agents/${uidText(uid)}/restart`);
  }

  customMessage(uid: Uint8Array, msg: { capability: string; type: string; data: Uint8Array }): Promise<ApiResponse> {
    return this.request('POST', `/api/v1/agents/${uidText(uid)}/custom-messages`, {
      capability: msg.capability,
      type: msg.type,
      data: Buffer.from(msg.data).toString('base64'),
    });
  }
}

/** A client of the stack's api; it sends the test admin key unless `headers` set `authorization`. */
export function apiFor(stack: Stack, headers: Record<string, string> = {}): Api {
  if (!stack.api) throw new Error('this stack runs without the api');
  return new Api(stack.api.url, { ...adminAuth(), ...headers });
}

/** Stored 64-bit fields: numbers, decimal strings, or `{ value: "<decimal>" }` (capabilities view). */
export function big(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (value && typeof value === 'object' && 'value' in value) return big((value as { value: unknown }).value);
  if (typeof value === 'number') return BigInt(value);
  if (typeof value === 'string' && value !== '') return BigInt(value);
  throw new Error(`not an integer: ${JSON.stringify(value)}`);
}

/** The identifying attributes of a stored description as a plain map. */
export function identifying(agent: AgentView): Record<string, unknown> {
  return (agent.description?.identifying ?? {}) as Record<string, unknown>;
}
