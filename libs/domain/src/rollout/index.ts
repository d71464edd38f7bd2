// Rollout planning logic (docs/rollouts.md): strategy defaults and validation, wave sizes, the
// plan, the failure budget and the step state machine. Pure: no I/O.
export * from './types.js';
export * from './strategy.js';
export * from './plan.js';
export * from './decide.js';
export * from './targeting.js';
