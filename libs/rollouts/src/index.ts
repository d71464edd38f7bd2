// Public entry of @opamp/rollouts: configs, desired configs and rollouts over Postgres and the bus,
// shared by the api and the rollout worker (docs/rollouts.md). Nest-free.
// Rollout store (plans, creation, reads, controls) and rollout events.
export * from './rollout-store.js';
export * from './rollout-store.errors.js';
export * from './rollout-events.js';
// Rollout engine (one step of a rollout over Postgres), follow-new-agents, and the worker's queue.
export * from './engine.js';
export * from './engine-follow.js';
export {
  ACCEPTS_REMOTE_CONFIG as ROLLOUT_ACCEPTS_REMOTE_CONFIG,
  REPORTS_REMOTE_CONFIG as ROLLOUT_REPORTS_REMOTE_CONFIG,
  type ReconcileCounts,
} from './engine-reconcile.js';
export * from './rollout-queue.js';
// Configs and versions; each agent's desired config (bulk for rollouts, per agent for the api).
export * from './configs.errors.js';
export * from './configs.service.js';
export * from './desired-config.service.js';
export * from './desired-config.agent.js';
