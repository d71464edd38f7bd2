// GraphQL errors with codes (docs/graphql.md, Errors). Everything a resolver throws goes through
// the same mapping as REST (toProblem: ProblemException, Postgres unavailable, anything else a
// logged 500), then the problem becomes `extensions`: code, status, type, invalidParams and the
// problem's extension members (e.g. `problems` of an invalid config, `conflictingRollouts`).
import { Logger } from '@nestjs/common';
import { GraphQLError } from 'graphql';
import { toProblem } from '../common/problem.filter.js';
import type { ProblemDetails } from '../common/problem.js';

export const ErrorCode = {
  unauthenticated: 'UNAUTHENTICATED',
  forbidden: 'FORBIDDEN',
  badUserInput: 'BAD_USER_INPUT',
  notFound: 'NOT_FOUND',
  conflict: 'CONFLICT',
  rateLimited: 'RATE_LIMITED',
  unavailable: 'UNAVAILABLE',
  internal: 'INTERNAL',
  /** The request is not a GraphQL request (no query, a subscription over HTTP, …). */
  badRequest: 'BAD_REQUEST',
  parseFailed: 'GRAPHQL_PARSE_FAILED',
  validationFailed: 'GRAPHQL_VALIDATION_FAILED',
  /** A subscriber fell too far behind and was completed. */
  slowConsumer: 'SLOW_CONSUMER',
} as const;
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The code of a problem's HTTP status. */
export function codeForStatus(status: number): ErrorCodeName {
  if (status === 401) return ErrorCode.unauthenticated;
  if (status === 403) return ErrorCode.forbidden;
  if (status === 404) return ErrorCode.notFound;
  if (status === 409) return ErrorCode.conflict;
  if (status === 429) return ErrorCode.rateLimited;
  if (status === 503) return ErrorCode.unavailable;
  if (status >= 400 && status < 500) return ErrorCode.badUserInput;
  return ErrorCode.internal;
}

const GRAPHQL_REQUEST = { method: 'POST', originalUrl: '/graphql', url: '/graphql' };
const logger = new Logger('GraphQL');

/** The problem an error stands for (status, type, detail, …) exactly as REST would answer. */
export function problemOf(err: unknown): ProblemDetails {
  const { instance: _instance, ...problem } = toProblem(err, GRAPHQL_REQUEST);
  return problem;
}

export function problemToGraphQLError(problem: ProblemDetails): GraphQLError {
  const { type, title, status, detail, instance: _instance, ...members } = problem;
  return new GraphQLError(detail, {
    extensions: { code: codeForStatus(status), status, type, title, ...members },
  });
}

/** Any error thrown while resolving, as the GraphQLError the client sees. */
export function toGraphQLError(err: unknown): GraphQLError {
  if (err instanceof GraphQLError) return err;
  const problem = problemOf(err);
  if (problem.status >= 500 && problem.status !== 503) {
    logger.error(`resolver failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } else if (problem.status === 503) {
    logger.warn(`resolver: ${err instanceof Error ? err.message.trim() : String(err)}`);
  }
  return problemToGraphQLError(problem);
}

export function codedError(
  code: ErrorCodeName,
  message: string,
  extensions: Record<string, unknown> = {},
): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}
