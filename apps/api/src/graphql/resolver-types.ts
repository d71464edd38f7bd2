// How resolvers are declared (executable-schema.ts attaches them to the SDL and checks that the
// two agree). For every object type of the SDL: `props`, the fields the default resolver reads
// straight off the source object (the names are checked against the source's TypeScript type),
// and `fields`, the ones with a resolver of their own.
import type { GraphQLResolveInfo } from 'graphql';
import type { Principal } from '../auth/roles.js';

/** What every resolver gets as its context: the caller and where the request came from. */
export interface GraphqlContext {
  principal: Principal;
  /** The caller's address (audit). */
  ip?: string;
  userAgent?: string;
}

export type Args = Record<string, unknown>;

export type FieldResolver<S = unknown> = (
  source: S,
  args: Args,
  ctx: GraphqlContext,
  info: GraphQLResolveInfo,
) => unknown;

export interface ObjectResolvers {
  props: readonly string[];
  fields: Readonly<Record<string, FieldResolver<never>>>;
}

/**
 * Resolvers of an object type whose source objects are `S`:
 * `objectType<AgentSummaryView>(['uid', 'hostName'], { agent: (s) => … })`.
 */
export function objectType<S>(
  props: ReadonlyArray<keyof S & string>,
  fields: Readonly<Record<string, FieldResolver<S>>> = {},
): ObjectResolvers {
  return { props, fields: fields as Readonly<Record<string, FieldResolver<never>>> };
}

export interface SubscriptionField {
  /** Returns the event stream (an async iterator; `return()` unsubscribes). */
  subscribe: (
    source: unknown,
    args: Args,
    ctx: GraphqlContext,
  ) => AsyncIterable<unknown> | Promise<AsyncIterable<unknown>>;
  /** Turns one event of the stream into the field's value. */
  resolve: (event: never, args: Args, ctx: GraphqlContext) => unknown;
}

export interface SchemaResolvers {
  Query: Readonly<Record<string, FieldResolver>>;
  Mutation: Readonly<Record<string, FieldResolver>>;
  Subscription: Readonly<Record<string, SubscriptionField>>;
  /** Every other object type of the SDL. */
  types: Readonly<Record<string, ObjectResolvers>>;
}

/** A DateTime argument (a Date once coerced) as the ISO text REST takes; anything else as it is. */
const restValue = (v: unknown): unknown => (v instanceof Date ? v.toISOString() : v);

/**
 * GraphQL arguments as the REST query-string record the routes' parse functions take: absent and
 * null arguments are left out, lists joined with commas, numbers and booleans as text, DateTime
 * as ISO 8601.
 */
export function restQuery(args: Args): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined || v === null) continue;
    out[k] = Array.isArray(v) ? v.map(String).join(',') : String(restValue(v) as string | number | boolean);
  }
  return out;
}

/**
 * A GraphQL input object as a REST body: fields that are null are left out (absent), DateTime
 * values become ISO 8601 text.
 */
export function restBody(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  return Object.fromEntries(
    Object.entries(input)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [k, restValue(v)]),
  );
}
