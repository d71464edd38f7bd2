// opampctl audit list: who changed what, when, from where (GET /audit).
import { Option, type Command } from 'commander';
import type { Context } from '../context.js';
import { shortTime, table } from '../format.js';
import { parseInteger, parseTime } from '../options.js';
import type { AuditEventView } from '../views.js';

interface AuditOpts {
  actor?: string;
  action?: string;
  resourceType?: string;
  resourceId?: string;
  outcome?: string;
  since?: string;
  until?: string;
  limit?: string;
  cursor?: string;
  all?: boolean;
}

export function auditTable(items: readonly AuditEventView[]): string {
  return table(items, [
    { header: 'at', value: (e) => shortTime(e.at) },
    { header: 'actor', value: (e) => e.actor, max: 44 },
    { header: 'action', value: (e) => e.action },
    {
      header: 'resource',
      value: (e) => (e.resourceType ? `${e.resourceType}${e.resourceId ? `/${e.resourceId}` : ''}` : undefined),
      max: 60,
    },
    { header: 'outcome', value: (e) => (e.status ? `${e.outcome} ${e.status}` : e.outcome) },
    { header: 'from', value: (e) => e.sourceIp },
  ]);
}

export function registerAudit(program: Command, ctx: Context): void {
  const audit = program.command('audit').description('the audit log of every change');
  audit
    .command('list')
    .alias('ls')
    .description('list audit entries, newest first (GET /audit)')
    .option('--actor <actor>', 'key:<id> or user:<subject>')
    .option('--action <action>', 'e.g. rollouts.create')
    .option('--resource-type <type>', 'e.g. rollout')
    .option('--resource-id <id>', 'the resource id')
    .addOption(new Option('--outcome <outcome>', 'success or failure').choices(['success', 'failure']))
    .option('--since <time>', 'ISO time or a time ago (30m, 2h, 7d)')
    .option('--until <time>', 'ISO time or a time ago')
    .option('--limit <n>', 'page size')
    .option('--cursor <cursor>', 'the next page of an earlier listing')
    .option('--all', 'follow every page')
    .action(async (o: AuditOpts) => {
      const now = ctx.io.now();
      const page = await ctx.list<AuditEventView>(
        '/audit',
        {
          actor: o.actor,
          action: o.action,
          resourceType: o.resourceType,
          resourceId: o.resourceId,
          outcome: o.outcome,
          since: o.since === undefined ? undefined : parseTime('--since', o.since, now),
          until: o.until === undefined ? undefined : parseTime('--until', o.until, now),
          limit: o.limit === undefined ? undefined : parseInteger('--limit', o.limit, 1),
          cursor: o.cursor,
        },
        o.all === true,
      );
      if (ctx.json) return ctx.printJson(page);
      ctx.out(auditTable(page.items));
      ctx.moreHint(page);
    });
}
