import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { Transport, type OutboundEnvelope } from '@opamp/proto';
import { decodeWsFrame, encodeServerToAgent, encodeWsFrame, uidEquals, unavailable } from '@opamp/protocol';
import { HealthService } from '@opamp/telemetry';
import { AdmissionService } from '../admission/admission.service.js';
import { GatewayBusService } from '../bus/gateway-bus.service.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.config.js';
import { AgentAuthService } from './agent-auth.service.js';
import { gatewayMetrics } from './gateway.metrics.js';
import { IngressService } from './ingress.service.js';

export const OPAMP_PATH = '/v1/opamp';

/** Close codes we use (RFC 6455 §7.4.1). */
export const CloseCodes = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;

/** One live agent WebSocket. Kept small: a pod aims at 100k of these. */
interface AgentConnection {
  readonly id: string;
  readonly ws: WebSocket;
  /** Uids seen on this socket (usually one; several when a proxy multiplexes agents). */
  uids: Uint8Array[];
  missedPongs: number;
  malformedInARow: number;
}

const EMPTY_UID = new Uint8Array(0);

/**
 * OpAMP over WebSocket on the gateway's HTTP server. We use `ws` directly instead of a Nest
 * `@WebSocketGateway`: OpAMP must refuse an upgrade with 401/429/503 + Retry-After *before* the
 * 101 (checklist §1.1, §1.3), which the gateway abstraction does not allow, and frames are
 * binary with a varint header rather than Nest's event messages.
 */
