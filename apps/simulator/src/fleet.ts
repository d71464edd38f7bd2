// Runs many SimulatedAgents in one process: ramped start, aggregated counters, status lines and
// a final summary. Used by the CLI; benchmarks can use it directly.
import {
  SimulatedAgent,
  emptyAgentStats,
  shouldFailConfig,
  type AgentStats,
  type SimulatedAgentOptions,
} from './simulated-agent.js';
import type { SimulatorConfig } from './cli.js';

export interface FleetSnapshot extends AgentStats {
  at: number;
  agents: number;
  started: number;
  connected: number;
}

const RAMP_TICK_MS = 50;
const MAX_PROBLEM_KINDS = 50;

/** Groups error messages that differ only by uids, numbers or ports. */
export function problemKind(message: string): string {
  return message
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uid>')
    .replace(/\d+/g, 'N')
    .slice(0, 160);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export class AgentFleet {
  readonly agents: SimulatedAgent[] = [];
  /** Distinct problem kinds → count. */
  readonly problems = new Map<string, number>();
  /** ms from an agent's start() to its first reply. */
  readonly firstReplyLatencies: number[] = [];
  private rampTimer: NodeJS.Timeout | undefined;
  private rampDone: () => void = () => undefined;
  private startedAt = 0;
  private stopping = false;

  constructor(
    private readonly config: SimulatorConfig,
    private readonly onNewProblem: (kind: string, example: Error) => void = () => undefined,
    private readonly overrides: Partial<SimulatedAgentOptions> = {},
  ) {}

  /** Options of agent `index` (0-based). */
  agentOptions(index: number): SimulatedAgentOptions {
    const c = this.config;
    return {
      url: c.url,
      failoverUrls: c.failoverUrls,
      transport: c.transport,
      capabilities: c.capabilities,
      serviceName: c.serviceName,
      serviceVersion: c.serviceVersion,
      hostName: `sim-${c.serviceName}-${index}`,
      labels: c.labels,
      heartbeatSeconds: c.heartbeatSeconds,
      failConfig: shouldFailConfig(index, c.failConfigPercent),
      applyDelayMs: c.applyDelayMs,
      restartDelayMs: c.restartDelayMs,
      token: c.token,
      gzip: c.gzip,
      fullStateOnReconnect: c.fullStateOnReconnect,
      ...(c.customCapabilities ? { customCapabilities: c.customCapabilities } : {}),
      commandReplies: c.commandReplies,
      failCommandTypes: c.failCommandTypes,
      ignoreCommandTypes: c.ignoreCommandTypes,
      ...this.overrides,
    };
  }

  /** Starts agents at the configured rate; resolves when all have been started. */
  start(): Promise<void> {
    this.startedAt = Date.now();
    const perTick = (this.config.rampPerSecond * RAMP_TICK_MS) / 1000;
    let budget = 0;
    return new Promise<void>((resolve) => {
      this.rampDone = resolve;
      const tick = (): void => {
        if (this.stopping) return resolve();
        budget += perTick;
        while (budget >= 1 && this.agents.length < this.config.agents) {
          budget -= 1;
          this.launch(this.agents.length);
        }
        if (this.agents.length >= this.config.agents) {
          clearInterval(this.rampTimer);
          this.rampTimer = undefined;
          resolve();
        }
      };
      budget = 1 - perTick; // the first agent starts at once
      tick();
      if (this.agents.length < this.config.agents && !this.stopping) this.rampTimer = setInterval(tick, RAMP_TICK_MS);
    });
  }

  private launch(index: number): void {
    const agent = new SimulatedAgent(this.agentOptions(index));
    this.agents.push(agent);
    agent.on('problem', (err) => {
      const kind = problemKind(err.message);
      const n = this.problems.get(kind);
      if (n !== undefined) this.problems.set(kind, n + 1);
      else if (this.problems.size < MAX_PROBLEM_KINDS) {
        this.problems.set(kind, 1);
        this.onNewProblem(kind, err);
      }
    });
    const t0 = Date.now();
    agent.once('message', () => this.firstReplyLatencies.push(Date.now() - t0));
    void agent.start();
  }

  /** agent_disconnect + close for every agent (bounded concurrency keeps the shutdown burst sane). */
  async stop(concurrency = 500): Promise<void> {
    this.stopping = true;
    clearInterval(this.rampTimer);
    this.rampDone();
    const queue = [...this.agents];
    await Promise.all(
      Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
        for (let a = queue.shift(); a; a = queue.shift()) await a.stop();
      }),
    );
  }

  snapshot(): FleetSnapshot {
    const s: FleetSnapshot = {
      ...emptyAgentStats(),
      at: Date.now(),
      agents: this.config.agents,
      started: this.agents.length,
      connected: 0,
    };
    for (const a of this.agents) {
      if (a.connected) s.connected++;
      for (const k of Object.keys(a.stats) as Array<keyof AgentStats>) s[k] += a.stats[k];
    }
    return s;
  }

  get elapsedMs(): number {
    return this.startedAt === 0 ? 0 : Date.now() - this.startedAt;
  }
}

