// Remote configs: validation, the AgentConfigMap and its hash, diffs (docs/rollouts.md).
export {
  AGENT_TYPES,
  CONFIG_NAME_PATTERN,
  formatConfigProblem,
  isAgentType,
  isConfigName,
  type ConfigFile,
  type ConfigFileEncoding,
  type ConfigFileInput,
  type ConfigProblem,
} from './types.js';
export * from './files.js';
export * from './validate.js';
export * from './config-map.js';
export * from './diff.js';
export { checkFluentBitClassic, type LineProblem } from './fluentbit-classic.js';
export { checkFluentdConfig } from './fluentd.js';
