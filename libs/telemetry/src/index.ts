export * from './tracing.js';
export * from './metrics.js';
export * from './health.js';
