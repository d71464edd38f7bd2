import { describe, expect, it } from 'vitest';
import { BENCH_USAGE, UsageError, parseBenchOptions } from './options.js';
import {
  BEGIN_MARKER,
  END_MARKER,
  mergeReports,
  renderGenerated,
  spliceGenerated,
  toJson,
  type BenchReport,
} from './report.js';
import { apiSection } from './api-stats.js';
import { histogramBuckets } from './processes.js';
import { httpGroup } from './scenarios.js';
import {
  addressesNeeded,
  countBy,
  fmt,
  histogramQuantile,
  int,
  percentile,
  perConnectionBytes,
  ratio,
  split,
  summarize,
} from './stats.js';

describe('bench statistics', () => {
  it('percentiles use the nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile(v, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarize sorts numerically and reports count, mean and max', () => {
    const s = summarize([10, 2, 30, 4]);
    expect(s).toMatchObject({ count: 4, p50: 4, max: 30, mean: 11.5 });
    expect(summarize([]).count).toBe(0);
  });

  it('per-connection memory, ratios and splits', () => {
    expect(perConnectionBytes(100 * 1024, 200 * 1024, 10)).toBe(10 * 1024);
    expect(perConnectionBytes(1, 2, 0)).toBeNaN();
    expect(ratio(50, 100)).toBe(0.5);
    expect(ratio(50, 0)).toBeNaN();
    expect(split(10, 3)).toEqual([4, 3, 3]);
    expect(split(2, 4)).toEqual([1, 1, 0, 0]);
    expect(addressesNeeded(25_000, 10_000)).toBe(3);
    expect(addressesNeeded(0, 10_000)).toBe(1);
  });

  it('reads quantiles and buckets of a Prometheus histogram', () => {
    const text = [
      '# TYPE x histogram',
      'x_bucket{le="0.01",app="gateway"} 90',
      'x_bucket{le="0.1",app="gateway"} 99',
      'x_bucket{le="+Inf",app="gateway"} 100',
      'x_bucket{app="other",le="0.01"} 10',
      'x_sum{app="gateway"} 3',
    ].join('\n');
    const buckets = histogramBuckets(text, 'x');
    expect([...buckets]).toEqual([
      [0.01, 100],
      [0.1, 99],
      [Infinity, 100],
    ]);
    const b: Array<[number, number]> = [
      [Infinity, 100],
      [0.01, 90],
      [0.1, 99],
    ];
    expect(histogramQuantile(b, 0.5)).toBe(0.01);
    expect(histogramQuantile(b, 0.99)).toBe(0.1);
    expect(histogramQuantile(b, 1)).toBe(Infinity);
    expect(histogramQuantile([[Infinity, 0]], 0.5)).toBeNaN();
  });

  it('formats missing figures as a dash', () => {
    expect(fmt(NaN)).toBe('—');
    expect(fmt(1.234, 2)).toBe('1.23');
    expect(int(12345.6)).toBe('12,346');
    expect(countBy(['b', 'a', 'b'], (x) => x)).toEqual({ a: 1, b: 2 });
  });

  it('HTTP groups count refusals with Retry-After and failures without', () => {
    const g = httpGroup([
      { group: 'x', startedAt: 0, ms: 5, status: 200, retryAfter: false },
      { group: 'x', startedAt: 0, ms: 1, status: 429, retryAfter: true },
      { group: 'x', startedAt: 0, ms: 1, status: 503, retryAfter: false },
      { group: 'x', startedAt: 0, ms: 9, status: 0, retryAfter: false },
    ]);
    expect(g.byStatus).toEqual({ '200': 1, '429': 1, '503': 1, 'no response': 1 });
    expect(g.refusedWithRetryAfter).toBe(1);
    expect(g.failedWithoutRetryAfter).toBe(2);
    expect(g.admittedMs.count).toBe(1);
  });
});

describe('bench options', () => {
  it('defaults to every scenario with 1 and 2 replicas', () => {
    const o = parseBenchOptions([]);
    expect(o.scenarios).toEqual(['a', 'b', 'c', 'd', 'pg', 'rollout', 'api']);
    expect(o.apiAgents).toBe(100_000);
    expect(o.replicas).toEqual([1, 2]);
    expect(o.agents).toEqual([10_000, 50_000]);
    expect(o.out).toBe('docs');
  });

  it('takes flags over BENCH_* variables over defaults', () => {
    const o = parseBenchOptions(['--scenario=b,a', '--agents=500'], { BENCH_AGENTS: '7', BENCH_REPLICAS: '2' });
    expect(o.scenarios).toEqual(['a', 'b']);
    expect(o.agents).toEqual([500]);
    expect(o.replicas).toEqual([2]);
    expect(parseBenchOptions(['--no-write']).out).toBeUndefined();
    expect(parseBenchOptions([], { BENCH_GATEWAY_NODE_ARGS: '--a  --b' }).gatewayNodeArgs).toEqual(['--a', '--b']);
  });

  it('rejects unknown scenarios, bad numbers and unknown flags with a usage error', () => {
    expect(() => parseBenchOptions(['--scenario=z'])).toThrow(/unknown scenario "z"/);
    expect(() => parseBenchOptions(['--agents=ten'])).toThrow(UsageError);
    expect(() => parseBenchOptions(['--replicas=0'])).toThrow(/between 1 and 8/);
    expect(() => parseBenchOptions(['--frobnicate'])).toThrow(UsageError);
    expect(BENCH_USAGE).toContain('--scenario');
  });
});

