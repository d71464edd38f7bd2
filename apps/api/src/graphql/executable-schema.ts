// The executable schema: the committed SDL (schema.graphql) with the resolvers attached. Building
// it checks that the two agree and fails listing every mismatch: a root field without a role
// (field-access.ts) or resolver, an object field with neither a resolver nor a property of its
// source, a resolver or role for a field the SDL does not have. Root fields are wrapped so the
// caller's role is checked first, mutations are audited, and every error leaves as a GraphQL error
// with a code (errors.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Logger } from '@nestjs/common';
import {
  GraphQLError,
  buildSchema,
  isIntrospectionType,
  isObjectType,
  isScalarType,
  isSpecifiedScalarType,
  lexicographicSortSchema,
  printSchema,
  type GraphQLFieldResolver,
  type GraphQLSchema,
} from 'graphql';
import type { AuditSink } from '../audit/audit-sink.js';
import { summarizeBody } from '../audit/audit.service.js';
import { forbidden } from '../auth/authenticator.js';
import { roleAllows } from '../auth/roles.js';
import { toGraphQLError } from './errors.js';
import { FIELD_ACCESS, type FieldAccess } from './field-access.js';
import type { Args, FieldResolver, GraphqlContext, SchemaResolvers } from './resolver-types.js';
import { implementScalar } from './scalars.js';

export const SDL_FILE = fileURLToPath(new URL('./schema.graphql', import.meta.url));

export function readSdl(): string {
  return readFileSync(SDL_FILE, 'utf8');
}

const ROOTS = ['Query', 'Mutation', 'Subscription'] as const;

export class SchemaMismatchError extends Error {
  override name = 'SchemaMismatchError';
}

const logger = new Logger('GraphQL');

/** Problems between the SDL, the resolvers and the role map (empty when they agree). */
export function schemaMismatches(
  schema: GraphQLSchema,
  resolvers: SchemaResolvers,
  access: Readonly<Record<string, FieldAccess>> = FIELD_ACCESS,
): string[] {
  const problems: string[] = [];
  const rootFields = new Set<string>();
  for (const root of ROOTS) {
    const type = schema.getType(root);
    const fields = type && isObjectType(type) ? type.getFields() : {};
    const impl = resolvers[root] as Readonly<Record<string, unknown>>;
    for (const name of Object.keys(fields)) {
      const key = `${root}.${name}`;
      rootFields.add(key);
      if (!access[key]) problems.push(`${key} has no role in apps/api/src/graphql/field-access.ts`);
      if (!impl[name]) problems.push(`${key} has no resolver`);
      if (root === 'Mutation' && access[key] && !access[key].audit)
        problems.push(`${key} is a mutation without an audit action`);
    }
    for (const name of Object.keys(impl)) {
      if (!fields[name]) problems.push(`resolver ${root}.${name}: the SDL has no such field`);
    }
  }
  for (const key of Object.keys(access)) {
    if (!rootFields.has(key)) problems.push(`field-access.ts names ${key}: the SDL has no such root field`);
  }
  const objectTypes = Object.values(schema.getTypeMap()).filter(
    (t) => isObjectType(t) && !isIntrospectionType(t) && !(ROOTS as readonly string[]).includes(t.name),
  );
  for (const t of objectTypes) {
    if (!isObjectType(t)) continue;
    const impl = resolvers.types[t.name];
    if (!impl) {
      problems.push(`type ${t.name} has no entry in the resolvers' types`);
      continue;
    }
    const fields = t.getFields();
    for (const name of Object.keys(fields)) {
      const asProp = impl.props.includes(name);
      const asResolver = name in impl.fields;
      if (!asProp && !asResolver) problems.push(`${t.name}.${name} has neither a resolver nor a source property`);
      if (asProp && asResolver) problems.push(`${t.name}.${name} is both a source property and a resolver`);
    }
    for (const name of [...impl.props, ...Object.keys(impl.fields)]) {
      if (!fields[name]) problems.push(`resolvers of ${t.name} name ${name}: the SDL has no such field`);
    }
  }
  for (const name of Object.keys(resolvers.types)) {
    const t = schema.getType(name);
    if (!t || !isObjectType(t)) problems.push(`resolvers' types name ${name}: the SDL has no such object type`);
  }
  return problems;
}

/** A dry run: `dryRun: true` as an argument (bulkCommand) or in the input (createRollout). */
function isDryRun(args: Args): boolean {
  if (args.dryRun === true) return true;
  return typeof args.input === 'object' && args.input !== null && (args.input as { dryRun?: unknown }).dryRun === true;
}

