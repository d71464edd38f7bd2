// Commands (list, read, send one, send to a selection) and command types.
import { parseAgentUid } from '../../agents/agents.query.js';
import type { CommandTypeView, CommandView } from '../../commands/command.view.js';
import {
  parseBulkBody,
  parseCommandId,
  parseCommandTypeBody,
  parseCommandTypePath,
  parseListCommandTypesQuery,
  parseListCommandsQuery,
  parseSendCommandBody,
} from '../../commands/commands.query.js';
import type { BulkResult, DryRunResult } from '../../commands/commands.service.js';
import type { Page } from '../../common/pagination.js';
import { objectType, restBody, restQuery, type FieldResolver, type ObjectResolvers } from '../resolver-types.js';
import type { ResolverDeps } from './deps.js';

/** What bulkCommand answers: a dry run's counts or a bulk's, the other mode's fields null. */
export interface BulkCommandResultView {
  dryRun: boolean;
  matched: number;
  eligible: number | null;
  ineligible: Record<string, number>;
  bulkId: string | null;
  queued: number | null;
  skipped: number | null;
  failed: number | null;
}

export function bulkCommandResultView(r: DryRunResult | BulkResult): BulkCommandResultView {
  if ('dryRun' in r) {
    return {
      dryRun: true,
      matched: r.matched,
      eligible: r.eligible,
      ineligible: r.ineligible,
      bulkId: null,
      queued: null,
      skipped: null,
      failed: null,
    };
  }
  return {
    dryRun: false,
    matched: r.matched,
    eligible: null,
    ineligible: r.ineligible,
    bulkId: r.bulkId,
    queued: r.queued,
    skipped: r.skipped,
    failed: r.failed,
  };
}

export function commandQueries(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    commands: (_s, a) => d.commands.list(parseListCommandsQuery(restQuery(a))),
    command: (_s, a) => d.commands.get(parseCommandId(String(a.id))),
    commandTypes: (_s, a) => d.commandTypes.list(parseListCommandTypesQuery(restQuery(a))),
  };
}

export function commandMutations(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    sendCommand: (_s, a, ctx) => {
      const uid = parseAgentUid(String(a.uid));
      const input = parseSendCommandBody(
        restBody({ capability: a.capability, type: a.type, parameters: a.parameters }),
      );
      return d.commands.send(uid, input, ctx.principal.id);
    },
    bulkCommand: async (_s, a, ctx) => {
      const input = parseBulkBody(restBody({ selector: a.selector, command: restBody(a.command), dryRun: a.dryRun }));
      return bulkCommandResultView(await d.commands.bulk(input, ctx.principal.id));
    },
    putCommandType: async (_s, a) => {
      const p = parseCommandTypePath(String(a.capability), String(a.type));
      const body = restBody({
        description: a.description,
        parametersSchema: a.parametersSchema,
        timeoutSeconds: a.timeoutSeconds,
      });
      const { view, created } = await d.commandTypes.put(p.capability, p.type, parseCommandTypeBody(body));
      return { commandType: view, created };
    },
    deleteCommandType: (_s, a) => {
      const p = parseCommandTypePath(String(a.capability), String(a.type));
      return d.commandTypes.delete(p.capability, p.type);
    },
  };
}

export const commandTypes: Record<string, ObjectResolvers> = {
  Command: objectType<CommandView>([
    'id',
    'agentUid',
    'kind',
    'capability',
    'type',
    'parameters',
    'state',
    'reason',
    'result',
    'bulkId',
    'createdBy',
    'createdAt',
    'sentAt',
    'completedAt',
    'deadlineAt',
  ]),
  CommandConnection: objectType<Page<CommandView>>(['items', 'nextCursor']),
  CommandType: objectType<CommandTypeView>([
    'capability',
    'type',
    'description',
    'parametersSchema',
    'timeoutSeconds',
    'createdAt',
    'updatedAt',
  ]),
  CommandTypeConnection: objectType<Page<CommandTypeView>>(['items', 'nextCursor']),
  PutCommandTypeResult: objectType<{ commandType: CommandTypeView; created: boolean }>(['commandType', 'created']),
  BulkCommandResult: objectType<BulkCommandResultView>([
    'dryRun',
    'matched',
    'eligible',
    'ineligible',
    'bulkId',
    'queued',
    'skipped',
    'failed',
  ]),
};