describe('bench report', () => {
  const report: BenchReport = {
    startedAt: '2025-01-01T00:00:00.000Z',
    durationSeconds: 90,
    command: 'npm run bench',
    machine: {
      cpus: 2,
      cpuModel: 'test cpu',
      memoryGiB: 4,
      node: 'v24.0.0',
      os: 'Linux',
      openFiles: { soft: 1024, hard: 4096 },
      loadAverageAtStart: [0.5, 0.4, 0.3],
      postgres: 'PostgreSQL 18',
      redis: 'Redis 7',
      commit: 'abc1234',
      note: 'quiet',
    },
    options: parseBenchOptions([]),
    build: { dist: 'working tree', gatewayNodeArgs: ['--max-semi-space-size=16'] },
    throughput: {
      startedAt: '2025-01-01T00:00:00.000Z',
      command: 'npm run bench',
      machineNote: 'quiet',
      results: [
        {
          target: 'baseline',
          replicas: 1,
          agents: 10,
          messagesPerSecond: 1000,
          latencyMs: summarize([1, 2]),
          cpuSeconds: { baseline: 1 },
          machineCpuSeconds: 15,
          windowSeconds: 10,
        },
        {
          target: 'ours',
          replicas: 1,
          agents: 10,
          messagesPerSecond: 600,
          latencyMs: summarize([3, 4]),
          cpuSeconds: { gateway: 1, fleet: 1 },
          machineCpuSeconds: 18,
          windowSeconds: 10,
        },
      ],
    },
    errors: { c: 'boom\nstack' },
  };

  it('renders the machine, the ratio to the baseline and failed scenarios inside the markers', () => {
    const md = renderGenerated(report);
    expect(md.startsWith(BEGIN_MARKER)).toBe(true);
    expect(md.endsWith(END_MARKER)).toBe(true);
    expect(md).toContain('2 × test cpu');
    expect(md).toContain('**0.60**');
    expect(md).toContain('- (c): boom');
  });

  it('replaces only the generated block of an existing document', () => {
    const doc = `# Title\n\nprose before\n\n${BEGIN_MARKER}\nold\n${END_MARKER}\n\nprose after\n`;
    const out = spliceGenerated(doc, `${BEGIN_MARKER}\nnew\n${END_MARKER}`);
    expect(out).toBe(`# Title\n\nprose before\n\n${BEGIN_MARKER}\nnew\n${END_MARKER}\n\nprose after\n`);
    expect(spliceGenerated('# Fresh', 'X')).toBe('# Fresh\n\nX\n');
  });

  it('a partial run keeps the other scenarios of the previous report, marked with their own run', () => {
    const later: BenchReport = { ...report, startedAt: '2025-02-01T00:00:00.000Z', throughput: undefined, errors: {} };
    const merged = mergeReports(report, later);
    expect(merged.throughput).toBe(report.throughput);
    expect(renderGenerated(merged)).toContain('_From an earlier run: 2025-01-01T00:00:00.000Z');
    expect(mergeReports(undefined, later)).toEqual(later);
  });

  it('writes JSON without NaN', () => {
    const json = toJson({ ...report, durationSeconds: NaN });
    expect(JSON.parse(json).durationSeconds).toBeNull();
  });
});

describe('api scenario section', () => {
  it('renders the page walk against its pg baseline, the first pages, the summary and the rollout creation', () => {
    const lat = (p50: number, p99: number) => ({ count: 10, p50, p90: p99, p99, max: p99, mean: p50 });
    const report = { startedAt: 't0' } as BenchReport;
    const md = apiSection(
      {
        startedAt: 't0',
        command: 'npm run bench',
        machineNote: '',
        results: [
          {
            agents: 100_000,
            seedSeconds: 5,
            selector: 'env=prod',
            pageSize: 100,
            walked: 30_000,
            matching: 30_000,
            pages: 300,
            apiMs: lat(8, 20),
            pgMs: lat(2, 5),
            walkSeconds: 4,
            firstPages: [{ query: 'q=x&limit=100', runs: 30, items: 100, apiMs: lat(6, 9) }],
            summaryMs: lat(300, 400),
            rollout: { targets: 100_000, state: 'running', createSeconds: 6, baselineSeconds: 0.5 },
          },
        ],
      },
      report,
    );
    expect(md).toContain('### Platform API latency');
    expect(md).toContain(
      '| every page of `?selector=env=prod&limit=100` | 300 | 30,000 of 30,000 | 8.0 | 20.0 | 20.0 | 2.0 / 5.0 | **4.0** / 4.0 |',
    );
    expect(md).toContain('first page of `?q=x&limit=100`');
    expect(md).toMatch(/rollout over 100,000 targets .* took \*\*6\.00 s\*\*; .* 0\.50 s \(ratio 12\.0/);
  });
});
