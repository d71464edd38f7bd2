// Who may use which root field of the GraphQL schema, and how a mutation is audited. The resolver
// wrapper (executable-schema.ts) enforces it; building the schema fails when a root field has no
// entry or an entry names no field, and so does `npm test` (executable-schema.spec.ts). Fields below
// the roots are reachable only through a root field and need no role of their own.
import type { Role } from '../auth/roles.js';

export interface AuditedAs {
  /** Same naming as the REST routes' @Audit actions. */
  action: string;
  resourceType: string;
  /** The resource id: from the arguments, or once resolved from the result. */
  resourceId: (args: Record<string, unknown>, result: unknown) => string | undefined;
}

export interface FieldAccess {
  role: Role;
  /** Every mutation has one. */
  audit?: AuditedAs;
}

const arg =
  (name: string) =>
  (args: Record<string, unknown>): string | undefined =>
    typeof args[name] === 'string' ? (args[name] as string) : undefined;
/** "capability/type", as the REST audit records a command type. */
const capabilityAndType = (args: Record<string, unknown>): string | undefined =>
  typeof args.capability === 'string' && typeof args.type === 'string' ? `${args.capability}/${args.type}` : undefined;
const inputField =
  (name: string) =>
  (args: Record<string, unknown>): string | undefined => {
    const input = args.input as Record<string, unknown> | undefined;
    return typeof input?.[name] === 'string' ? (input[name] as string) : undefined;
  };
const resultField =
  (name: string) =>
  (_args: Record<string, unknown>, result: unknown): string | undefined => {
    const v = (result as Record<string, unknown> | null | undefined)?.[name];
    return typeof v === 'string' ? v : undefined;
  };
const resultId = resultField('id');

const audited =
  (role: Role) =>
  (action: string, resourceType: string, resourceId: AuditedAs['resourceId']): FieldAccess => ({
    role,
    audit: { action, resourceType, resourceId },
  });
const operator = audited('operator');
const admin = audited('admin');

/**
 * "<Root type>.<field>" → access. Roles and audit actions are those of the field's REST twin
 * (rest-twins.spec.ts checks them against the route table).
 */
export const FIELD_ACCESS: Readonly<Record<string, FieldAccess>> = {
  'Query.me': { role: 'viewer' },
  'Query.agents': { role: 'viewer' },
  'Query.agent': { role: 'viewer' },
  'Query.agentEvents': { role: 'viewer' },
  'Query.fleetSummary': { role: 'viewer' },
  'Query.configs': { role: 'viewer' },
  'Query.config': { role: 'viewer' },
  'Query.versions': { role: 'viewer' },
  'Query.version': { role: 'viewer' },
  'Query.diff': { role: 'viewer' },
  'Query.rollouts': { role: 'viewer' },
  'Query.rollout': { role: 'viewer' },
  'Query.commands': { role: 'viewer' },
  'Query.command': { role: 'viewer' },
  'Query.commandTypes': { role: 'viewer' },
  'Query.enrollmentTokens': { role: 'admin' },
  'Query.enrollmentToken': { role: 'admin' },
  'Query.apiKeys': { role: 'admin' },
  'Query.apiKey': { role: 'admin' },
  'Query.auditEvents': { role: 'viewer' },

  'Mutation.setAgentLabels': operator('agents.labels.replace', 'agent', arg('uid')),
  'Mutation.patchAgentLabels': operator('agents.labels.patch', 'agent', arg('uid')),
  'Mutation.forgetAgent': operator('agents.forget', 'agent', arg('uid')),
  'Mutation.createConfig': operator('configs.create', 'config', inputField('name')),
  'Mutation.addConfigVersion': operator('configs.versions.create', 'config', arg('config')),
  'Mutation.createRollout': operator('rollouts.create', 'rollout', resultId),
  'Mutation.pauseRollout': operator('rollouts.pause', 'rollout', arg('id')),
  'Mutation.resumeRollout': operator('rollouts.resume', 'rollout', arg('id')),
  'Mutation.promoteRollout': operator('rollouts.promote', 'rollout', arg('id')),
  'Mutation.abortRollout': operator('rollouts.abort', 'rollout', arg('id')),
  'Mutation.rollbackRollout': operator('rollouts.rollback', 'rollout', arg('id')),
  'Mutation.restartAgent': operator('agents.restart', 'agent', arg('uid')),
  'Mutation.sendCustomMessage': operator('agents.custom_message', 'agent', arg('uid')),
  'Mutation.sendCommand': operator('commands.create', 'agent', arg('uid')),
  'Mutation.bulkCommand': operator('commands.bulk', 'command', resultField('bulkId')),
  'Mutation.putCommandType': admin('command_types.put', 'command_type', capabilityAndType),
  'Mutation.deleteCommandType': admin('command_types.delete', 'command_type', capabilityAndType),
  'Mutation.createEnrollmentToken': admin('enrollment_tokens.create', 'enrollment_token', resultId),
  'Mutation.revokeEnrollmentToken': admin('enrollment_tokens.revoke', 'enrollment_token', arg('id')),
  'Mutation.createApiKey': admin('api_keys.create', 'api_key', resultId),
  'Mutation.revokeApiKey': admin('api_keys.revoke', 'api_key', arg('id')),

  'Subscription.agentChanged': { role: 'viewer' },
  'Subscription.rolloutProgress': { role: 'viewer' },
  'Subscription.commandUpdated': { role: 'viewer' },
};
