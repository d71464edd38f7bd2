import { NestFactory } from '@nestjs/core';
import type { INestApplication, LogLevel } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ApiAppModule } from './app.module.js';
import type { ApiConfig } from './api.config.js';
import { httpMetricsMiddleware } from './common/http-metrics.js';
import { ProblemFilter } from './common/problem.filter.js';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Log levels up to and including `level` (LOG_LEVEL), e.g. "log" → fatal, error, warn, log. */
export function logLevels(level: string): LogLevel[] {
  const i = LEVELS.indexOf(level as LogLevel);
  return LEVELS.slice(0, i < 0 ? 4 : i + 1);
}

/**
 * Builds the api exactly as production runs it (main.ts and the tests share this): problem+json
 * errors everywhere, request duration metrics, shutdown hooks. Rejects when Postgres or Redis is
 * unreachable.
 */
export async function createApiApp(
  config: ApiConfig,
  opts: { logger?: LogLevel[] | false } = {},
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiAppModule.forRoot(config), {
    logger: opts.logger ?? logLevels(config.LOG_LEVEL),
    bodyParser: true,
  });
  app.disable('x-powered-by');
  app.use(httpMetricsMiddleware);
  // The largest request is a config version: up to 4 MiB of files, 5.6 MB once base64-encoded.
  app.useBodyParser('json', { limit: '8mb' });
  app.useGlobalFilters(new ProblemFilter());
  app.enableShutdownHooks();
  return app;
}
