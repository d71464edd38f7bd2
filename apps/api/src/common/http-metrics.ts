import type { NextFunction, Request, Response } from 'express';
import { histogram } from '@opamp/telemetry';

const requestDuration = histogram(
  'opamp_api_http_request_duration_seconds',
  'Duration of HTTP requests handled by the api, by method, route pattern and status code',
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ['method', 'route', 'status'],
);

/**
 * Express middleware observing every request. The route label is the matched route pattern
 * (e.g. /api/v1/agents/:uid), never the raw path, so label cardinality stays bounded.
 */
export function httpMetricsMiddleware(req: Request, res: Response, next: NextFunction): void {
  const start = process.hrtime.bigint();
  res.once('finish', () => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const routePath = (req.route as { path?: unknown } | undefined)?.path;
    const route = typeof routePath === 'string' ? `${req.baseUrl}${routePath}` : 'unmatched';
    requestDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
  });
  next();
}
