import 'reflect-metadata';
import { startTelemetry, stopTelemetry, initMetrics } from '@opamp/telemetry';

await startTelemetry('opamp-gateway');
initMetrics('gateway');

const { NestFactory } = await import('@nestjs/core');
const { Logger } = await import('@nestjs/common');
const { GatewayAppModule } = await import('./app.module.js');
const { loadGatewayConfig } = await import('./gateway.config.js');

const logger = new Logger('Gateway');
let config;
try {
  config = loadGatewayConfig();
} catch (err) {
  logger.error((err as Error).message);
  process.exit(78); // EX_CONFIG
}

try {
  const app = await NestFactory.create(GatewayAppModule.forRoot(config), {
    // The OpAMP handler reads the raw body itself (limits, gzip), so no body parser.
    bodyParser: false,
    logger: [config.LOG_LEVEL as 'log', 'error', 'warn', 'fatal'],
  });
  (app.getHttpAdapter().getInstance() as { disable(name: string): void }).disable('x-powered-by');
  app.enableShutdownHooks();
  await app.listen(config.GATEWAY_PORT, config.GATEWAY_HOST);
  const port = (app.getHttpServer().address() as { port: number }).port;
  logger.log(
    `gateway ${config.gatewayId} serving OpAMP on ws://${config.GATEWAY_HOST}:${port}/v1/opamp and http://${config.GATEWAY_HOST}:${port}/v1/opamp`,
  );
  process.once('beforeExit', () => void stopTelemetry());
} catch (err) {
  logger.error(`gateway failed to start: ${(err as Error).message}`);
  process.exit(1);
}
