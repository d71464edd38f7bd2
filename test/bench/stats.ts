// Pure helpers of the benchmark: latency summaries, memory arithmetic, number formatting.
// No I/O here, so bench-helpers.spec.ts can pin them down.

export interface LatencySummary {
  count: number;
  /** Milliseconds; NaN when count is 0. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100); NaN for an empty array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(values: Iterable<number>): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  let sum = 0;
  for (const v of sorted) sum += v;
  const arr = Array.from(sorted);
  return {
    count: n,
    p50: percentile(arr, 50),
    p90: percentile(arr, 90),
    p99: percentile(arr, 99),
    max: sorted[n - 1]!,
    mean: sum / n,
  };
}

/** Bytes per connection from two RSS readings; NaN without connections. */
export function perConnectionBytes(before: number, after: number, connections: number): number {
  return connections > 0 ? (after - before) / connections : NaN;
}

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** Fixed decimals, '—' for NaN/undefined (a figure that was not measured). */
export function fmt(value: number | undefined, decimals = 1): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(decimals);
}

/** 12345 → "12,345" (thousands separators keep big agent counts readable). */
export function int(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '—' : Math.round(value).toLocaleString('en-US');
}

/** ours / baseline, NaN when the baseline is missing or zero. */
export function ratio(ours: number | undefined, baseline: number | undefined): number {
  return ours === undefined || baseline === undefined || !(baseline > 0) ? NaN : ours / baseline;
}

/**
 * How many source addresses (127.0.0.x) `sockets` client sockets need so no address uses more than
 * `perAddress` ports (one source IP has ~28k ephemeral ports towards one server port).
 */
export function addressesNeeded(sockets: number, perAddress: number): number {
  return Math.max(1, Math.ceil(sockets / perAddress));
}

/** Splits `total` into `parts` near-equal integers (the first ones get the remainder). */
export function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  const rest = total - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i < rest ? 1 : 0));
}

/**
 * Quantile from a cumulative Prometheus histogram ([upper bound, count] pairs, any order): the
 * upper bound of the first bucket holding the q-th observation. Infinity when it falls in +Inf,
 * NaN without observations.
 */
export function histogramQuantile(buckets: Array<[number, number]>, q: number): number {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  for (const [le, count] of sorted) if (count >= rank) return le;
  return Infinity;
}

/** Counts by key, sorted by key, e.g. HTTP status → requests. */
export function countBy<T>(items: Iterable<T>, key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    const k = key(item);
    out[k] = (out[k] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
