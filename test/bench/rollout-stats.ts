// The rollout scenario's data and arithmetic (no I/O): the messages between the benchmark and its
// rollout client workers, the per-second peaks of config applies, the worker's /metrics, and the
// section of docs/performance.md. Tested in rollout-stats.spec.ts; the scenario is rollout-scenario.ts.
import type { BenchReport, ScenarioRun } from './report.js';
import { fmt, int } from './stats.js';

// ---------------------------------------------------------------------------------------------
// Benchmark ↔ rollout-client-worker.ts (Node IPC; same envelope as client-protocol.ts)

export interface RolloutSpawnRequest {
  cmd: 'rollout-spawn';
  targets: Array<{ url: string; localAddress?: string; count: number }>;
  rampPerSecond: number;
  heartbeatSeconds: number;
  /** Non-identifying attribute every agent reports (the rollout's selector matches it). */
  label: string;
  /** Time between APPLYING and APPLIED. */
  applyDelayMs: number;
}

export type RolloutWorkerRequest =
  | RolloutSpawnRequest
  | { cmd: 'rollout-status' }
  /** Epoch-ms timestamps of every APPLYING / APPLIED / remote_config receipt so far. */
  | { cmd: 'rollout-timeline' };

export interface RolloutWorkerStatus {
  agents: number;
  connected: number;
  /** Agents that received at least one reply. */
  replied: number;
  /** ServerToAgent messages carrying a remote_config (offers, repeats included). */
  configsReceived: number;
  /** Distinct configs started (APPLYING) and finished (APPLIED / FAILED). */
  applying: number;
  applied: number;
  failed: number;
  problems: Record<string, number>;
  rssBytes: number;
}

export interface RolloutTimeline {
  applyingAt: number[];
  appliedAt: number[];
  receivedAt: number[];
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

/** Largest number of events in one fixed bucket [k·size, (k+1)·size) of the epoch clock; 0 without events. */
export function peakPerBucket(timestampsMs: readonly number[], bucketMs = 1000): number {
  const counts = new Map<number, number>();
  let peak = 0;
  for (const t of timestampsMs) {
    const k = Math.floor(t / bucketMs);
    const n = (counts.get(k) ?? 0) + 1;
    counts.set(k, n);
    if (n > peak) peak = n;
  }
  return peak;
}

/** Largest number of events in any window [t, t + windowMs) (a sliding window; ≥ the fixed-bucket peak). */
export function peakInWindow(timestampsMs: readonly number[], windowMs = 1000): number {
  const sorted = Float64Array.from(timestampsMs).sort();
  let peak = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! >= windowMs) lo++;
    peak = Math.max(peak, hi - lo + 1);
  }
  return peak;
}

/** Events per second from `fromMs` on (index 0 = the first second); empty without events. */
export function perSecondSeries(timestampsMs: readonly number[], fromMs: number): number[] {
  const out: number[] = [];
  for (const t of timestampsMs) {
    const i = Math.max(0, Math.floor((t - fromMs) / 1000));
    while (out.length <= i) out.push(0);
    out[i]!++;
  }
  return out;
}

/** Samples of one Prometheus metric by the value of one label (`name{label="x",…} v`), summed over the other labels. */
export function metricByLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`);
  const labelRe = new RegExp(`(?:^|,)${label}="([^"]*)"`);
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const key = labelRe.exec(m[1]!)?.[1];
    const value = Number(m[2]);
    if (key !== undefined && Number.isFinite(value)) out[key] = (out[key] ?? 0) + value;
  }
  return out;
}

