// A benchmark client process: runs SimulatedAgents on the parent's orders (client-protocol.ts).
// Clients need CPU too, so the benchmark spreads them over a few of these instead of running
// them in its own event loop, where they would also delay its timing and polling.
//
// The worker exits when the IPC channel to the parent closes, so a benchmark that dies leaves
// no client behind.
import { performance } from 'node:perf_hooks';
import { HttpTransport } from '../../apps/simulator/src/http-transport.js';
import { SimulatedAgent } from '../../apps/simulator/src/simulated-agent.js';
import {
  TransportError,
  type AgentTransport,
  type TransportHandlers,
  type TransportOptions,
} from '../../apps/simulator/src/transport.js';
import { problemKind } from '../../apps/simulator/src/fleet.js';
import type {
  HttpRecord,
  LoopResult,
  SpawnRequest,
  WorkerEnvelope,
  WorkerRequest,
  WorkerResponse,
  WorkerStatus,
} from './client-protocol.js';

const RAMP_TICK_MS = 20;
const MAX_PROBLEM_KINDS = 20;
const MAX_RECORDS = 2_000_000;

interface Member {
  agent: SimulatedAgent;
  group: string;
  replied: boolean;
}

const members: Member[] = [];
const problems = new Map<string, number>();
let records: HttpRecord[] = [];

/** Wraps a transport to record each request's outcome and duration (HTTP agents of scenario c). */
class TimedTransport implements AgentTransport {
  constructor(
    private readonly inner: AgentTransport,
    private readonly group: string,
  ) {}

  get kind(): AgentTransport['kind'] {
    return this.inner.kind;
  }

  get connected(): boolean {
    return this.inner.connected;
  }

  connect(): Promise<void> {
    return this.inner.connect();
  }

  async send(bytes: Uint8Array, uid: string): Promise<void> {
    const startedAt = Date.now();
    const t0 = performance.now();
    try {
      await this.inner.send(bytes, uid);
      this.record(startedAt, t0, 200, false);
    } catch (err) {
      if (err instanceof TransportError && err.kind !== 'aborted') {
        this.record(startedAt, t0, err.status ?? 0, err.retryAfterMs !== undefined);
      }
      throw err;
    }
  }

  close(code?: number, reason?: string): Promise<void> {
    return this.inner.close(code, reason);
  }

  abort(): void {
    this.inner.abort();
  }

  private record(startedAt: number, t0: number, status: number, retryAfter: boolean): void {
    if (records.length < MAX_RECORDS) {
      records.push({ group: this.group, startedAt, ms: performance.now() - t0, status, retryAfter });
    }
  }
}

function noteProblem(err: Error): void {
  const kind = problemKind(err.message);
  const n = problems.get(kind);
  if (n !== undefined) problems.set(kind, n + 1);
  else if (problems.size < MAX_PROBLEM_KINDS) problems.set(kind, 1);
}

function makeAgent(req: SpawnRequest, url: string, localAddress: string | undefined, index: number): Member {
  const topts: TransportOptions = { url, localAddress };
  const agent = new SimulatedAgent({
    url,
    transport: req.transport,
    localAddress,
    heartbeatSeconds: req.heartbeatSeconds,
    hostName: `bench-${req.group}-${process.pid}-${index}`,
    serviceName: 'fluent-bit',
    labels: { bench: req.group },
    transportFactory: req.timed
      ? (handlers: TransportHandlers) => new TimedTransport(new HttpTransport(topts, handlers), req.group)
      : undefined,
  });
  const member: Member = { agent, group: req.group, replied: false };
  agent.on('problem', noteProblem);
  agent.once('message', () => (member.replied = true));
  return member;
}

/** Starts the agents of one request at the ramp rate; resolves once all were started. */
function spawn(req: SpawnRequest): Promise<{ started: number }> {
  // Interleaved, so every gateway and source address fills at the same pace.
  const order = interleave(req.targets);
  const perTick = Math.max(1, (req.rampPerSecond * RAMP_TICK_MS) / 1000);
  let next = 0;
  let budget = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      budget += perTick;
      while (budget >= 1 && next < order.length) {
        budget -= 1;
        const { url, localAddress } = order[next]!;
        const m = makeAgent(req, url, localAddress, members.length);
        members.push(m);
        void m.agent.start();
        next++;
      }
      if (next >= order.length) {
        clearInterval(timer);
        resolve({ started: order.length });
      }
    };
    const timer = setInterval(tick, RAMP_TICK_MS);
    tick();
  });
}

