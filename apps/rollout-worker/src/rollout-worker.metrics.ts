import { counter, gauge, histogram } from '@opamp/telemetry';

/** Prometheus metrics of the rollout worker (served at /metrics). */
export const rolloutWorkerMetrics = {
  steps: counter(
    'opamp_rollout_worker_steps_total',
    'Rollout steps run, by decided action (wait, dispatch, wavePassed, ...) or outcome (locked, not_found, error).',
    ['action'],
  ),
  stepDuration: histogram(
    'opamp_rollout_worker_step_duration_seconds',
    'Duration of one rollout step (one Postgres transaction, envelopes included).',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ),
  dispatched: counter(
    'opamp_rollout_worker_dispatched_targets_total',
    'Agents sent a desired config by rollout steps, by direction (forward, rollback).',
    ['direction'],
  ),
  reconciled: counter(
    'opamp_rollout_worker_reconciled_targets_total',
    'Rollout targets resolved from agent reports, by result (applied, failed, timed_out, unhealthy, forgotten, restored).',
    ['result'],
  ),
  followed: counter(
    'opamp_rollout_worker_followed_agents_total',
    'Agents given the config of a completed rollout (followNewAgents): new agents, and targets skipped as offline at send once connected again.',
  ),
  activeRollouts: gauge(
    'opamp_rollout_worker_active_rollouts',
    'Rollouts planned, running, paused or rolling back, as of the last sweep.',
  ),
  sweeps: counter('opamp_rollout_worker_sweeps_total', 'Sweeps run, by result (ok, error).', ['result']),
};
