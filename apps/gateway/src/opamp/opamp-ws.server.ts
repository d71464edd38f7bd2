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
import { WebSocket, WebSocketServer, type RawData, type Server as WsServer } from 'ws';
import { Transport, type OutboundEnvelope } from '@opamp/proto';
import { decodeWsFrame, encodeServerToAgent, encodeWsFrame, unavailable } from '@opamp/protocol';
import { HealthService } from '@opamp/telemetry';
import { AdmissionService } from '../admission/admission.service.js';
import { GatewayBusService } from '../bus/gateway-bus.service.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.config.js';
import { AgentAuthService, type AuthResult } from './agent-auth.service.js';
import { gatewayMetrics } from './gateway.metrics.js';
import { IngressService } from './ingress.service.js';
import { isPackedUid, packUid, unpackUid } from './packed-uid.js';

export const OPAMP_PATH = '/v1/opamp';
export const TOKEN_REVOKED_REASON = 'enrollment token revoked';

/** Close codes we use (RFC 6455 §7.4.1). */
export const CloseCodes = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
  /** The enrollment token that admitted the connection was revoked (docs/enrollment.md). */
  tokenRevoked: 4401,
} as const;

/** Where onUpgrade leaves the token verdict for onConnection (the upgrade request carries it). */
const ADMITTED_BY = Symbol('admittedBy');
type UpgradeRequest = IncomingMessage & { [ADMITTED_BY]?: AuthResult };

/**
 * One live agent WebSocket, which is also its connection record: ws builds sockets of this class
 * (the server's `WebSocket` option), and their event listeners are functions shared by all
 * sockets (`this` is the socket). A pod aims at 100k of these, so a separate record object, four
 * closures and their context per connection (~1 KiB) are worth avoiding.
 */
export class AgentSocket extends WebSocket {
  owner: OpampWsServer | undefined = undefined;
  /** Id in bus envelopes and in the pod's connection table. */
  connectionId = '';
  /** First uid seen on this socket, packed (see packUid); '' until the first valid message. */
  uid = '';
  /** Further uids, when a proxy multiplexes several agents on one socket. */
  moreUids: string[] | undefined = undefined;
  missedPongs = 0;
  malformedInARow = 0;
  /** Index of the enrollment token that admitted the socket in AgentAuthService.admitted; 0: none. */
  tokenIndex = 0;
}

const EMPTY_UID = new Uint8Array(0);

/** Until the handshake completes, a socket error just destroys the socket (shared listener). */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * OpAMP over WebSocket on the gateway's HTTP server. We use `ws` directly instead of a Nest
 * `@WebSocketGateway`: OpAMP must refuse an upgrade with 401/429/503 + Retry-After *before* the
 * 101 (checklist §1.1, §1.3), which the gateway abstraction does not allow, and frames are
 * binary with a varint header rather than Nest's event messages.
 */
