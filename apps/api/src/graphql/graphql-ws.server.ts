// GraphQL over WebSocket (the graphql-transport-ws protocol of graphql-ws) at /graphql on the api's
// own HTTP server: upgrades of that path only, credentials in the `connection_init` payload
// ({ authorization: "Bearer …" } or { token }) or the upgrade request's Authorization header.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { CloseCode, type Context } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { AUTHENTICATOR, type Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/roles.js';
import { counter } from '@opamp/telemetry';
import { ErrorCode, codedError, problemOf, problemToGraphQLError } from './errors.js';
import { GraphqlGate } from './graphql-gate.js';
import { GraphqlService, RequestRefused, parseGraphqlRequest } from './graphql.service.js';
import type { GraphqlContext } from './resolver-types.js';

export const GRAPHQL_PATH = '/graphql';
/** Largest message accepted (a mutation adding a config version carries up to ~5.6 MB). */
const MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;
/** Operations one connection may run at once. */
export const MAX_OPERATIONS_PER_SOCKET = 100;
/** How often an open connection re-checks its credentials (a revoked key is disconnected). */
export const WS_REAUTH_MS = 60_000;
/** Ping interval; a client that misses a pong for this long is dropped. */
const KEEPALIVE_MS = 12_000;

const connections = counter('opamp_api_graphql_ws_connections_total', 'graphql-ws connections, by outcome', [
  'outcome',
]);

interface SocketState {
  authorization: string | undefined;
  ip: string | undefined;
  userAgent: string | undefined;
  principal: Principal;
  reauth: NodeJS.Timeout;
}

type Ctx = Context<Record<string, unknown> | undefined, Extra>;

/** The credential of a connection: the connection_init payload first, then the upgrade request. */
export function connectionAuthorization(
  params: Record<string, unknown> | undefined,
  request: IncomingMessage,
): string | undefined {
  const fromParams = params?.authorization ?? params?.Authorization;
  if (typeof fromParams === 'string') return fromParams;
  if (typeof params?.token === 'string') return `Bearer ${params.token}`;
  return request.headers.authorization;
}

/** A close reason within the 123 bytes WebSocket allows. */
function closeReason(text: string): string {
  return Buffer.byteLength(text) <= 123
    ? text
    : `${Buffer.from(text)
        .subarray(0, 120)
        .toString()
        .replace(/\uFFFD+$/, '')}…`;
}

@Injectable()
export class GraphqlWsServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('GraphqlWs');
  private readonly sockets = new WeakMap<WebSocket, SocketState>();
  private wss: WebSocketServer | undefined;
  private server: Server | undefined;
  private closing = false;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly graphql: GraphqlService,
    private readonly gate: GraphqlGate,
    @Inject(AUTHENTICATOR) private readonly auth: Authenticator,
  ) {}

  onApplicationBootstrap(): void {
    this.server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES });
    useServer(
      {
        onConnect: (ctx) => this.onConnect(ctx),
        onSubscribe: (ctx, _id, payload) => this.onSubscribe(ctx, payload),
        onClose: (ctx) => this.onClose(ctx),
      },
      this.wss,
      KEEPALIVE_MS,
    );
    this.server.on('upgrade', this.onUpgrade);
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== GRAPHQL_PATH) {
      // Nobody else listens for upgrades on this server: answer instead of leaving the socket hanging.
      if (this.server?.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (this.closing || !this.wss) {
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    const wss = this.wss;
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };

  private async onConnect(ctx: Ctx): Promise<boolean> {
    const { socket, request } = ctx.extra;
    const authorization = connectionAuthorization(ctx.connectionParams, request);
    const ip = request.socket.remoteAddress;
    try {
      const principal = await this.auth.authenticate(authorization, ip);
      const reauth = setInterval(() => void this.recheck(socket), WS_REAUTH_MS);
      reauth.unref();
      const userAgent = request.headers['user-agent'];
      this.sockets.set(socket, { authorization, ip, userAgent, principal, reauth });
      connections.inc({ outcome: 'accepted' });
      return true;
    } catch (err) {
      const problem = problemOf(err);
      connections.inc({ outcome: 'refused' });
      const code = problem.status === 401 ? CloseCode.Unauthorized : CloseCode.Forbidden;
      socket.close(code, closeReason(problem.detail));
      return false;
    }
  }

  /** Re-authenticates a long-lived connection; a revoked or expired credential closes it. */
  private async recheck(socket: WebSocket): Promise<void> {
    const state = this.sockets.get(socket);
    if (!state) return;
    try {
      state.principal = await this.auth.authenticate(state.authorization, state.ip);
    } catch (err) {
      const problem = problemOf(err);
      if (problem.status === 401 || problem.status === 403) {
        socket.close(
          problem.status === 401 ? CloseCode.Unauthorized : CloseCode.Forbidden,
          closeReason(problem.detail),
        );
      }
    }
  }

  private async onSubscribe(ctx: Ctx, payload: unknown): Promise<ExecutionArgs | readonly GraphQLError[]> {
    const state = this.sockets.get(ctx.extra.socket);
    if (!state) return [codedError(ErrorCode.unauthenticated, 'The connection is not authenticated.')];
    if (Object.keys(ctx.subscriptions).length > MAX_OPERATIONS_PER_SOCKET) {
      return [
        codedError(
          ErrorCode.badRequest,
          `At most ${MAX_OPERATIONS_PER_SOCKET} operations may run at once on one connection; complete some first.`,
        ),
      ];
    }
    try {
      // Each operation counts against the caller's rate limit and sees a revoked key at once.
      const { principal } = await this.gate.admit(state.authorization, state.ip);
      state.principal = principal;
      const op = this.graphql.prepare(parseGraphqlRequest(payload));
      const context: GraphqlContext = {
        principal,
        ...(state.ip !== undefined ? { ip: state.ip } : {}),
        ...(state.userAgent !== undefined ? { userAgent: state.userAgent } : {}),
      };
      return {
        schema: this.graphql.schema,
        document: op.document,
        operationName: op.request.operationName,
        variableValues: op.request.variables,
        contextValue: context,
      };
    } catch (err) {
      if (err instanceof RequestRefused) return err.errors;
      return [problemToGraphQLError(problemOf(err))];
    }
  }

  private onClose(ctx: Ctx): void {
    const state = this.sockets.get(ctx.extra.socket);
    if (state) clearInterval(state.reauth);
    this.sockets.delete(ctx.extra.socket);
  }

  /** Closes every connection (1001 Going Away) so the HTTP server can close; stragglers are cut after 1 s. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    this.server?.off('upgrade', this.onUpgrade);
    const wss = this.wss;
    if (!wss) return;
    for (const client of wss.clients) client.close(1001, 'The server is shutting down; reconnect.');
    const deadline = Date.now() + 1000;
    while (wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    this.logger.debug('graphql-ws closed');
  }
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
