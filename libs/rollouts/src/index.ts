// Public entry of @opamp/rollouts: configs, desired configs and rollouts over Postgres and the bus,
// shared by the api and the rollout worker (docs/rollouts.md). Nest-free.
export {};
