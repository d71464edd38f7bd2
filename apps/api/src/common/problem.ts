// RFC 9457 problem details: every error the API returns is `application/problem+json` with
// type, title, status and a human-readable detail.

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export interface InvalidParam {
  /** Query parameter, path parameter or body field. */
  name: string;
  reason: string;
}

export interface ProblemDetails {
  /** A URI identifying the problem type; `about:blank` when the HTTP status says it all. */
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The request path. */
  instance?: string;
  /** Validation errors, one per offending parameter. */
  invalidParams?: InvalidParam[];
}

/** Problem types of this API (stable identifiers, documented in the OpenAPI document). */
export const ProblemType = {
  validation: 'urn:opampcp:problem:validation-error',
  invalidSelector: 'urn:opampcp:problem:invalid-label-selector',
  invalidCursor: 'urn:opampcp:problem:invalid-cursor',
  invalidUid: 'urn:opampcp:problem:invalid-agent-uid',
  agentNotFound: 'urn:opampcp:problem:agent-not-found',
  capabilityMissing: 'urn:opampcp:problem:capability-missing',
  routeNotFound: 'urn:opampcp:problem:route-not-found',
  malformedBody: 'urn:opampcp:problem:malformed-body',
  unavailable: 'urn:opampcp:problem:dependency-unavailable',
  internal: 'urn:opampcp:problem:internal-error',
  unauthenticated: 'urn:opampcp:problem:unauthenticated',
  forbidden: 'urn:opampcp:problem:forbidden',
  rateLimited: 'urn:opampcp:problem:rate-limited',
  notFound: 'urn:opampcp:problem:not-found',
  conflict: 'urn:opampcp:problem:conflict',
} as const;

/** Thrown by controllers and services; turned into a problem+json response by ProblemFilter. */
export class ProblemException extends Error {
  constructor(
    readonly problem: Omit<ProblemDetails, 'instance'>,
    /** Response headers that go with the problem (WWW-Authenticate, Retry-After, RateLimit-*). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(problem.detail);
    this.name = 'ProblemException';
  }

  get status(): number {
    return this.problem.status;
  }
}

export function validationProblem(
  invalidParams: InvalidParam[],
  type: string = ProblemType.validation,
  title = 'Invalid request',
): ProblemException {
  return new ProblemException({
    type,
    title,
    status: 400,
    detail: invalidParams.map((p) => `${p.name}: ${p.reason}`).join('; '),
    invalidParams,
  });
}

export function agentNotFound(uid: string): ProblemException {
  return new ProblemException({
    type: ProblemType.agentNotFound,
    title: 'Agent not found',
    status: 404,
    detail: `No agent with uid ${uid} is known.`,
  });
}
