// Problem types of the commands routes (RFC 9457), next to the shared ones in common/problem.ts.
import { ProblemException, type InvalidParam, type ProblemDetails } from '../common/problem.js';

export const CommandProblemType = {
  commandNotFound: 'urn:opampcp:problem:command-not-found',
  commandTypeNotFound: 'urn:opampcp:problem:command-type-not-found',
  unknownCommandType: 'urn:opampcp:problem:unknown-command-type',
  invalidParameters: 'urn:opampcp:problem:invalid-command-parameters',
  invalidSchema: 'urn:opampcp:problem:invalid-parameters-schema',
  bulkTooLarge: 'urn:opampcp:problem:bulk-too-large',
} as const;

type Extended = Omit<ProblemDetails, 'instance'> & Record<string, unknown>;

export function commandNotFound(id: string): ProblemException {
  return new ProblemException({
    type: CommandProblemType.commandNotFound,
    title: 'Command not found',
    status: 404,
    detail: `No command with id ${id} exists.`,
  });
}

export function commandTypeNotFound(capability: string, type: string): ProblemException {
  return new ProblemException({
    type: CommandProblemType.commandTypeNotFound,
    title: 'Command type not found',
    status: 404,
    detail: `No command type "${type}" is defined for capability "${capability}".`,
  });
}

/** The command a request names has no command type: 422, listing the types the capability has. */
export function unknownCommandType(capability: string, type: string, known: readonly string[]): ProblemException {
  const list = known.length > 0 ? known.map((t) => `"${t}"`).join(', ') : 'none';
  const problem: Extended = {
    type: CommandProblemType.unknownCommandType,
    title: 'Unknown command type',
    status: 422,
    detail:
      `No command type "${type}" is defined for capability "${capability}" (known types for it: ${list}). ` +
      'An admin defines one with PUT /api/v1/command-types/{capability}/{type}.',
    invalidParams: [{ name: 'type', reason: `not a command type of capability "${capability}" (known: ${list})` }],
    knownTypes: [...known],
  };
  return new ProblemException(problem);
}

export function invalidParameters(capability: string, type: string, params: InvalidParam[]): ProblemException {
  return new ProblemException({
    type: CommandProblemType.invalidParameters,
    title: 'Invalid command parameters',
    status: 422,
    detail: `The parameters do not match the schema of ${capability}/${type}: ${params
      .map((p) => `${p.name} ${p.reason}`)
      .join('; ')}`,
    invalidParams: params,
  });
}
