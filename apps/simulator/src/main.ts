// `npm run simulate -- --agents 1000 --transport ws ...`: N simulated OpAMP agents in one process.
import { USAGE, UsageError, parseSimulatorArgs, type SimulatorConfig } from './cli.js';
import { AgentFleet, formatStatus, formatSummary } from './fleet.js';

async function run(config: SimulatorConfig): Promise<void> {
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(
    `simulating ${config.agents} ${config.transport.toUpperCase()} agent(s) against ${[config.url, ...(config.failoverUrls ?? [])].join(', ')} ` +
      `(heartbeat ${config.heartbeatSeconds}s, capabilities 0x${config.capabilities.toString(16)}, ramp ${config.rampPerSecond}/s` +
      `${config.failConfigPercent > 0 ? `, ${config.failConfigPercent}% fail configs` : ''}` +
      `${config.durationSeconds > 0 ? `, for ${config.durationSeconds}s` : ', until Ctrl-C'})`,
  );
  const fleet = new AgentFleet(config, (kind) => log(`new problem: ${kind}`));

  let prev = fleet.snapshot();
  const status = setInterval(() => {
    const now = fleet.snapshot();
    log(formatStatus(now, prev, fleet.elapsedMs));
    prev = now;
  }, config.statusIntervalSeconds * 1000);

  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log(`${signal} again: exiting without waiting for agents to disconnect`);
      process.exit(130);
    }
    log(`${signal}: disconnecting agents (agent_disconnect + close 1000)...`);
    finished();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const durationTimer = config.durationSeconds > 0 ? setTimeout(finished, config.durationSeconds * 1000) : undefined;

  void fleet.start().then(() => {
    if (!signals) log(`all ${config.agents} agent(s) started after ${(fleet.elapsedMs / 1000).toFixed(1)}s`);
  });
  await done;
  clearTimeout(durationTimer);
  const elapsed = fleet.elapsedMs;
  const connectedBeforeShutdown = fleet.snapshot().connected;
  await fleet.stop();
  clearInterval(status);
  log(formatSummary(fleet, { ...fleet.snapshot(), connected: connectedBeforeShutdown }, elapsed));
}

async function main(): Promise<void> {
  let config;
  try {
    config = parseSimulatorArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  if (config === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  await run(config);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`simulator failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