/** Seconds between two ISO timestamps; NaN when either is missing. */
export function secondsBetween(from: string | null | undefined, to: string | null | undefined): number {
  if (!from || !to) return NaN;
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Result

export interface RolloutWaveResult {
  index: number;
  size: number;
  state: string;
  applied: number;
  /** Previous wave finished (or the rollout started) → this wave started. */
  gapSeconds: number;
  /** Started → every target resolved (sends paced by maxRestartsPerSecond, then the reports). */
  resolveSeconds: number;
  /** Resolved → passed (the soak plus the step that notices it). */
  soakSeconds: number;
}

export interface RolloutResult {
  replicas: number;
  /** Agents started; `targets` = those the rollout planned for. */
  agents: number;
  targets: number;
  /** The strategy as the api normalised it. */
  strategy: Record<string, unknown>;
  waves: number[];
  /** Sum of the soak times of all waves (plan.minimumDurationSeconds). */
  soakSumSeconds: number;
  /** Soak sum plus targets ÷ maxRestartsPerSecond: what the strategy allows at best. */
  pacedMinimumSeconds: number;
  state: string;
  reason: string | null;
  /** Duration of the POST that creates the rollout (plan and 10,000s of target rows). */
  createSeconds: number;
  /** createdAt → finishedAt of the rollout row (state completed). */
  timeToCompleteSeconds: number;
  /** POST → the benchmark saw `completed` (polling every 500 ms). */
  observedCompleteSeconds: number;
  overheadRatio: number;
  overheadVsPaced: number;
  /** POST → the last APPLIED an agent reported. */
  lastAppliedSeconds: number;
  applies: { applying: number; applied: number; failed: number; configsReceived: number };
  maxRestartsPerSecond: number;
  /** APPLYING reports per 1 s bucket of the clock, the peak, and the peak of a sliding 1 s window. */
  peakAppliesPerSecond: number;
  peakAppliesSliding: number;
  /** Peak over any 5 s window ÷ 5: the sustained rate, without the burst of one step. */
  peakAppliesPerSecond5s: number;
  rateRatio: number;
  peakReceiptsPerSecond: number;
  /** APPLYING reports per second counted from the POST (seconds of the POST, not of the clock as in the peak). */
  appliesPerSecond: number[];
  perWave: RolloutWaveResult[];
  postgres: {
    /** Rollout window: POST → completed, plus the statistics flush. */
    windowSeconds: number;
    rows: number;
    rowsPerAgent: number;
    tables: Record<string, { inserted: number; updated: number; deleted: number }>;
    /** Rows per second written by the idle fleet just before the rollout (heartbeats, last_seen_at). */
    backgroundRowsPerSecond: number;
    /** rows minus the background rate over the window, per target. */
    netRowsPerAgent: number;
  };
  workerSteps: {
    count: number;
    meanMs: number;
    p50Ms: number;
    p99Ms: number;
    byAction: Record<string, number>;
    dispatched: number;
  };
  /** CPU seconds per process kind during the rollout window. */
  cpuSeconds: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// docs/performance.md section

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function strategyText(s: Record<string, unknown>): string {
  const keys = ['firstWave', 'growthFactor', 'maxWave', 'soakSeconds', 'maxRestartsPerSecond', 'applyTimeoutSeconds'];
  return keys
    .filter((k) => s[k] !== undefined)
    .map((k) => `${k} ${JSON.stringify(s[k])}`)
    .join(', ');
}

/** Generated section "Staged rollout" of docs/performance.md. */
export function rolloutSection(run: ScenarioRun<RolloutResult>, report: BenchReport): string {
  const results = run.results;
  const first = results[0];
  const note =
    run.startedAt === report.startedAt
      ? []
      : ['', `_From an earlier run: ${run.startedAt}, \`${run.command}\`; ${run.machineNote}._`];
  const parts = [
    '### Staged rollout',
    ...note,
    '',
    first
      ? `A rollout of one fluentbit config version to ${int(first.agents)} WS agents through the api and the rollout worker; ` +
        `strategy ${strategyText(first.strategy)} (waves ${first.waves.map(int).join(', ')}). ` +
        'Overhead = time to `completed` ÷ the sum of the soak times; applies are the APPLYING reports the agents made, ' +
        'counted per second of the clock (and in any sliding 1 s window). The worker paces its sends on its own clock ' +
        '(the send time it records per target); the peak is what the agents saw, delivery delays included, and the peak ' +
        'over 5 s is the sustained rate.'
      : '',
    '',
    table(
      [
        'replicas',
        'targets',
        'state',
        'time to completed (s)',
        'soak sum (s)',
        'overhead ratio',
        'soak + sends at max rate (s)',
        'peak applies/s (sliding)',
        'peak ÷ maxRestartsPerSecond',
        'PG rows per agent (net of background)',
        'worker step mean / p99 (ms)',
      ],
      results.map((r) => [
        String(r.replicas),
        int(r.targets),
        r.state === 'completed' ? r.state : `**${r.state}**${r.reason ? ` (${r.reason})` : ''}`,
        fmt(r.timeToCompleteSeconds),
        fmt(r.soakSumSeconds, 0),
        `**${fmt(r.overheadRatio, 2)}**`,
        fmt(r.pacedMinimumSeconds),
        `${int(r.peakAppliesPerSecond)} (${int(r.peakAppliesSliding)})`,
        `**${fmt(r.rateRatio, 2)}**`,
        `**${fmt(r.postgres.rowsPerAgent, 2)}** (${fmt(r.postgres.netRowsPerAgent, 2)})`,
        `${fmt(r.workerSteps.meanMs)} / ≤ ${fmt(r.workerSteps.p99Ms, 0)}`,
      ]),
    ),
  ];
  for (const r of results) {
    parts.push(
      '',
      `${r.replicas} replica(s): ${int(r.applies.applying)} applies (${int(r.applies.applied)} APPLIED, ${int(r.applies.failed)} FAILED) ` +
        `from ${int(r.applies.configsReceived)} remote_config offers (peak ${int(r.peakReceiptsPerSecond)}/s); ` +
        `peak over 5 s ${fmt(r.peakAppliesPerSecond5s, 0)} applies/s; last APPLIED ` +
        `${fmt(r.lastAppliedSeconds)} s after the POST. Worker: ${int(r.workerSteps.count)} steps ` +
        `(${Object.entries(r.workerSteps.byAction)
          .sort((a, b) => b[1] - a[1])
          .map(([a, n]) => `${a} ${int(n)}`)
          .join(', ')}), ${int(r.workerSteps.dispatched)} agents dispatched. ` +
        `Postgres in ${fmt(r.postgres.windowSeconds, 0)} s: ${int(r.postgres.rows)} rows (` +
        `${Object.entries(r.postgres.tables)
          .sort((a, b) => a[0].localeCompare(b[0]))
          .map(([t, v]) => `${t} ${int(v.inserted)}/${int(v.updated)}/${int(v.deleted)}`)
          .join(
            '; ',
          )} ins/upd/del); background before the rollout ${fmt(r.postgres.backgroundRowsPerSecond)} rows/s. ` +
        `CPU seconds: ${Object.entries(r.cpuSeconds)
          .map(([k, v]) => `${k} ${fmt(v)}`)
          .join(', ')}.`,
      '',
      table(
        ['wave', 'size', 'state', 'applied', 'gap before (s)', 'started → resolved (s)', 'resolved → passed (s)'],
        r.perWave.map((w) => [
          String(w.index),
          int(w.size),
          w.state,
          int(w.applied),
          fmt(w.gapSeconds),
          fmt(w.resolveSeconds),
          fmt(w.soakSeconds),
        ]),
      ),
    );
  }
  return parts.join('\n');
}
