import { describe, expect, it } from 'vitest';
import { EnvValidationError } from '@opamp/config';
import { loadRolloutWorkerConfig } from './rollout-worker.config.js';

describe('rollout worker configuration', () => {
  it('has the documented defaults', () => {
    const c = loadRolloutWorkerConfig({});
    expect(c).toMatchObject({
      ROLLOUT_WORKER_PORT: 4340,
      ROLLOUT_WORKER_TICK_MS: 1000,
      ROLLOUT_WORKER_SWEEP_INTERVAL_MS: 5000,
      ROLLOUT_WORKER_CONCURRENCY: 4,
      ROLLOUT_WORKER_MAX_DISPATCH_PER_STEP: 1000,
      ROLLOUT_WORKER_DB_POOL_SIZE: 10,
    });
    expect(c.workerId).toMatch(/.+-[0-9a-f]{6}$/);
    expect(loadRolloutWorkerConfig({ ROLLOUT_WORKER_ID: 'worker-0' }).workerId).toBe('worker-0');
  });

  it('rejects invalid values, listing every problem', () => {
    let error: EnvValidationError | undefined;
    try {
      loadRolloutWorkerConfig({ ROLLOUT_WORKER_TICK_MS: '5', ROLLOUT_WORKER_CONCURRENCY: 'many' });
    } catch (err) {
      error = err as EnvValidationError;
    }
    expect(error).toBeInstanceOf(EnvValidationError);
    expect(error?.problems).toEqual([
      'ROLLOUT_WORKER_TICK_MS must be >= 10, got 5',
      'ROLLOUT_WORKER_CONCURRENCY must be an integer, got "many"',
    ]);
  });
});
