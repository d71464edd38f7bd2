import type { Principal } from '../../auth/roles.js';
import { objectType, type SchemaResolvers } from '../resolver-types.js';
import { adminMutations, adminQueries, adminTypes } from './admin.resolvers.js';
import { agentMutations, agentQueries, agentTypes } from './agents.resolvers.js';
import { commandMutations, commandQueries, commandTypes } from './commands.resolvers.js';
import { configMutations, configQueries, configTypes } from './configs.resolvers.js';
import type { ResolverDeps } from './deps.js';
import { liveTypes, subscriptions } from './live.resolvers.js';
import { rolloutMutations, rolloutQueries, rolloutTypes } from './rollouts.resolvers.js';

export type { ResolverDeps } from './deps.js';

/** Every resolver of apps/api/src/graphql/schema.graphql. */
export function createResolvers(d: ResolverDeps): SchemaResolvers {
  return {
    Query: {
      me: (_s, _a, ctx) => ctx.principal,
      ...agentQueries(d),
      ...configQueries(d),
      ...rolloutQueries(d),
      ...commandQueries(d),
      ...adminQueries(d),
    },
    Mutation: {
      ...agentMutations(d),
      ...configMutations(d),
      ...rolloutMutations(d),
      ...commandMutations(d),
      ...adminMutations(d),
    },
    Subscription: subscriptions(d),
    types: {
      Principal: objectType<Principal>(['id', 'type', 'name', 'role']),
      ...agentTypes,
      ...commandTypes,
      ...adminTypes,
      ...configTypes,
      ...rolloutTypes(d),
      ...liveTypes(d),
    },
  };
}