async function audited(
  sink: AuditSink,
  access: FieldAccess,
  key: string,
  ctx: GraphqlContext,
  args: Args,
  outcome: { result?: unknown; error?: GraphQLError },
): Promise<void> {
  const audit = access.audit;
  if (!audit) return;
  const status = outcome.error ? Number(outcome.error.extensions.status ?? 500) : 200;
  const resourceId = audit.resourceId(args, outcome.result);
  try {
    await sink.record({
      principal: ctx.principal,
      action: audit.action,
      resourceType: audit.resourceType,
      ...(resourceId !== undefined ? { resourceId } : {}),
      interface: 'graphql',
      path: '/graphql',
      ...(ctx.ip !== undefined ? { sourceIp: ctx.ip } : {}),
      ...(ctx.userAgent !== undefined ? { userAgent: ctx.userAgent } : {}),
      outcome: outcome.error ? (status === 403 ? 'denied' : 'failure') : 'success',
      status,
      detail: {
        field: key,
        // The arguments as the REST audit keeps a body: secrets redacted, file contents as lengths.
        ...(args && Object.keys(args).length > 0 ? { args: summarizeBody(args) } : {}),
        ...(isDryRun(args) ? { dryRun: true } : {}),
        ...(outcome.error ? { error: outcome.error.message.slice(0, 1000) } : {}),
      },
    });
  } catch (err) {
    logger.error(`audit entry for ${key} not written: ${(err as Error).message}`);
  }
}

/** Role check, audit and error mapping around a root field's resolver. */
function guarded(
  key: string,
  access: FieldAccess,
  sink: AuditSink,
  resolve: FieldResolver,
): GraphQLFieldResolver<unknown, GraphqlContext> {
  return async (source, args: Args, ctx, info) => {
    let result: unknown;
    try {
      if (!roleAllows(ctx.principal.role, access.role)) throw forbidden(ctx.principal, access.role, key);
      result = await resolve(source, args, ctx, info);
    } catch (err) {
      const error = toGraphQLError(err);
      await audited(sink, access, key, ctx, args, { error });
      throw error;
    }
    await audited(sink, access, key, ctx, args, { result });
    return result;
  };
}

function mapped(resolve: FieldResolver<never>): GraphQLFieldResolver<unknown, GraphqlContext> {
  return async (source, args: Args, ctx, info) => {
    try {
      return await resolve(source as never, args, ctx, info);
    } catch (err) {
      throw toGraphQLError(err);
    }
  };
}

/** The SDL with `resolvers` attached; throws SchemaMismatchError when they do not agree. */
export function buildExecutableSchema(
  resolvers: SchemaResolvers,
  sink: AuditSink,
  sdl: string = readSdl(),
): GraphQLSchema {
  const schema = buildSchema(sdl);
  const problems = schemaMismatches(schema, resolvers);
  for (const t of Object.values(schema.getTypeMap())) {
    if (isScalarType(t) && !isSpecifiedScalarType(t)) {
      try {
        implementScalar(t);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  if (problems.length > 0) {
    throw new SchemaMismatchError(`the GraphQL schema and its resolvers disagree:\n  ${problems.join('\n  ')}`);
  }
  for (const root of ['Query', 'Mutation'] as const) {
    const type = schema.getType(root);
    if (!type || !isObjectType(type)) continue;
    for (const [name, field] of Object.entries(type.getFields())) {
      const key = `${root}.${name}`;
      field.resolve = guarded(key, FIELD_ACCESS[key]!, sink, resolvers[root][name]!);
    }
  }
  const sub = schema.getSubscriptionType();
  for (const [name, field] of Object.entries(sub?.getFields() ?? {})) {
    const key = `Subscription.${name}`;
    const access = FIELD_ACCESS[key]!;
    const impl = resolvers.Subscription[name]!;
    field.subscribe = guarded(key, access, sink, impl.subscribe);
    field.resolve = mapped(impl.resolve as FieldResolver<never>);
  }
  for (const [typeName, impl] of Object.entries(resolvers.types)) {
    const type = schema.getType(typeName);
    if (!type || !isObjectType(type)) continue;
    const fields = type.getFields();
    for (const [name, resolve] of Object.entries(impl.fields)) fields[name]!.resolve = mapped(resolve);
  }
  return schema;
}

/** The schema as docs/api/schema.graphql holds it: printed, types and fields sorted. */
export function printedSchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
