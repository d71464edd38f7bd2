import { Injectable } from '@nestjs/common';
import { Transport, type AgentToServer } from '@opamp/proto';
import { badRequest, decodeAgentToServer, encodeServerToAgent, validateInstanceUid } from '@opamp/protocol';
import { traceparentOf } from '@opamp/telemetry';
import { GatewayBusService } from '../bus/gateway-bus.service.js';
import { gatewayMetrics } from './gateway.metrics.js';

export type ParsedAgentMessage =
  | { kind: 'ok'; uid: Uint8Array; message: AgentToServer }
  /** Bytes are not a valid AgentToServer (truncated, wrong wire type, too deep, bad UTF-8). */
  | { kind: 'undecodable'; reason: string }
  /** Decodes, but a field value is invalid (the uid); answered with BAD_REQUEST for that uid. */
  | { kind: 'invalid'; uid: Uint8Array; reason: string };

export interface ForwardContext {
  transport: Transport;
  connectionId: string;
  requestId: string;
  /** Id of the enrollment token that admitted the connection or request; '' for none. */
  enrollmentTokenId?: string;
}

/**
 * What both transports share: validate an AgentToServer just enough to refuse garbage and read
 * the uid, then append the untouched bytes to the agent's shard. The fleet decodes it again:
 * re-encoding here would cost CPU on the hot path and could drop unknown fields.
 */
@Injectable()
export class IngressService {
  constructor(private readonly bus: GatewayBusService) {}

  parse(bytes: Uint8Array): ParsedAgentMessage {
    const decoded = decodeAgentToServer(bytes);
    if (!decoded.ok) return { kind: 'undecodable', reason: decoded.reason };
    const problem = validateInstanceUid(decoded.message);
    if (problem) return { kind: 'invalid', uid: decoded.message.instanceUid, reason: problem };
    return { kind: 'ok', uid: decoded.message.instanceUid, message: decoded.message };
  }

  async forward(uid: Uint8Array, bytes: Uint8Array, ctx: ForwardContext): Promise<void> {
    const transport = ctx.transport === Transport.HTTP ? 'http' : 'ws';
    await this.bus.publish({
      instanceUid: uid,
      connectionId: ctx.connectionId,
      transport: ctx.transport,
      receivedAtMs: BigInt(Date.now()),
      traceparent: traceparentOf(),
      requestId: ctx.requestId,
      enrollmentTokenId: ctx.enrollmentTokenId ?? '',
      payload: { case: 'agentToServer', value: bytes },
    });
    gatewayMetrics.messagesIn.inc({ transport });
    gatewayMetrics.bytesIn.inc({ transport }, bytes.byteLength);
  }

  async connectionClosed(uid: Uint8Array, connectionId: string, code: number, reason: string): Promise<void> {
    await this.bus.publish({
      instanceUid: uid,
      connectionId,
      transport: Transport.WEBSOCKET,
      receivedAtMs: BigInt(Date.now()),
      payload: { case: 'connectionClosed', value: { code, reason } },
    });
  }

  /** ServerToAgent{instance_uid, error_response BAD_REQUEST}, serialized. */
  badRequestBytes(uid: Uint8Array, reason: string): Uint8Array {
    return encodeServerToAgent(badRequest(uid, reason));
  }
}
