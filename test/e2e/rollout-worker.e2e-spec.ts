// The rollout worker as a process: boots against the test Postgres and Redis, reports ready, serves
// its metrics, refuses a bad configuration at boot, and stops gracefully on SIGTERM. (What it does
// to rollouts is covered by libs/rollouts engine.medium-spec.ts and rollouts.e2e-spec.ts.)
import { describe, expect, it } from 'vitest';
import { startApp } from '../support/processes.js';

describe('rollout-worker process', () => {
  it('is ready with Redis, Postgres and its BullMQ worker, serves metrics, and drains on SIGTERM', async () => {
    const worker = await startApp('rollout-worker', {
      ROLLOUT_WORKER_TICK_MS: '100',
      ROLLOUT_WORKER_SWEEP_INTERVAL_MS: '200',
    });
    try {
      const ready = await fetch(`${worker.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { checks: Record<string, boolean> }).checks).toMatchObject({
        redis: true,
        postgres: true,
        worker: true,
        shuttingDown: false,
      });
      expect((await fetch(`${worker.url}/healthz`)).status).toBe(200);
      await worker.waitForLog(/consuming queue "rollouts"/);

      const metrics = await (await fetch(`${worker.url}/metrics`)).text();
      for (const name of [
        'opamp_rollout_worker_steps_total',
        'opamp_rollout_worker_dispatched_targets_total',
        'opamp_rollout_worker_active_rollouts',
      ]) {
        expect(metrics).toContain(`# TYPE ${name}`);
      }
    } finally {
      const started = Date.now();
      // 0, or null when Nest re-raises SIGTERM after its shutdown hooks.
      expect([0, null]).toContain(await worker.stop('SIGTERM', 15_000));
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    expect(worker.logs()).toContain('drained: no step in flight');
  });

  it('refuses to start with an invalid configuration, naming the problem', async () => {
    const worker = await startApp('rollout-worker', { ROLLOUT_WORKER_TICK_MS: 'soon' }, { noWait: true });
    expect(await worker.exited).toBe(78);
    expect(worker.logs()).toContain('ROLLOUT_WORKER_TICK_MS must be an integer, got "soon"');
  });
});
