// Runs GraphQL operations for both transports (POST /graphql and graphql-ws): checks the request's
// shape, parses with a token limit, validates (standard rules + operation limits), executes.
import { Inject, Injectable } from '@nestjs/common';
import {
  GraphQLError,
  execute,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { AgentForgetService } from '../agents/agent-forget.service.js';
import { AgentLabelsService } from '../agents/agent-labels.service.js';
import { AgentsService } from '../agents/agents.service.js';
import { FleetSummaryService } from '../agents/fleet-summary.service.js';
import { AUDIT_SINK, type AuditSink } from '../audit/audit-sink.js';
import { AuditService } from '../audit/audit.service.js';
import { ApiKeysService } from '../auth/api-keys.service.js';
import { CommandTypesService } from '../commands/command-types.service.js';
import { CommandsService } from '../commands/commands.service.js';
import { ConfigsApiService } from '../configs/configs.service.js';
import { EnrollmentTokensService } from '../enrollment/enrollment-tokens.service.js';
import { LiveHub } from '../live/live-hub.service.js';
import { RolloutsService } from '../rollouts/rollouts.service.js';
import { ErrorCode, codedError, type ErrorCodeName } from './errors.js';
import { buildExecutableSchema } from './executable-schema.js';
import { MAX_TOKENS, operationLimitsRule } from './operation-limits.js';
import type { GraphqlContext } from './resolver-types.js';
import { createResolvers } from './resolvers/index.js';

export interface GraphqlRequest {
  query: string;
  variables: Record<string, unknown> | undefined;
  operationName: string | undefined;
}

export interface PreparedOperation {
  request: GraphqlRequest;
  document: DocumentNode;
  operation: OperationDefinitionNode;
}

/** A request refused before execution: the errors to send, and the HTTP status of that answer. */
export class RequestRefused extends Error {
  constructor(
    readonly errors: readonly GraphQLError[],
    readonly status = 400,
  ) {
    super(errors.map((e) => e.message).join('; '));
  }
}

const RULES = [...specifiedRules, operationLimitsRule()];

function withCode(e: GraphQLError, code: ErrorCodeName): GraphQLError {
  if (e.extensions.code !== undefined) return e;
  return new GraphQLError(e.message, {
    nodes: e.nodes,
    source: e.source,
    positions: e.positions,
    path: e.path,
    cause: e.cause,
    extensions: { ...e.extensions, code },
  });
}

/** { query, variables?, operationName? } as sent over HTTP or in a graphql-ws subscribe message. */
export function parseGraphqlRequest(body: unknown): GraphqlRequest {
  const refuse = (message: string): never => {
    throw new RequestRefused([codedError(ErrorCode.badRequest, message)]);
  };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return refuse('Send a JSON object {"query", "variables"?, "operationName"?} with Content-Type: application/json.');
  }
  const b = body as Record<string, unknown>;
  if (typeof b.query !== 'string' || b.query.trim() === '') return refuse('"query" is required: the GraphQL document.');
  if (
    b.variables !== undefined &&
    b.variables !== null &&
    (typeof b.variables !== 'object' || Array.isArray(b.variables))
  ) {
    return refuse('"variables" must be a JSON object.');
  }
  if (b.operationName !== undefined && b.operationName !== null && typeof b.operationName !== 'string') {
    return refuse('"operationName" must be a string.');
  }
  return {
    query: b.query,
    variables: (b.variables ?? undefined) as Record<string, unknown> | undefined,
    operationName: (b.operationName ?? undefined) as string | undefined,
  };
}

@Injectable()
export class GraphqlService {
  readonly schema: GraphQLSchema;

  constructor(
    agents: AgentsService,
    labels: AgentLabelsService,
    forget: AgentForgetService,
    fleet: FleetSummaryService,
    commands: CommandsService,
    commandTypes: CommandTypesService,
    configs: ConfigsApiService,
    rollouts: RolloutsService,
    enrollmentTokens: EnrollmentTokensService,
    apiKeys: ApiKeysService,
    audit: AuditService,
    hub: LiveHub,
    @Inject(AUDIT_SINK) sink: AuditSink,
  ) {
    this.schema = buildExecutableSchema(
      createResolvers({
        agents,
        labels,
        forget,
        fleet,
        commands,
        commandTypes,
        configs,
        rollouts,
        enrollmentTokens,
        apiKeys,
        audit,
        hub,
      }),
      sink,
    );
  }

  /** Parses and validates; throws RequestRefused (400) with coded errors. */
  prepare(request: GraphqlRequest): PreparedOperation {
    let document: DocumentNode;
    try {
      document = parse(request.query, { maxTokens: MAX_TOKENS });
    } catch (err) {
      if (err instanceof GraphQLError) throw new RequestRefused([withCode(err, ErrorCode.parseFailed)]);
      throw err;
    }
    const errors = validate(this.schema, document, RULES);
    if (errors.length > 0) throw new RequestRefused(errors.map((e) => withCode(e, ErrorCode.validationFailed)));
    const operation = getOperationAST(document, request.operationName);
    if (!operation) {
      throw new RequestRefused([
        codedError(
          ErrorCode.badRequest,
          request.operationName
            ? `The document has no operation named "${request.operationName}".`
            : 'The document has several operations: name the one to run with "operationName".',
        ),
      ]);
    }
    return { request, document, operation };
  }

  /** Runs a query or mutation; request errors (variables that do not coerce) get BAD_USER_INPUT. */
  async execute(op: PreparedOperation, context: GraphqlContext): Promise<ExecutionResult> {
    const result = await execute({
      schema: this.schema,
      document: op.document,
      variableValues: op.request.variables,
      operationName: op.request.operationName,
      contextValue: context,
    });
    if (!('data' in result) && result.errors) {
      return { errors: result.errors.map((e) => withCode(e, ErrorCode.badUserInput)) };
    }
    return result;
  }
}
