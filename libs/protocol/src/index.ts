// Public entry of @opamp/protocol: pure OpAMP protocol helpers (framing, decoding with hostile-input
// guards, capabilities, uids, gzip, reply builders). No Nest, no I/O besides zlib.
export { decodeWsFrame, encodeWsFrame, type WsFrameDecodeResult } from './framing.js';
export {
  ALL_AGENT_CAPABILITIES,
  ALL_SERVER_CAPABILITIES,
  AgentCapability,
  AgentToServerFlag,
  SERVER_CAPABILITIES,
  ServerCapability,
  ServerToAgentFlag,
  describeAgentCapabilities,
  describeServerCapabilities,
  hasCapability,
  hasFlag,
  type AgentCapabilityName,
  type ServerCapabilityName,
} from './capabilities.js';
export { UID_LENGTH, isValidUid, uidEquals, uidFromString, uidToHex, uidToString, uuidv7 } from './uid.js';
export {
  DEFAULT_MAX_DEPTH,
  checkWireStructure,
  decodeAgentToServer,
  decodeServerToAgent,
  encodeAgentToServer,
  encodeServerToAgent,
  validateInstanceUid,
  type DecodeOptions,
  type DecodeResult,
} from './decode.js';
export { acceptsGzip, gunzipBounded, type GunzipResult } from './gzip.js';
export { PROTOBUF_CONTENT_TYPE, isProtobufContentType } from './media.js';
export { jitteredRetryAfterSeconds, retryAfterNanos } from './retry-after.js';
export { computeConfigHash, type ConfigFileInput } from './config-hash.js';
export {
  ackFor,
  badRequest,
  restartCommand,
  unavailable,
  violatesErrorExclusivity,
  type AckOptions,
} from './server-messages.js';
