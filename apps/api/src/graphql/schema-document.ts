// The GraphQL schema as committed in docs/api/schema.graphql: the executable schema (SDL +
// resolvers, checked to agree) printed with types and fields sorted. `npm run graphql:schema`
// prints or writes it; scripts/check-generated.sh and schema-document.spec.ts fail when it is stale.
import type { AuditSink } from '../audit/audit-sink.js';
import { buildExecutableSchema, printedSchema } from './executable-schema.js';
import { createResolvers, type ResolverDeps } from './resolvers/index.js';

export const SCHEMA_FILE = 'docs/api/schema.graphql';

/** Services for a schema that is only printed: any call is a bug. */
const inert = new Proxy(
  {},
  {
    get: (_t, name) => {
      throw new Error(`a schema built for printing has no services (asked for ${String(name)})`);
    },
  },
) as ResolverDeps;

const noAudit: AuditSink = { record: () => Promise.resolve() };

export function schemaDocument(): string {
  return printedSchema(buildExecutableSchema(createResolvers(inert), noAudit));
}
