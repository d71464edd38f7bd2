// Builders for the ServerToAgent messages every component sends. They encode two spec rules so
// callers cannot get them wrong:
//  - error_response is exclusive: an error reply carries only instance_uid + error_response (§3.1);
//  - capabilities are set on every non-error reply (one varint; over HTTP there is no clear "first"
//    response, and the first response might be an error that cannot carry capabilities).
import { create } from '@bufbuild/protobuf';
import { CommandType, ServerErrorResponseType, ServerToAgentSchema, type ServerToAgent } from '@opamp/proto';
import { SERVER_CAPABILITIES } from './capabilities.js';
import { retryAfterNanos } from './retry-after.js';

export interface AckOptions {
  /** Server capabilities to advertise; defaults to SERVER_CAPABILITIES. Pass 0n to leave the field unset. */
  capabilities?: bigint;
}

/** A plain acknowledgement: instance_uid + capabilities, nothing else to say. */
export function ackFor(uid: Uint8Array, opts: AckOptions = {}): ServerToAgent {
  return create(ServerToAgentSchema, {
    instanceUid: uid,
    capabilities: opts.capabilities ?? SERVER_CAPABILITIES,
  });
}

/** BAD_REQUEST reply (malformed message, invalid uid, bad CSR...). Only instance_uid + error_response. */
export function badRequest(uid: Uint8Array, message: string): ServerToAgent {
  return create(ServerToAgentSchema, {
    instanceUid: uid,
    errorResponse: {
      type: ServerErrorResponseType.ServerErrorResponseType_BadRequest,
      errorMessage: message,
    },
  });
}

/**
 * UNAVAILABLE reply with retry_info (in-band throttling on a live connection). Only instance_uid +
 * error_response. With retryAfterSeconds 30 and no message it encodes as
 * `0a 10 <uid> 12 0a 08 02 1a 06 08 80 d8 8e e1 6f`. A non-positive delay omits retry_info.
 */
export function unavailable(uid: Uint8Array, retryAfterSeconds: number, message?: string): ServerToAgent {
  const nanos = retryAfterNanos(retryAfterSeconds);
  return create(ServerToAgentSchema, {
    instanceUid: uid,
    errorResponse: {
      type: ServerErrorResponseType.ServerErrorResponseType_Unavailable,
      errorMessage: message ?? '',
      Details: nanos > 0n ? { case: 'retryInfo', value: { retryAfterNanoseconds: nanos } } : { case: undefined },
    },
  });
}

/**
 * Restart command. CommandType_Restart is 0, so `command` is an empty sub-message on the wire
 * (`4a 00`) and must be detected by presence. Callers must only send it to agents with
 * AcceptsRestartCommand (0x400).
 */
export function restartCommand(uid: Uint8Array, opts: AckOptions = {}): ServerToAgent {
  return create(ServerToAgentSchema, {
    instanceUid: uid,
    capabilities: opts.capabilities ?? SERVER_CAPABILITIES,
    command: { type: CommandType.CommandType_Restart },
  });
}

/**
 * True when `msg` carries error_response together with any of fields 3..11 (flags and capabilities
 * included), which the spec forbids. For assertions in tests and as a guard before sending.
 */
export function violatesErrorExclusivity(msg: ServerToAgent): boolean {
  if (msg.errorResponse === undefined) return false;
  return (
    msg.remoteConfig !== undefined ||
    msg.connectionSettings !== undefined ||
    msg.packagesAvailable !== undefined ||
    msg.flags !== 0n ||
    msg.capabilities !== 0n ||
    msg.agentIdentification !== undefined ||
    msg.command !== undefined ||
    msg.customCapabilities !== undefined ||
    msg.customMessage !== undefined
  );
}