export function formatStatus(now: FleetSnapshot, prev: FleetSnapshot, elapsedMs: number): string {
  const dt = Math.max(1, now.at - prev.at) / 1000;
  const rate = (k: keyof AgentStats): string => ((now[k] - prev[k]) / dt).toFixed(1);
  return (
    `[${(elapsedMs / 1000).toFixed(0).padStart(4)}s] agents ${now.started}/${now.agents} started, ${now.connected} connected | ` +
    `${rate('messagesSent')} msg/s, ${rate('repliesReceived')} replies/s | errors ${now.errors} (+${now.errors - prev.errors}), ` +
    `throttled ${now.throttled}, reconnects ${now.reconnectAttempts} | config applied ${now.configsApplied} failed ${now.configsFailed} | ` +
    `restarts ${now.restarts}`
  );
}

export function formatSummary(fleet: AgentFleet, final: FleetSnapshot, elapsedMs: number): string {
  const secs = Math.max(0.001, elapsedMs / 1000);
  const lat = [...fleet.firstReplyLatencies].sort((a, b) => a - b);
  const lines = [
    '── simulator summary ─────────────────────────────────────────',
    `duration            ${secs.toFixed(1)} s`,
    `agents              ${final.started} started of ${final.agents}, ${final.connected} connected before shutdown`,
    `messages sent       ${final.messagesSent} (${(final.messagesSent / secs).toFixed(1)}/s, ${(final.bytesSent / 1024).toFixed(1)} KiB)`,
    `replies received    ${final.repliesReceived} (${(final.repliesReceived / secs).toFixed(1)}/s)`,
    lat.length === 0
      ? 'first reply         none'
      : `first reply         ${lat.length} agents; p50 ${percentile(lat, 50)} ms, p95 ${percentile(lat, 95)} ms, p99 ${percentile(lat, 99)} ms, max ${lat[lat.length - 1]} ms`,
    `connects            ${final.connects}, disconnects ${final.disconnects}, reconnect attempts ${final.reconnectAttempts}`,
    `errors              ${final.errors} (throttled ${final.throttled})`,
    `full-state requests ${final.fullStateRequests}`,
    `remote configs      applied ${final.configsApplied}, failed ${final.configsFailed}`,
    `restarts            ${final.restarts}; uid changes ${final.uidChanges}; custom messages ${final.customMessagesReceived}`,
  ];
  if (fleet.problems.size > 0) {
    lines.push('problems (by kind):');
    for (const [kind, n] of [...fleet.problems].sort((a, b) => b[1] - a[1]).slice(0, 10))
      lines.push(`  ${String(n).padStart(8)}  ${kind}`);
  }
  return lines.join('\n');
}