/** [a×3, b×2] → a b a b a: round-robin over the targets. */
function interleave(targets: Array<{ url: string; localAddress?: string; count: number }>): Array<{
  url: string;
  localAddress?: string;
}> {
  const left = targets.map((t) => t.count);
  const out: Array<{ url: string; localAddress?: string }> = [];
  for (let progress = true; progress;) {
    progress = false;
    for (let i = 0; i < targets.length; i++) {
      if (left[i]! > 0) {
        left[i]!--;
        out.push({ url: targets[i]!.url, localAddress: targets[i]!.localAddress });
        progress = true;
      }
    }
  }
  return out;
}

function status(group?: string): WorkerStatus {
  const s: WorkerStatus = {
    agents: 0,
    started: 0,
    connected: 0,
    replied: 0,
    messagesSent: 0,
    repliesReceived: 0,
    errors: 0,
    throttled: 0,
    connects: 0,
    reconnectAttempts: 0,
    problems: Object.fromEntries(problems),
    rssBytes: process.memoryUsage.rss(),
  };
  for (const m of members) {
    if (group !== undefined && m.group !== group) continue;
    s.agents++;
    s.started++;
    if (m.agent.connected) s.connected++;
    if (m.replied) s.replied++;
    const st = m.agent.stats;
    s.messagesSent += st.messagesSent;
    s.repliesReceived += st.repliesReceived;
    s.errors += st.errors;
    s.throttled += st.throttled;
    s.connects += st.connects;
    s.reconnectAttempts += st.reconnectAttempts;
  }
  return s;
}

async function loop(warmupMs: number, durationMs: number): Promise<LoopResult> {
  const latencies: number[] = [];
  const active = members.filter((m) => m.agent.connected);
  const t0 = performance.now();
  const from = t0 + warmupMs;
  const to = from + durationMs;
  let running = true;
  let replies = 0;
  const listeners = active.map((m) => {
    let sentAt = performance.now();
    const onMessage = (): void => {
      if (!running) return;
      const now = performance.now();
      if (now >= from && now < to) {
        latencies.push(now - sentAt);
        replies++;
      }
      sentAt = now;
      m.agent.heartbeatNow();
    };
    m.agent.on('message', onMessage);
    m.agent.heartbeatNow();
    return onMessage;
  });
  await new Promise((r) => setTimeout(r, warmupMs + durationMs));
  running = false;
  active.forEach((m, i) => m.agent.off('message', listeners[i]!));
  // Let the replies in flight arrive so the next phase starts quiet.
  await new Promise((r) => setTimeout(r, 500));
  return { replies, windowMs: durationMs, latenciesMs: latencies, agents: active.length };
}

async function stopAll(concurrency: number): Promise<{ stopped: number }> {
  const queue = members.map((m) => m.agent);
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let a = queue.shift(); a; a = queue.shift()) await a.stop();
    }),
  );
  return { stopped: members.length };
}

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'spawn':
      return spawn(req);
    case 'status':
      return status(req.group);
    case 'loop':
      return loop(req.warmupMs, req.durationMs);
    case 'records': {
      const out = records;
      records = [];
      return out;
    }
    case 'stop':
      return stopAll(req.concurrency);
  }
}

if (!process.send) {
  console.error('client-worker.ts is started by the benchmark (test/bench/main.ts), not by hand');
  process.exit(2);
}
process.on('disconnect', () => process.exit(0));
process.on('message', (msg: WorkerEnvelope) => {
  const { id } = msg;
  handle(msg).then(
    (result) => process.send!({ id, ok: true, result } satisfies WorkerResponse),
    (err: unknown) =>
      process.send!({
        id,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      } satisfies WorkerResponse),
  );
});
process.send({ id: 0, ok: true, result: 'ready' } satisfies WorkerResponse);