@Injectable()
export class OpampWsServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OpampWs');
  private wss: WsServer<typeof AgentSocket> | undefined;
  private readonly connections = new Map<string, AgentSocket>();
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
      WebSocket: AgentSocket,
      maxPayload: this.config.OPAMP_MAX_MESSAGE_BYTES,
      perMessageDeflate: this.config.GATEWAY_WS_COMPRESSION ? { threshold: 1024 } : false,
      clientTracking: false,
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.bus.onOutbound((envelope) => this.deliver(envelope));
    this.auth.onRevoked((tokenId) => this.closeAdmittedBy(tokenId));
    this.pingTimer = setInterval(() => this.pingAll(), this.config.GATEWAY_PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroyOnError);
    const path = (req.url ?? '/').split('?')[0];
    if (path !== OPAMP_PATH) return refuseUpgrade(socket, 404);
    const auth = this.auth.authenticate(req.headers);
    if (!(auth instanceof Promise)) return this.upgradeAuthenticated(req, socket, head, auth);
    auth.then(
      (result) => this.upgradeAuthenticated(req, socket, head, result),
      (err: Error) => {
        this.logger.error(`authentication failed: ${err.message}`);
        refuseUpgrade(socket, 503, { 'Retry-After': String(this.admission.retryAfterSeconds()) });
      },
    );
  }

  private upgradeAuthenticated(req: UpgradeRequest, socket: Duplex, head: Buffer, auth: AuthResult): void {
    if (socket.destroyed) return; // the peer left while its token was looked up
    if (!auth.ok) {
      return auth.status === 401
        ? refuseUpgrade(socket, 401, { 'WWW-Authenticate': 'Bearer realm="opamp"' })
        : refuseUpgrade(socket, 503, { 'Retry-After': String(this.admission.retryAfterSeconds()) });
    }
    const decision = this.admission.admitNewContact();
    if (!decision.admitted) {
      return refuseUpgrade(socket, decision.status, { 'Retry-After': String(decision.retryAfterSeconds) });
    }
    if (auth.tokenId) req[ADMITTED_BY] = auth;
    // ws watches the socket for errors from here on (its handshake listener, then the WebSocket's).
    socket.removeListener('error', destroyOnError);
    this.wss!.handleUpgrade(req, socket, head, this.onConnection);
  }

  /** handleUpgrade's callback; an arrow property so each upgrade does not allocate a closure. */
  private readonly onConnection = (ws: AgentSocket, req: UpgradeRequest): void => {
    this.connectionSeq = (this.connectionSeq + 1) % Number.MAX_SAFE_INTEGER;
    ws.owner = this;
    ws.connectionId = `w${this.connectionSeq.toString(36)}`;
    const admittedBy = req[ADMITTED_BY];
    if (admittedBy?.ok) ws.tokenIndex = this.auth.admitted.acquire(admittedBy.tokenId, admittedBy.tokenDigest);
    this.connections.set(ws.connectionId, ws);
    gatewayMetrics.connections.set(this.connections.size);
    ws.on('message', OpampWsServer.socketMessage);
    ws.on('pong', OpampWsServer.socketPong);
    ws.on('error', OpampWsServer.socketError);
    ws.on('close', OpampWsServer.socketClose);
    // Revoked between the lookup and the handshake: the revocation sweep missed this socket.
    if (admittedBy?.ok && this.auth.isRevoked(admittedBy.tokenId)) {
      ws.close(CloseCodes.tokenRevoked, TOKEN_REVOKED_REASON);
    }
  };

  // Listeners shared by every socket: `this` is the socket, always an AgentSocket (ws builds them).
  private static socketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = this as AgentSocket;
    conn.owner?.onMessage(conn, data as Buffer, isBinary);
  }

  private static socketPong(this: WebSocket): void {
    (this as AgentSocket).missedPongs = 0;
  }

  private static socketError(this: WebSocket, err: Error): void {
    // ws closes the socket itself after an error (1009 for maxPayload, 1002 for protocol errors).
    const conn = this as AgentSocket;
    conn.owner?.logger.debug(`connection ${conn.connectionId}: ${err.message}`);
  }

  private static socketClose(this: WebSocket, code: number, reason: Buffer): void {
    const conn = this as AgentSocket;
    conn.owner?.onClose(conn, code, reason.toString());
  }

  private onMessage(conn: AgentSocket, data: Buffer, isBinary: boolean): void {
    conn.missedPongs = 0;
    if (!isBinary) {
      // OpAMP only uses binary messages; a text frame means the peer is not an OpAMP agent.
      gatewayMetrics.malformed.inc({ transport: 'ws', reason: 'text_frame' });
      conn.close(CloseCodes.unsupportedData, 'text frames are not supported');
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

    // Packed into a string, never kept as the decoded uid: that is a view into the frame, which would
    // pin the whole first message (often the agent's full state, several KiB) for the connection's life.
    rememberUid(conn, parsed.uid);
    const requestId = this.bus.pending.nextId();
    this.bus.pending.track(requestId);
    this.ingress
      .forward(parsed.uid, frame.data, {
        transport: Transport.WEBSOCKET,
        connectionId: conn.connectionId,
        requestId,
        enrollmentTokenId: this.auth.admitted.idAt(conn.tokenIndex),
      })
      .catch((err: Error) => {
        this.bus.pending.cancel(requestId);
        this.logger.warn(`cannot append message of ${conn.connectionId} to the bus: ${err.message}`);
        this.shed(conn, parsed.uid, this.admission.retryAfterSeconds());
      });
  }

  /** BAD_REQUEST for the message; the socket stays usable unless the peer keeps sending garbage. */
  private malformed(conn: AgentSocket, uid: Uint8Array, reason: string, metric: string): void {
    gatewayMetrics.malformed.inc({ transport: 'ws', reason: metric });
    this.send(conn, this.ingress.badRequestBytes(uid, reason));
    conn.malformedInARow++;
    if (conn.malformedInARow >= this.config.GATEWAY_MAX_MALFORMED_IN_A_ROW) {
      conn.close(CloseCodes.policyViolation, 'too many malformed messages');
    }
  }

  /** Overload: tell the agent when to come back (UNAVAILABLE + retry_info), then close 1013. */
  private shed(conn: AgentSocket, uid: Uint8Array, retryAfterSeconds: number): void {
    this.send(conn, encodeServerToAgent(unavailable(uid, retryAfterSeconds, 'server overloaded, retry later')));
    conn.close(CloseCodes.tryAgainLater, 'overloaded');
  }

  private send(conn: AgentSocket, serverToAgent: Uint8Array): void {
    if (serverToAgent.byteLength + 1 > this.config.OPAMP_MAX_MESSAGE_BYTES) {
      // The spec forbids sending an oversized message; record it instead.
      gatewayMetrics.outboundDropped.inc({ reason: 'too_large' });
      this.logger.error(
        `ServerToAgent of ${serverToAgent.byteLength} bytes for ${conn.connectionId} exceeds the limit; not sent`,
      );
      return;
    }
    if (conn.readyState !== WebSocket.OPEN) {
      gatewayMetrics.outboundDropped.inc({ reason: 'socket_closed' });
      return;
    }
    conn.send(encodeWsFrame(serverToAgent), { binary: true });
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
    if (envelope.close) conn.close(envelope.close.code || CloseCodes.policyViolation, envelope.close.reason);
  }

  private onClose(conn: AgentSocket, code: number, reason: string): void {
    this.connections.delete(conn.connectionId);
    if (conn.tokenIndex !== 0) {
      this.auth.admitted.release(conn.tokenIndex);
      conn.tokenIndex = 0;
    }
    gatewayMetrics.connections.set(this.connections.size);
    gatewayMetrics.closes.inc({ code: String(code) });
    if (conn.uid === '') return;
    for (const packed of conn.moreUids ? [conn.uid, ...conn.moreUids] : [conn.uid]) {
      this.ingress.connectionClosed(unpackUid(packed), conn.connectionId, code, reason).catch((err: Error) => {
        // The fleet still notices through the liveness deadline.
        this.logger.warn(`cannot report close of ${conn.connectionId}: ${err.message}`);
      });
    }
  }

  /**
   * An enrollment token was revoked: close every socket it admitted with 4401. The agent's next
   * upgrade with that token gets 401. O(connections), and revocations are rare.
   */
  private closeAdmittedBy(tokenId: string): void {
    const index = this.auth.admitted.indexOf(tokenId);
    if (index === 0) return;
    let closed = 0;
    for (const conn of this.connections.values()) {
      if (conn.tokenIndex !== index) continue;
      conn.close(CloseCodes.tokenRevoked, TOKEN_REVOKED_REASON);
      closed++;
    }
    if (closed > 0) this.logger.log(`enrollment token ${tokenId} revoked: closed ${closed} connection(s) with 4401`);
  }

  /** Half-open TCP detection: ping every interval, terminate after 2 unanswered pings. */
  private pingAll(): void {
    for (const conn of this.connections.values()) {
      if (conn.missedPongs >= 2) {
        conn.terminate();
        continue;
      }
      conn.missedPongs++;
      try {
        conn.ping();
      } catch {
        conn.terminate();
      }
    }
  }

  /** SIGTERM: refuse new work, close every socket with 1001 so agents reconnect elsewhere. */
  async beforeApplicationShutdown(): Promise<void> {
    this.admission.startDraining();
    this.health.markShuttingDown();
    clearInterval(this.pingTimer);
    for (const conn of this.connections.values()) conn.close(CloseCodes.goingAway, 'server shutting down');
    const deadline = Date.now() + Math.min(5000, this.config.GATEWAY_DRAIN_TIMEOUT_MS);
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const conn of this.connections.values()) conn.terminate();
    await this.bus.pending.drained(this.config.GATEWAY_DRAIN_TIMEOUT_MS);
    this.wss?.close();
  }
}

/** Records a uid seen on the socket (usually one per socket). */
function rememberUid(conn: AgentSocket, uid: Uint8Array): void {
  if (conn.uid === '') {
    conn.uid = packUid(uid);
    return;
  }
  if (isPackedUid(conn.uid, uid) || conn.moreUids?.some((p) => isPackedUid(p, uid))) return;
  (conn.moreUids ??= []).push(packUid(uid));
}

function refuseUpgrade(socket: Duplex, status: number, headers: Record<string, string> = {}): void {
  gatewayMetrics.upgradesRefused.inc({ status: String(status) });
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, 'Connection: close', 'Content-Length: 0'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n`);
}
