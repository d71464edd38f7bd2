// Messages between the benchmark (parent) and its client worker processes (client-worker.ts), over
// the Node IPC channel. Each request carries an id; the worker answers it exactly once.

export interface AgentTarget {
  /** ws://... or http://.../v1/opamp */
  url: string;
  /** Source address for WS sockets (127.0.0.x); undefined = the OS default. */
  localAddress?: string;
  count: number;
}

export interface SpawnRequest {
  cmd: 'spawn';
  /** Label of this batch of agents (HTTP records and status are kept per group). */
  group: string;
  transport: 'ws' | 'http';
  targets: AgentTarget[];
  /** Agents started per second by this worker. */
  rampPerSecond: number;
  /** Heartbeat / poll interval until the server offers one. */
  heartbeatSeconds: number;
  /** Record every HTTP request's status and latency (scenario c). */
  timed?: boolean;
}

export type WorkerRequest =
  | SpawnRequest
  /** Counters of every agent of the worker (or of one group). */
  | { cmd: 'status'; group?: string }
  /**
   * Closed loop: each connected agent sends a heartbeat as soon as the reply to its previous one
   * arrives. Latencies are kept for replies in [warmupMs, warmupMs + durationMs).
   */
  | { cmd: 'loop'; warmupMs: number; durationMs: number }
  /** HTTP request records since the last `records` call (and forgets them). */
  | { cmd: 'records' }
  /** Graceful stop (agent_disconnect + close) of every agent. */
  | { cmd: 'stop'; concurrency: number };

export interface WorkerStatus {
  agents: number;
  started: number;
  connected: number;
  /** Agents that received at least one reply. */
  replied: number;
  messagesSent: number;
  repliesReceived: number;
  errors: number;
  throttled: number;
  connects: number;
  reconnectAttempts: number;
  /** Most frequent problem kinds (message → count). */
  problems: Record<string, number>;
  rssBytes: number;
}

export interface LoopResult {
  /** Replies received inside the measured window. */
  replies: number;
  windowMs: number;
  /** Round-trip latencies (ms) of those replies. */
  latenciesMs: number[];
  agents: number;
}

/** One HTTP request as the agent saw it (scenario c). */
export interface HttpRecord {
  group: string;
  /** Epoch ms when the request started. */
  startedAt: number;
  ms: number;
  /** HTTP status; 0 = no response (connection error, timeout). */
  status: number;
  /** A Retry-After header was present (only parsed for 429/503). */
  retryAfter: boolean;
}

export type WorkerResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export type WorkerEnvelope = WorkerRequest & { id: number };
