import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { commonEnv, databaseEnv, int, loadEnv, str, type EnvOf } from '@opamp/config';

export const rolloutWorkerEnv = {
  ...commonEnv,
  ...databaseEnv,
  ROLLOUT_WORKER_PORT: int({
    default: 4340,
    min: 0,
    max: 65535,
    description: 'Port of /healthz, /readyz and /metrics (the rollout worker serves no other HTTP).',
  }),
  ROLLOUT_WORKER_HOST: str({ default: '0.0.0.0', description: 'Address to bind ROLLOUT_WORKER_PORT on.' }),
  ROLLOUT_WORKER_ID: str({
    default: '',
    description: 'Name of this worker in BullMQ and Redis client lists. Default: hostname plus a random suffix.',
  }),
  ROLLOUT_WORKER_TICK_MS: int({
    default: 1000,
    min: 10,
    max: 60_000,
    description:
      'How often an active rollout is stepped when it is waiting (reports, soak, pacing); steps that make progress are followed at once.',
  }),
  ROLLOUT_WORKER_SWEEP_INTERVAL_MS: int({
    default: 5000,
    min: 100,
    max: 600_000,
    description:
      'How often the sweep re-enqueues every active rollout (resumes those of a killed worker) and gives completed rollouts’ configs to new agents.',
  }),
  ROLLOUT_WORKER_CONCURRENCY: int({
    default: 4,
    min: 1,
    max: 64,
    description:
      'Rollout steps this worker runs at the same time (different rollouts; one rollout never runs two steps at once).',
  }),
  ROLLOUT_WORKER_MAX_DISPATCH_PER_STEP: int({
    default: 1000,
    min: 1,
    max: 10_000,
    description:
      'Most agents one step sends a config to (bounds a transaction); the strategy’s maxRestartsPerSecond still paces the sends.',
  }),
  ROLLOUT_WORKER_DB_POOL_SIZE: int({
    default: 10,
    min: 2,
    max: 200,
    description: 'Postgres connections of this worker (keep it above ROLLOUT_WORKER_CONCURRENCY).',
  }),
};

export type RolloutWorkerConfig = EnvOf<typeof rolloutWorkerEnv> & { workerId: string };

export const ROLLOUT_WORKER_CONFIG = Symbol('ROLLOUT_WORKER_CONFIG');

export function loadRolloutWorkerConfig(source: Record<string, string | undefined> = process.env): RolloutWorkerConfig {
  const env = loadEnv(rolloutWorkerEnv, source);
  return { ...env, workerId: env.ROLLOUT_WORKER_ID || `${hostname()}-${randomBytes(3).toString('hex')}` };
}
