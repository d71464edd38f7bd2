// Exit codes (fixed by the platform API contract, docs/cli.md) and the errors that end a command.

export const ExitCode = {
  /** Done; with --wait: the rollout completed (or the command succeeded). */
  ok: 0,
  /** Network, API or validation error. */
  error: 1,
  /** Wrong command line. */
  usage: 2,
  /** --wait: paused by a person, or held after a manual stage until promoted. */
  paused: 3,
  /** --wait: paused by the failure budget, or aborted (a command: failed or timed out on the agent). */
  failed: 4,
  /** --wait: rolling back or rolled back. */
  rolledBack: 5,
  /** --wait: --timeout elapsed first. */
  timedOut: 6,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A command line that cannot be run as given (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Anything else that stops a command with a message for a person (exit 1). */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

export interface InvalidParam {
  name: string;
  reason: string;
}

/** RFC 9457 problem details as this API sends them (extension members included). */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  invalidParams?: InvalidParam[];
  /** 422 invalid config version. */
  problems?: Array<{ file?: string; line?: number; column?: number; message: string }>;
  /** 409 overlapping rollouts. */
  conflictingRollouts?: Array<{ id: string; agents: number }>;
  /** 409 invalid rollout transition. */
  state?: string;
  [key: string]: unknown;
}

/** The API answered with an error status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly url: string,
    /** The problem+json body, when the answer was one. */
    readonly problem: Problem | undefined,
    /** The body when it was not problem+json (cut). */
    readonly text: string,
    readonly statusText = '',
  ) {
    super(apiErrorLine(status, method, url, problem, text, statusText));
    this.name = 'ApiError';
  }
}

/** The API could not be reached (DNS, refused, TLS, timeout). */
export class NetworkError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`cannot reach ${url}: ${causeText(cause)}`);
    this.name = 'NetworkError';
  }
}

function causeText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'no answer in time (request timed out)';
  // fetch() wraps the socket error: "fetch failed" with the useful part in `cause`.
  const inner = (err as Error & { cause?: unknown }).cause;
  if (inner instanceof Error) {
    const code = (inner as Error & { code?: string }).code;
    return code && !inner.message.includes(code) ? `${code} ${inner.message}` : inner.message;
  }
  return err.message;
}

const MAX_LISTED = 10;

/**
 * One line for a person: `title: detail` plus what the detail does not already say (invalid
 * parameters, config problems, conflicting rollouts, the current state) and the HTTP status.
 */
export function apiErrorLine(
  status: number,
  method: string,
  url: string,
  problem: Problem | undefined,
  text: string,
  statusText = '',
): string {
  if (!problem || (problem.title === undefined && problem.detail === undefined)) {
    const body = text.trim().replace(/\s+/g, ' ');
    const said = body === '' ? '' : `: ${body.length > 200 ? `${body.slice(0, 199)}…` : body}`;
    return `${method} ${url} answered HTTP ${status}${statusText ? ` ${statusText}` : ''}${said}`;
  }
  const title = problem.title ?? `HTTP ${status}`;
  const detail = problem.detail ?? '';
  const extras: string[] = [];
  const params = (problem.invalidParams ?? []).filter(
    (p) => !detail.includes(`${p.name}: ${p.reason}`) && !detail.includes(p.reason),
  );
  if (params.length > 0) extras.push(listed(params.map((p) => `${p.name}: ${p.reason}`)));
  if (problem.problems && problem.problems.length > 0) {
    extras.push(
      listed(
        problem.problems.map((p) => {
          const where = [p.file, p.line, p.column].filter((x) => x !== undefined && x !== null).join(':');
          return where === '' ? p.message : `${where}: ${p.message}`;
        }),
      ),
    );
  }
  if (problem.conflictingRollouts && problem.conflictingRollouts.length > 0) {
    const ids = problem.conflictingRollouts.filter((c) => !detail.includes(c.id));
    if (ids.length > 0) extras.push(`conflicting rollouts: ${listed(ids.map((c) => `${c.id} (${c.agents} agents)`))}`);
  }
  const head = detail === '' ? title : `${title}: ${detail}`;
  const tail = extras.length > 0 ? ` [${extras.join('; ')}]` : '';
  return `${head}${tail} (HTTP ${status})`;
}

function listed(items: string[]): string {
  const shown = items.slice(0, MAX_LISTED).join('; ');
  return items.length > MAX_LISTED ? `${shown}; … ${items.length - MAX_LISTED} more` : shown;
}
