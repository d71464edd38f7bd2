import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One Prometheus registry per process. Metric names are prefixed `opamp_`; each app adds its own
 * metrics to this registry and `/metrics` serves it.
 */
export const metricsRegistry = new Registry();
let defaultsCollected = false;

export function initMetrics(app: string): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  metricsRegistry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'opamp_process_' });
}

type Labels<L extends string> = readonly L[];

export function counter<L extends string = never>(name: string, help: string, labelNames: Labels<L> = []): Counter<L> {
  return (
    (metricsRegistry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter<L>({ name, help, labelNames: [...labelNames], registers: [metricsRegistry] })
  );
}

export function gauge<L extends string = never>(
  name: string,
  help: string,
  labelNames: Labels<L> = [],
  /** Called at scrape time to refresh the value (instead of updating on every change). */
  collect?: (this: Gauge<L>) => void,
): Gauge<L> {
  return (
    (metricsRegistry.getSingleMetric(name) as Gauge<L> | undefined) ??
    new Gauge<L>({
      name,
      help,
      labelNames: [...labelNames],
      registers: [metricsRegistry],
      ...(collect ? { collect } : {}),
    })
  );
}

export function histogram<L extends string = never>(
  name: string,
  help: string,
  buckets: number[],
  labelNames: Labels<L> = [],
): Histogram<L> {
  return (
    (metricsRegistry.getSingleMetric(name) as Histogram<L> | undefined) ??
    new Histogram<L>({ name, help, buckets, labelNames: [...labelNames], registers: [metricsRegistry] })
  );
}
