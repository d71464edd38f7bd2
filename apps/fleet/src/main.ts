import 'reflect-metadata';
import { initMetrics, startTelemetry, stopTelemetry } from '@opamp/telemetry';

await startTelemetry('opamp-fleet');
initMetrics('fleet');

const { NestFactory } = await import('@nestjs/core');
const { Logger } = await import('@nestjs/common');
const { FleetAppModule } = await import('./app.module.js');
const { loadFleetConfig } = await import('./fleet.config.js');

const logger = new Logger('Fleet');
let config;
try {
  config = loadFleetConfig();
} catch (err) {
  logger.error((err as Error).message);
  process.exit(78); // EX_CONFIG
}

try {
  const app = await NestFactory.create(FleetAppModule.forRoot(config), {
    logger: [config.LOG_LEVEL as 'log', 'error', 'warn', 'fatal'],
  });
  app.enableShutdownHooks();
  await app.listen(config.FLEET_PORT, config.FLEET_HOST);
  const port = (app.getHttpServer().address() as { port: number }).port;
  logger.log(
    `fleet ${config.replicaId} ready: health and metrics on http://${config.FLEET_HOST}:${port} (/healthz, /readyz, /metrics)`,
  );
  process.once('beforeExit', () => void stopTelemetry());
} catch (err) {
  logger.error(`fleet failed to start: ${(err as Error).message}`);
  process.exit(1);
}
