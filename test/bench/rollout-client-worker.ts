// A client process of the rollout scenario (rollout-scenario.ts): runs WS SimulatedAgents that
// accept remote config, and records when each one received a remote_config, reported APPLYING
// (the config "restart") and APPLIED, so the benchmark can compare the apply rate the agents saw
// with the strategy's maxRestartsPerSecond. The parent's orders come over the IPC channel
// (RolloutWorkerRequest, rollout-stats.ts); the process exits when that channel closes.
import { RemoteConfigStatuses } from '@opamp/proto';
import { problemKind } from '../../apps/simulator/src/fleet.js';
import { SimulatedAgent } from '../../apps/simulator/src/simulated-agent.js';
import type { WorkerEnvelope, WorkerResponse } from './client-protocol.js';
import type {
  RolloutSpawnRequest,
  RolloutTimeline,
  RolloutWorkerRequest,
  RolloutWorkerStatus,
} from './rollout-stats.js';

const RAMP_TICK_MS = 20;
const MAX_PROBLEM_KINDS = 20;
/** Bounds the timeline (a few events per agent are expected; a resend loop must not eat the memory). */
const MAX_EVENTS = 5_000_000;

const agents: Array<{ agent: SimulatedAgent; replied: boolean }> = [];
const problems = new Map<string, number>();
const timeline: RolloutTimeline = { applyingAt: [], appliedAt: [], receivedAt: [] };
let applying = 0;
let applied = 0;
let failed = 0;

function record(list: number[]): void {
  if (list.length < MAX_EVENTS) list.push(Date.now());
}

function makeAgent(req: RolloutSpawnRequest, url: string, localAddress: string | undefined): SimulatedAgent {
  const agent = new SimulatedAgent({
    url,
    transport: 'ws',
    localAddress,
    heartbeatSeconds: req.heartbeatSeconds,
    hostName: `bench-rollout-${process.pid}-${agents.length}`,
    serviceName: 'fluent-bit',
    labels: { bench: req.label },
    applyDelayMs: req.applyDelayMs,
  });
  const member = { agent, replied: false };
  agents.push(member);
  agent.on('problem', (err: Error) => {
    const kind = problemKind(err.message);
    const n = problems.get(kind);
    if (n !== undefined) problems.set(kind, n + 1);
    else if (problems.size < MAX_PROBLEM_KINDS) problems.set(kind, 1);
  });
  agent.on('message', (msg) => {
    member.replied = true;
    if (msg.remoteConfig !== undefined) record(timeline.receivedAt);
  });
  agent.on('remoteConfigStatus', (status) => {
    if (status === RemoteConfigStatuses.RemoteConfigStatuses_APPLYING) {
      applying++;
      record(timeline.applyingAt);
    } else if (status === RemoteConfigStatuses.RemoteConfigStatuses_APPLIED) {
      applied++;
      record(timeline.appliedAt);
    } else if (status === RemoteConfigStatuses.RemoteConfigStatuses_FAILED) {
      failed++;
    }
  });
  return agent;
}

/** Starts the agents at the ramp rate, round robin over the targets; resolves once all were started. */
function spawn(req: RolloutSpawnRequest): Promise<{ started: number }> {
  const left = req.targets.map((t) => t.count);
  const order: Array<{ url: string; localAddress?: string }> = [];
  for (let progress = true; progress;) {
    progress = false;
    req.targets.forEach((t, i) => {
      if (left[i]! > 0) {
        left[i]!--;
        order.push({ url: t.url, localAddress: t.localAddress });
        progress = true;
      }
    });
  }
  const perTick = Math.max(1, (req.rampPerSecond * RAMP_TICK_MS) / 1000);
  let next = 0;
  let budget = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      budget += perTick;
      while (budget >= 1 && next < order.length) {
        budget -= 1;
        const { url, localAddress } = order[next++]!;
        void makeAgent(req, url, localAddress).start();
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

function status(): RolloutWorkerStatus {
  let connected = 0;
  let replied = 0;
  let configsReceived = 0;
  for (const m of agents) {
    if (m.agent.connected) connected++;
    if (m.replied) replied++;
    configsReceived += m.agent.stats.configsReceived;
  }
  return {
    agents: agents.length,
    connected,
    replied,
    configsReceived,
    applying,
    applied,
    failed,
    problems: Object.fromEntries(problems),
    rssBytes: process.memoryUsage.rss(),
  };
}

async function handle(req: RolloutWorkerRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'rollout-spawn':
      return spawn(req);
    case 'rollout-status':
      return status();
    case 'rollout-timeline':
      return timeline;
  }
}

if (!process.send) {
  console.error('rollout-client-worker.ts is started by the benchmark (npm run bench -- --scenario=rollout)');
  process.exit(2);
}
process.on('disconnect', () => process.exit(0));
process.on('message', (msg: WorkerEnvelope) => {
  const { id } = msg;
  handle(msg as unknown as RolloutWorkerRequest).then(
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
