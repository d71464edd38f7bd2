import { describe, expect, it } from 'vitest';
import type { BenchReport } from './report.js';
import {
  metricByLabel,
  peakInWindow,
  peakPerBucket,
  perSecondSeries,
  rolloutSection,
  secondsBetween,
  type RolloutResult,
} from './rollout-stats.js';

describe('rollout bench arithmetic', () => {
  it('counts the peak per clock second and in any sliding second', () => {
    // 3 events late in second 0 and 2 early in second 1: buckets see 3, a sliding window 5.
    const ts = [700, 800, 900, 1000, 1100, 5000];
    expect(peakPerBucket(ts)).toBe(3);
    expect(peakInWindow(ts)).toBe(5);
    expect(peakInWindow([0, 1000])).toBe(1);
    expect(peakPerBucket([])).toBe(0);
    expect(peakInWindow([])).toBe(0);
  });

  it('builds a per-second series from a start time', () => {
    expect(perSecondSeries([1000, 1500, 3999], 1000)).toEqual([2, 0, 1]);
    expect(perSecondSeries([], 0)).toEqual([]);
  });

  it('sums a Prometheus metric by one label', () => {
    const text = [
      '# HELP opamp_rollout_worker_steps_total x',
      'opamp_rollout_worker_steps_total{action="dispatch"} 12',
      'opamp_rollout_worker_steps_total{action="wait",replica="a"} 3',
      'opamp_rollout_worker_steps_total{replica="b",action="wait"} 4',
      'opamp_rollout_worker_steps_total_other{action="wait"} 100',
    ].join('\n');
    expect(metricByLabel(text, 'opamp_rollout_worker_steps_total', 'action')).toEqual({ dispatch: 12, wait: 7 });
  });

  it('measures seconds between ISO timestamps, NaN when one is missing', () => {
    expect(secondsBetween('2025-01-01T00:00:00.000Z', '2025-01-01T00:01:30.500Z')).toBe(90.5);
    expect(secondsBetween(null, '2025-01-01T00:00:00.000Z')).toBeNaN();
  });
});

describe('rollout bench report', () => {
  const result: RolloutResult = {
    replicas: 1,
    agents: 10,
    targets: 10,
    strategy: { firstWave: '1%', growthFactor: 2, maxWave: '25%', soakSeconds: 5, maxRestartsPerSecond: 500 },
    waves: [1, 2, 3, 3, 1],
    soakSumSeconds: 25,
    pacedMinimumSeconds: 25.02,
    state: 'completed',
    reason: null,
    createSeconds: 0.1,
    timeToCompleteSeconds: 30,
    observedCompleteSeconds: 30.4,
    overheadRatio: 1.2,
    overheadVsPaced: 1.19,
    lastAppliedSeconds: 20,
    applies: { applying: 10, applied: 10, failed: 0, configsReceived: 11 },
    maxRestartsPerSecond: 500,
    peakAppliesPerSecond: 3,
    peakAppliesSliding: 3,
    peakAppliesPerSecond5s: 1.2,
    rateRatio: 0.006,
    peakReceiptsPerSecond: 3,
    appliesPerSecond: [1, 0, 2],
    perWave: [{ index: 0, size: 1, state: 'passed', applied: 1, gapSeconds: 0, resolveSeconds: 1.5, soakSeconds: 5.2 }],
    postgres: {
      windowSeconds: 42,
      rows: 60,
      rowsPerAgent: 6,
      tables: { rollout_targets: { inserted: 10, updated: 20, deleted: 0 } },
      backgroundRowsPerSecond: 0,
      netRowsPerAgent: 6,
    },
    workerSteps: { count: 40, meanMs: 8, p50Ms: 5, p99Ms: 50, byAction: { dispatch: 5, wait: 30 }, dispatched: 10 },
    cpuSeconds: { api: 1 },
  };

  it('renders the summary, the waves and the Postgres breakdown', () => {
    const report = { startedAt: 'x' } as BenchReport;
    const md = rolloutSection({ startedAt: 'x', command: 'npm run bench', machineNote: '', results: [result] }, report);
    expect(md).toContain('### Staged rollout');
    expect(md).toContain('| 1 | 10 | completed | 30.0 | 25 | **1.20** |');
    expect(md).toContain('rollout_targets 10/20/0');
    expect(md).toContain('| 0 | 1 | passed | 1 | 0.0 | 1.5 | 5.2 |');
    const old = rolloutSection(
      { startedAt: 'y', command: 'npm run bench', machineNote: 'quiet', results: [result] },
      report,
    );
    expect(old).toContain('_From an earlier run: y');
  });
});
