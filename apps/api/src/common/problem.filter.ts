import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { isDatabaseUnavailable } from '@opamp/database';
import { PROBLEM_CONTENT_TYPE, ProblemException, ProblemType, type ProblemDetails } from './problem.js';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Retry-After of a 503 caused by a dependency (Postgres) being unreachable. */
const DEPENDENCY_RETRY_AFTER_SECONDS = 5;

function messageOf(e: HttpException): string {
  const body = e.getResponse();
  if (typeof body === 'string') return body;
  const msg = (body as { message?: unknown }).message;
  if (Array.isArray(msg)) return msg.join('; ');
  if (typeof msg === 'string') return msg;
  return e.message;
}

/** Maps anything thrown while handling a request to an RFC 9457 problem+json response. */
export function toProblem(err: unknown, req: Pick<Request, 'method' | 'originalUrl' | 'url'>): ProblemDetails {
  const instance = (req.originalUrl || req.url).split('?')[0];
  if (err instanceof ProblemException) return { ...err.problem, instance };
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const message = messageOf(err);
    // Nest's router answers unknown routes with "Cannot GET /path".
    if (status === 404 && /^Cannot [A-Z]+ /.test(message)) {
      return {
        type: ProblemType.routeNotFound,
        title: 'Not Found',
        status,
        detail: `There is no route ${req.method} ${instance}. The REST API lives under /api/v1.`,
        instance,
      };
    }
    // body-parser failures (invalid JSON, too large) arrive as Bad Request / Payload Too Large.
    const cause = (err as { cause?: { type?: string } }).cause;
    if (status === 400 && (cause?.type === 'entity.parse.failed' || /JSON/.test(message))) {
      return {
        type: ProblemType.malformedBody,
        title: 'Malformed request body',
        status,
        detail: `The request body is not valid JSON: ${message}`,
        instance,
      };
    }
    return { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail: message, instance };
  }
  // Postgres down or restarting: the request may well succeed in a moment (503, not 500).
  if (isDatabaseUnavailable(err)) {
    return {
      type: ProblemType.unavailable,
      title: 'Service Unavailable',
      status: 503,
      detail: 'The database (Postgres) cannot be reached right now; try again shortly.',
      instance,
    };
  }
  return {
    type: ProblemType.internal,
    title: 'Internal Server Error',
    status: 500,
    detail: 'The server failed to handle this request; the error has been logged.',
    instance,
  };
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const problem = toProblem(err, req);
    if (problem.type === ProblemType.unavailable) {
      this.logger.warn(`${req.method} ${problem.instance}: ${err instanceof Error ? err.message.trim() : String(err)}`);
      if (!res.headersSent) res.setHeader('Retry-After', String(DEPENDENCY_RETRY_AFTER_SECONDS));
    } else if (problem.status >= 500) {
      this.logger.error(
        `${req.method} ${problem.instance} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
    }
    if (err instanceof ProblemException && !res.headersSent) {
      for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }
}
