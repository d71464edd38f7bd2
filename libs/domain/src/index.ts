// Public entry of @opamp/domain: pure logic of the control plane (no Nest, no I/O).
export * from './label-selector.js';
// Agent state (fleet): model, merge, full-state, reply decisions, liveness, persistence mapping.
export * from './state.js';
export * from './merge.js';
export * from './full-state.js';
export * from './description.js';
export * from './policy.js';
export * from './events.js';
export * from './reply.js';
export * from './liveness.js';
export * from './persistence.js';
export * from './process.js';
// Rollouts: strategy, wave sizes, plan, failure budget, step state machine.
export * from './rollout/index.js';
// Remote configs: validation, config map and hash, diff between versions.
export * from './config/index.js';
