// POST /graphql (GraphQL over HTTP). A middleware rather than a REST route: it is one endpoint for
// every operation, so roles are checked per field and audit entries written per mutation
// (executable-schema.ts), not per request as the REST guard and audit interceptor would.
import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { ExecutionResult } from 'graphql';
import { ProblemException } from '../common/problem.js';
import { ErrorCode, codedError } from './errors.js';
import { rateHeaders } from '../auth/rate-limiter.js';
import { GraphqlGate } from './graphql-gate.js';
import { GraphqlService, RequestRefused, parseGraphqlRequest } from './graphql.service.js';

const GRAPHQL_RESPONSE = 'application/graphql-response+json';

function send(req: Request, res: Response, status: number, body: ExecutionResult): void {
  const accept = req.headers.accept ?? '';
  const type = accept.includes(GRAPHQL_RESPONSE) ? GRAPHQL_RESPONSE : 'application/json';
  res.status(status).setHeader('Content-Type', `${type}; charset=utf-8`);
  res.end(JSON.stringify(body));
}

@Injectable()
export class GraphqlHttpMiddleware implements NestMiddleware {
  constructor(
    private readonly graphql: GraphqlService,
    private readonly gate: GraphqlGate,
  ) {}

  /** Errors thrown here leave as problem+json through the app's exception filter (ProblemFilter). */
  async use(req: Request, res: Response, _next: NextFunction): Promise<void> {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      throw new ProblemException({
        type: 'about:blank',
        title: 'Method Not Allowed',
        status: 405,
        detail:
          'POST a GraphQL request {"query", "variables"?, "operationName"?} here, or connect with graphql-ws for subscriptions.',
      });
    }
    // Unauthenticated and rate-limited requests get the same problem+json 401 / 429 as REST.
    const { principal, rate } = await this.gate.admit(req.headers.authorization, req.ip);
    for (const [name, value] of Object.entries(rateHeaders(rate))) res.setHeader(name, value);
    let result: ExecutionResult;
    try {
      const op = this.graphql.prepare(parseGraphqlRequest(req.body));
      if (op.operation.operation === 'subscription') {
        throw new RequestRefused([
          codedError(ErrorCode.badRequest, 'Subscriptions run over WebSocket: connect to /graphql with graphql-ws.'),
        ]);
      }
      result = await this.graphql.execute(op, {
        principal,
        ...(req.ip !== undefined ? { ip: req.ip } : {}),
        ...(req.headers['user-agent'] !== undefined ? { userAgent: req.headers['user-agent'] } : {}),
      });
    } catch (err) {
      if (!(err instanceof RequestRefused)) throw err;
      send(req, res, err.status, { errors: err.errors });
      return;
    }
    send(req, res, 'data' in result ? 200 : 400, result);
  }
}