@Injectable()
export class OpampWsServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OpampWs');
  private wss: WebSocketServer | undefined;
  private readonly connections = new Map<string, AgentConnection>();
  private connectionSeq = 0;
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly admission: AdmissionService,
    private readonly auth: AgentAuthService,
    private readonly ingress: IngressService,
    private readonly bus: GatewayBusService,
    private readonly health: HealthService,
  ) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.config.OPAMP_MAX_MESSAGE_BYTES,
      perMessageDeflate: this.config.GATEWAY_WS_COMPRESSION ? { threshold: 1024 } : false,
      clientTracking: false,
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.bus.onOutbound((envelope) => this.deliver(envelope));
    this.pingTimer = setInterval(() => this.pingAll(), this.config.GATEWAY_PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '/').split('?')[0];
    if (path !== OPAMP_PATH) return refuseUpgrade(socket, 404);
    if (!this.auth.isAuthorized(req.headers)) {
      return refuseUpgrade(socket, 401, { 'WWW-Authenticate': 'Bearer realm="opamp"' });
    }
    const decision = this.admission.admitNewContact();
    if (!decision.admitted) {
      return refuseUpgrade(socket, decision.status, { 'Retry-After': String(decision.retryAfterSeconds) });
    }
    this.wss!.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  private onConnection(ws: WebSocket): void {
    this.connectionSeq = (this.connectionSeq + 1) % Number.MAX_SAFE_INTEGER;
    const conn: AgentConnection = {
      id: `w${this.connectionSeq.toString(36)}`,
      ws,
      uids: [],
      missedPongs: 0,
      malformedInARow: 0,
    };
    this.connections.set(conn.id, conn);
    gatewayMetrics.connections.set(this.connections.size);
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(conn, data as Buffer, isBinary));
    ws.on('pong', () => (conn.missedPongs = 0));
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the socket itself after an error (1009 for maxPayload, 1002 for protocol errors).
      this.logger.debug(`connection ${conn.id}: ${err.message}`);
    });
    ws.once('close', (code: number, reason: Buffer) => this.onClose(conn, code, reason.toString()));
  }

  private onMessage(conn: AgentConnection, data: Buffer, isBinary: boolean): void {
    conn.missedPongs = 0;
    if (!isBinary) {
      // OpAMP only uses binary messages; a text frame means the peer is not an OpAMP agent.
      gatewayMetrics.malformed.inc({ transport: 'ws', reason: 'text_frame' });
      conn.ws.close(CloseCodes.unsupportedData, 'text frames are not supported');
      return;
    }
    const frame = decodeWsFrame(data);
    if (!frame.ok) return this.malformed(conn, EMPTY_UID, `bad frame header: ${frame.reason}`, 'header');
    const parsed = this.ingress.parse(frame.data);
    if (parsed.kind === 'undecodable') return this.malformed(conn, EMPTY_UID, parsed.reason, 'decode');
    if (parsed.kind === 'invalid') return this.malformed(conn, parsed.uid, parsed.reason, 'uid');
    conn.malformedInARow = 0;

    const decision = this.admission.admitMessage();
    if (!decision.admitted) return this.shed(conn, parsed.uid, decision.retryAfterSeconds);

    // A copy: the decoded uid is a view into the frame, which would pin the whole first message (often
    // the agent's full state, several KiB) in memory for the life of the connection.
    if (!conn.uids.some((u) => uidEquals(u, parsed.uid))) conn.uids.push(new Uint8Array(parsed.uid));
    const requestId = this.bus.pending.nextId();
    this.bus.pending.track(requestId);
    this.ingress
      .forward(parsed.uid, frame.data, { transport: Transport.WEBSOCKET, connectionId: conn.id, requestId })
      .catch((err: Error) => {
        this.bus.pending.cancel(requestId);
        this.logger.warn(`cannot append message of ${conn.id} to the bus: ${err.message}`);
        this.shed(conn, parsed.uid, this.admission.retryAfterSeconds());
      });
  }

  /** BAD_REQUEST for the message; the socket stays usable unless the peer keeps sending garbage. */
  private malformed(conn: AgentConnection, uid: Uint8Array, reason: string, metric: string): void {
    gatewayMetrics.malformed.inc({ transport: 'ws', reason: metric });
    this.send(conn, this.ingress.badRequestBytes(uid, reason));
    conn.malformedInARow++;
    if (conn.malformedInARow >= this.config.GATEWAY_MAX_MALFORMED_IN_A_ROW) {
      conn.ws.close(CloseCodes.policyViolation, 'too many malformed messages');
    }
  }

  /** Overload: tell the agent when to come back (UNAVAILABLE + retry_info), then close 1013. */
  private shed(conn: AgentConnection, uid: Uint8Array, retryAfterSeconds: number): void {
    this.send(conn, encodeServerToAgent(unavailable(uid, retryAfterSeconds, 'server overloaded, retry later')));
    conn.ws.close(CloseCodes.tryAgainLater, 'overloaded');
  }

  private send(conn: AgentConnection, serverToAgent: Uint8Array): void {
    if (serverToAgent.byteLength + 1 > this.config.OPAMP_MAX_MESSAGE_BYTES) {
      // The spec forbids sending an oversized message; record it instead.
      gatewayMetrics.outboundDropped.inc({ reason: 'too_large' });
      this.logger.error(
        `ServerToAgent of ${serverToAgent.byteLength} bytes for ${conn.id} exceeds the limit; not sent`,
      );
      return;
    }
    if (conn.ws.readyState !== conn.ws.OPEN) {
      gatewayMetrics.outboundDropped.inc({ reason: 'socket_closed' });
      return;
    }
    conn.ws.send(encodeWsFrame(serverToAgent), { binary: true });
    gatewayMetrics.messagesOut.inc({ transport: 'ws' });
  }

  /** A ServerToAgent (reply or push) from the fleet for a socket of this pod. */
  private deliver(envelope: OutboundEnvelope): void {
    const conn = this.connections.get(envelope.connectionId);
    if (!conn) {
      gatewayMetrics.outboundDropped.inc({ reason: 'no_connection' });
      return;
    }
    if (envelope.serverToAgent.byteLength > 0) this.send(conn, envelope.serverToAgent);
    if (envelope.close) conn.ws.close(envelope.close.code || CloseCodes.policyViolation, envelope.close.reason);
  }

  private onClose(conn: AgentConnection, code: number, reason: string): void {
    this.connections.delete(conn.id);
    gatewayMetrics.connections.set(this.connections.size);
    gatewayMetrics.closes.inc({ code: String(code) });
    for (const uid of conn.uids) {
      this.ingress.connectionClosed(uid, conn.id, code, reason).catch((err: Error) => {
        // The fleet still notices through the liveness deadline.
        this.logger.warn(`cannot report close of ${conn.id}: ${err.message}`);
      });
    }
  }

  /** Half-open TCP detection: ping every interval, terminate after 2 unanswered pings. */
  private pingAll(): void {
    for (const conn of this.connections.values()) {
      if (conn.missedPongs >= 2) {
        conn.ws.terminate();
        continue;
      }
      conn.missedPongs++;
      try {
        conn.ws.ping();
      } catch {
        conn.ws.terminate();
      }
    }
  }

  /** SIGTERM: refuse new work, close every socket with 1001 so agents reconnect elsewhere. */
  async beforeApplicationShutdown(): Promise<void> {
    this.admission.startDraining();
    this.health.markShuttingDown();
    clearInterval(this.pingTimer);
    for (const conn of this.connections.values()) conn.ws.close(CloseCodes.goingAway, 'server shutting down');
    const deadline = Date.now() + Math.min(5000, this.config.GATEWAY_DRAIN_TIMEOUT_MS);
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const conn of this.connections.values()) conn.ws.terminate();
    await this.bus.pending.drained(this.config.GATEWAY_DRAIN_TIMEOUT_MS);
    this.wss?.close();
  }
}

function refuseUpgrade(socket: Duplex, status: number, headers: Record<string, string> = {}): void {
  gatewayMetrics.upgradesRefused.inc({ status: String(status) });
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, 'Connection: close', 'Content-Length: 0'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n`);
}
