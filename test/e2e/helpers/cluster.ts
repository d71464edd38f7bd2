// Helpers for the multi-replica and fault e2e files: what Redis says about leases, routes and
// gateway presence (read through the key table of @opamp/bus, never re-spelled here), readiness
// probes, and small load generators that count every reply per message.
import { Redis } from 'ioredis';
import { RedisKeys, StreamKeys, uidHex } from '@opamp/bus';
import type { ServerToAgent } from '@opamp/proto';
import { SimulatedAgent, type SimulatedAgentOptions } from '../../../apps/simulator/src/simulated-agent.js';
import { a2s, description, postOpamp, uidText } from '../../support/opamp-raw-client.js';
import type { RunningApp } from '../../support/processes.js';
import { sleep, waitFor } from '../../support/wait.js';
import { newUid } from './agents.js';
import { hasFullStateFlag } from './opamp-assert.js';

// ---------------------------------------------------------------------------------------------
// Redis

export interface Route {
  gatewayId: string;
  connectionId: string;
}

/** Read-only view of the control plane's Redis keys. */
export class RedisView {
  readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, retryStrategy: () => 200 });
    this.redis.on('error', () => undefined);
  }

  /** shard → replica id holding its lease (absent when nobody does). */
  async leaseOwners(shards: number): Promise<Map<number, string>> {
    const keys = Array.from({ length: shards }, (_, s) => RedisKeys.shardLease(s));
    const values = await this.redis.mget(...keys);
    const out = new Map<number, string>();
    values.forEach((v, s) => v && out.set(s, v));
    return out;
  }

  /** Shards per owner, e.g. { replicaA: [0, 2], replicaB: [1, 3] }. */
  async leasesByOwner(shards: number): Promise<Record<string, number[]>> {
    const out: Record<string, number[]> = {};
    for (const [shard, owner] of await this.leaseOwners(shards)) (out[owner] ??= []).push(shard);
    for (const list of Object.values(out)) list.sort((a, b) => a - b);
    return out;
  }

  async route(uid: Uint8Array): Promise<Route | undefined> {
    const v = await this.redis.get(RedisKeys.route(uidHex(uid)));
    if (!v) return undefined;
    const [gatewayId = '', connectionId = ''] = v.split(' ');
    return { gatewayId, connectionId };
  }

  async gatewayAlive(gatewayId: string): Promise<boolean> {
    return (await this.redis.exists(RedisKeys.gatewayAlive(gatewayId))) === 1;
  }

  /** Remaining TTL of the gateway's presence key in ms (-2: gone). */
  async presenceTtlMs(gatewayId: string): Promise<number> {
    return this.redis.pttl(RedisKeys.gatewayAlive(gatewayId));
  }

  /**
   * True when the gateway's outbound stream exists without an expiry, i.e. would stay in Redis
   * for good. A reply that was still in flight when the gateway went away may recreate the
   * stream; every append sets its expiry, so it then disappears by itself.
   */
  async outboundStreamLingers(gatewayId: string): Promise<boolean> {
    return (await this.redis.pttl(StreamKeys.outbound(gatewayId))) === -1;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// Readiness

export async function readyStatus(app: RunningApp): Promise<number> {
  try {
    const res = await fetch(`${app.url}/readyz`, { signal: AbortSignal.timeout(3_000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

/** Waits until /readyz answers 200 (ready) or anything else (not ready); resolves with the ms it took. */
export async function waitReadiness(app: RunningApp, ready: boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  await waitFor(async () => ((await readyStatus(app)) === 200) === ready, {
    timeoutMs,
    intervalMs: 100,
    description: `${app.name} /readyz ${ready ? '200' : 'not 200'}`,
  });
  return Date.now() - t0;
}

// ---------------------------------------------------------------------------------------------
// Simulated agents (apps/simulator) spread over several gateways

export interface SimGroup {
  agents: SimulatedAgent[];
  /** Stops every agent (agent_disconnect + close), bounded. */
  stop(): Promise<void>;
}

/**
 * Starts `count` simulated agents; agent i uses endpoint i mod urls.length first and the others as
 * failover endpoints (and uid uids[i] when given). Resolves once each has had its first reply.
 */
export async function startSimAgents(
  count: number,
  urls: string[],
  opts: Partial<SimulatedAgentOptions> & Pick<SimulatedAgentOptions, 'transport'> & { uids?: Uint8Array[] },
): Promise<SimGroup> {
  const { uids, ...agentOpts } = opts;
  const agents: SimulatedAgent[] = [];
  for (let i = 0; i < count; i++) {
    const first = i % urls.length;
    const rotated = [...urls.slice(first), ...urls.slice(0, first)];
    agents.push(
      new SimulatedAgent({
        url: rotated[0]!,
        failoverUrls: rotated.slice(1),
        heartbeatSeconds: 30,
        backoff: { initialMs: 200, maxMs: 1_000, immediateJitterMs: 100 },
        serviceName: 'e2e-sim',
        ...agentOpts,
        uid: uids?.[i],
      }),
    );
  }
  const group: SimGroup = {
    agents,
    stop: async () => {
      await Promise.all(agents.map((a) => Promise.race([a.stop(), sleep(5_000)])));
    },
  };
  try {
    await Promise.all(
      agents.map(async (a) => {
        const first = a.waitFor('message', () => true, 30_000);
        await a.start();
        await first;
      }),
    );
  } catch (err) {
    await group.stop();
    throw err;
  }
  return group;
}

// ---------------------------------------------------------------------------------------------
// HTTP load: agents polling in a loop, one request at a time, every reply checked

export interface HttpLoopOptions {
  /** Endpoints (http://…/v1/opamp); agent i starts on i mod n and moves on after a failed request. */
  urls: string[];
  /** Pause between two polls of one agent. */
  intervalMs?: number;
  /** Toggle `health.healthy` on every message, so each one changes state (and writes an event). */
  flipHealth?: boolean;
  /** Per-request timeout (the gateway answers 503 after its reply timeout anyway). */
  timeoutMs?: number;
  name?: string;
}

export interface HttpLoopAgent {
  uid: Uint8Array;
  /** Next sequence number to send. */
  seq: bigint;
  /** Replies per sequence number (the loop moves on after the first 200 reply). */
  okReplies: Map<bigint, number>;
  /** Replies with ReportFullState (sequence numbers). */
  fullState: bigint[];
  /** Requests that got anything but 200 (status or error), then were resent. */
  retries: number;
  /** Sequence numbers that had to be resent (the server may have processed the first copy). */
  retriedSeqs: Set<bigint>;
  /** Messages that changed health (each should leave one health_changed event). */
  healthFlips: number;
  /** Failures other than 429/503/network (wrong uid, error_response...). */
  problems: string[];
  /** Every ServerToAgent received, in order. */
  replies: ServerToAgent[];
}

/**
 * N HTTP agents polling in a loop. Each sends seq 0 (full report) then seq 1, 2, ... with exactly
 * one request in flight; a request that fails (connection refused, 503 + Retry-After...) is resent
 * with the same seq to the next endpoint, as the simulator and the opamp-go client do. The loop
 * records every reply, so a test can assert that each message was answered once and that no
 * ReportFullState came out of a fault.
 */
export class HttpLoad {
  readonly agents: HttpLoopAgent[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    count: number,
    private readonly opts: HttpLoopOptions,
  ) {
    for (let i = 0; i < count; i++) {
      this.agents.push({
        uid: newUid(),
        seq: 0n,
        okReplies: new Map(),
        fullState: [],
        retries: 0,
        retriedSeqs: new Set(),
        healthFlips: 0,
        problems: [],
        replies: [],
      });
    }
  }

  /** Starts every loop; resolves once each agent's first message (seq 0) was answered. */
  async start(): Promise<void> {
    this.running = true;
    this.loops = this.agents.map((a, i) => this.loop(a, i));
    await waitFor(() => this.agents.every((a) => a.seq > 0n), {
      timeoutMs: 30_000,
      description: 'every HTTP agent answered once',
    });
  }

  /** Total messages answered with 200. */
  get answered(): number {
    return this.agents.reduce((n, a) => n + a.okReplies.size, 0);
  }

  /** Resolves once every agent has had at least `n` more messages answered. */
  async progress(n: number, timeoutMs = 30_000): Promise<void> {
    const base = this.agents.map((a) => a.seq);
    await waitFor(() => this.agents.every((a, i) => a.seq >= base[i]! + BigInt(n)), {
      timeoutMs,
      description: `every HTTP agent answered ${n} more message(s)`,
    });
  }

  /** Stops sending after the message in flight of each agent is answered (or given up after 15 s). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.race([Promise.all(this.loops), sleep(15_000)]);
  }

  private async loop(a: HttpLoopAgent, index: number): Promise<void> {
    const urls = this.opts.urls;
    let target = index % urls.length;
    let healthy = true;
    let pending: Uint8Array | undefined;
    while (this.running) {
      if (!pending) {
        const msg =
          a.seq === 0n
            ? {
                instanceUid: a.uid,
                sequenceNum: 0n,
                capabilities: 0x801n, // ReportsStatus | ReportsHealth
                agentDescription: description(
                  { 'service.name': this.opts.name ?? 'e2e-http-load', 'service.instance.id': uidText(a.uid) },
                  { 'host.name': 'e2e-host' },
                ),
                health: { healthy, status: 'starting' },
              }
            : {
                instanceUid: a.uid,
                sequenceNum: a.seq,
                capabilities: 0x801n,
                ...(this.opts.flipHealth ? { health: { healthy: (healthy = !healthy), status: 'flip' } } : {}),
              };
        pending = a2s(msg);
        if (this.opts.flipHealth && a.seq > 0n) a.healthFlips++;
      }
      let status: number;
      let reply: ServerToAgent | undefined;
      try {
        const res = await postOpamp(urls[target]!, pending, { timeoutMs: this.opts.timeoutMs ?? 20_000 });
        status = res.status;
        reply = res.serverToAgent;
      } catch {
        status = 0; // connection refused or reset, timeout
      }
      if (status !== 200 || !reply) {
        a.retries++;
        a.retriedSeqs.add(a.seq);
        target = (target + 1) % urls.length;
        await sleep(100);
        continue;
      }
      a.replies.push(reply);
      if (uidText(reply.instanceUid) !== uidText(a.uid)) a.problems.push(`seq ${a.seq}: reply for another uid`);
      if (reply.errorResponse) a.problems.push(`seq ${a.seq}: error_response ${reply.errorResponse.errorMessage}`);
      if (hasFullStateFlag(reply)) a.fullState.push(a.seq);
      a.okReplies.set(a.seq, (a.okReplies.get(a.seq) ?? 0) + 1);
      a.seq += 1n;
      pending = undefined;
      if (this.opts.intervalMs) await sleep(this.opts.intervalMs);
    }
  }
}
