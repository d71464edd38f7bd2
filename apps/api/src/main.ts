import 'reflect-metadata';
import { initMetrics, startTelemetry, stopTelemetry } from '@opamp/telemetry';

// Telemetry first, before Nest and the database driver are imported, so instrumentations apply.
await startTelemetry('opamp-api');
initMetrics('api');

const { Logger } = await import('@nestjs/common');
const { loadApiConfig } = await import('./api.config.js');
const { createApiApp } = await import('./bootstrap.js');

const logger = new Logger('Api');
let config;
try {
  config = loadApiConfig();
} catch (err) {
  logger.error((err as Error).message);
  process.exit(78); // EX_CONFIG
}

try {
  const app = await createApiApp(config);
  await app.listen(config.API_PORT, config.API_HOST);
  const port = (app.getHttpServer().address() as { port: number }).port;
  const host = config.API_HOST === '0.0.0.0' ? '127.0.0.1' : config.API_HOST;
  logger.log(`api serving http://${host}:${port}/api/v1 (health: /healthz /readyz, metrics: /metrics)`);
  process.once('beforeExit', () => void stopTelemetry());
} catch (err) {
  logger.error(`api failed to start: ${(err as Error).message}`);
  process.exit(1);
}
