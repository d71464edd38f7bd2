import 'reflect-metadata';
import { initMetrics, startTelemetry, stopTelemetry } from '@opamp/telemetry';

await startTelemetry('opamp-rollout-worker');
initMetrics('rollout-worker');

const { NestFactory } = await import('@nestjs/core');
const { Logger } = await import('@nestjs/common');
const { RolloutWorkerAppModule } = await import('./app.module.js');
const { loadRolloutWorkerConfig } = await import('./rollout-worker.config.js');

const logger = new Logger('RolloutWorker');
let config;
try {
  config = loadRolloutWorkerConfig();
} catch (err) {
  logger.error((err as Error).message);
  process.exit(78); // EX_CONFIG
}

try {
  const app = await NestFactory.create(RolloutWorkerAppModule.forRoot(config), {
    logger: [config.LOG_LEVEL as 'log', 'error', 'warn', 'fatal'],
  });
  app.enableShutdownHooks();
  await app.listen(config.ROLLOUT_WORKER_PORT, config.ROLLOUT_WORKER_HOST);
  const port = (app.getHttpServer().address() as { port: number }).port;
  logger.log(
    `rollout worker ${config.workerId} ready: health and metrics on http://${config.ROLLOUT_WORKER_HOST}:${port} (/healthz, /readyz, /metrics)`,
  );
  process.once('beforeExit', () => void stopTelemetry());
} catch (err) {
  logger.error(`rollout worker failed to start: ${(err as Error).message}`);
  process.exit(1);
}
