import { context, propagation, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { NodeSDK } from '@opentelemetry/sdk-node';

let sdk: NodeSDK | undefined;

/**
 * Starts the OpenTelemetry SDK when the standard OTEL_* variables ask for export
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER). Call it first in main.ts. Without
 * them the SDK is not even loaded: it costs about 60 MiB of RSS per process, and the API's
 * no-op tracer still propagates trace context through the bus.
 */
export async function startTelemetry(serviceName: string): Promise<void> {
  if (sdk) return;
  process.env.OTEL_SERVICE_NAME ??= serviceName;
  const exporting = Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_TRACES_EXPORTER);
  if (!exporting || process.env.OTEL_SDK_DISABLED === 'true') return;
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  sdk = new NodeSDK({ serviceName });
  sdk.start();
}

export async function stopTelemetry(): Promise<void> {
  const current = sdk;
  sdk = undefined;
  await current?.shutdown().catch(() => undefined);
}

export function tracer(name: string): Tracer {
  return trace.getTracer(name);
}

/** W3C traceparent of `span` (or of the active span), for carrying across the Redis bus. */
export function traceparentOf(span?: Span): string {
  const carrier: Record<string, string> = {};
  const ctx = span ? trace.setSpan(context.active(), span) : context.active();
  propagation.inject(ctx, carrier);
  return carrier.traceparent ?? '';
}

/** Context whose parent is the span described by `traceparent` (empty string → active context). */
export function contextFromTraceparent(traceparent: string): ReturnType<typeof context.active> {
  if (!traceparent) return context.active();
  return propagation.extract(context.active(), { traceparent });
}
