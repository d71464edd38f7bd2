// Public surface for tests and benchmarks that run simulated agents in-process.
export {
  DEFAULT_AGENT_CAPABILITIES,
  ECHO_CAPABILITY,
  SimulatedAgent,
  shouldFailConfig,
  type AgentState,
  type AgentStats,
  type ConfigFile,
  type SimulatedAgentEvents,
  type SimulatedAgentOptions,
} from './simulated-agent.js';
export { decideCommandReply, type CommandReplyDecision, type CommandReplyOptions } from './command-replies.js';
export { AgentFleet, formatStatus, formatSummary, type FleetSnapshot } from './fleet.js';
export { parseSimulatorArgs, parseCapabilities, type SimulatorConfig } from './cli.js';
export { Backoff, DEFAULT_BACKOFF, parseRetryAfter, type BackoffOptions } from './backoff.js';
export {
  TransportError,
  type AgentTransport,
  type TransportFactory,
  type TransportHandlers,
  type TransportKind,
} from './transport.js';
export { WsTransport } from './ws-transport.js';
export { HttpTransport, type HttpTransportOptions } from './http-transport.js';
