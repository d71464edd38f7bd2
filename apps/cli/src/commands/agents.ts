// opampctl agents list | get | label | restart
import { Option, type Command } from 'commander';
import { seg } from '../client.js';
import type { Context } from '../context.js';
import { ago, keyValues, labelsText, shortHash, shortTime, table } from '../format.js';
import { parseInteger, parseLabelArgs } from '../options.js';
import type { AgentView, CommandView } from '../views.js';
import { waitCommandAndReport, type CommandWaitOptions } from './commands.js';

const health = (a: AgentView): string =>
  a.healthy === true ? 'healthy' : a.healthy === false ? 'unhealthy' : 'unknown';

const remoteConfig = (a: AgentView): string => {
  const s = a.remoteConfigStatus;
  if (!s || s.status === 'UNSET') return '-';
  const status = s.status.replace(/^RemoteConfigStatuses_/, '').toLowerCase();
  return s.lastRemoteConfigHash ? `${status} ${shortHash(s.lastRemoteConfigHash)}` : status;
};

export function agentsTable(items: readonly AgentView[], nowMs: number): string {
  return table(items, [
    { header: 'uid', value: (a) => a.uid },
    { header: 'service', value: (a) => a.serviceName, max: 24 },
    { header: 'version', value: (a) => a.serviceVersion, max: 16 },
    { header: 'type', value: (a) => a.agentType },
    { header: 'host', value: (a) => a.hostName, max: 32 },
    { header: 'status', value: (a) => a.connectionState },
    { header: 'health', value: health },
    { header: 'config', value: remoteConfig },
    { header: 'last seen', value: (a) => ago(a.lastSeenAt, nowMs) },
  ]);
}

export function agentDetail(a: AgentView): string {
  return keyValues([
    ['uid', a.uid],
    ['type', a.agentType],
    ['service', a.serviceName],
    ['version', a.serviceVersion],
    ['host', a.hostName],
    ['os', a.osType],
    ['status', a.connectionState],
    ['transport', a.transport],
    ['health', health(a)],
    ['labels', labelsText(a.labels)],
    ['capabilities', a.capabilities?.names?.join(', ') ?? a.capabilities?.hex],
    ['custom capabilities', a.customCapabilities?.length ? a.customCapabilities.join(', ') : undefined],
    ['remote config', remoteConfig(a)],
    ['config error', a.remoteConfigStatus?.errorMessage || undefined],
    ['effective config', shortHash(a.effectiveConfig?.hash ?? a.effectiveConfigHash)],
    ['first seen', shortTime(a.firstSeenAt)],
    ['last seen', shortTime(a.lastSeenAt)],
    ['disconnected', a.disconnectedAt ? shortTime(a.disconnectedAt) : undefined],
  ]);
}

interface ListOpts {
  selector?: string;
  status?: string;
  health?: string;
  type?: string;
  serviceVersion?: string;
  capability?: string;
  q?: string;
  sort?: string;
  limit?: string;
  cursor?: string;
  all?: boolean;
}

export function registerAgents(program: Command, ctx: Context): void {
  const agents = program.command('agents').description('list and inspect agents, change labels, restart');

  agents
    .command('list')
    .alias('ls')
    .description('list agents (GET /agents)')
    .option('-l, --selector <selector>', 'label selector, e.g. "env=prod,region in (eu,us)"')
    .option('--status <states>', 'connected, disconnected, offline (comma-separated)')
    .addOption(new Option('--health <health>', 'agent health').choices(['healthy', 'unhealthy', 'unknown']))
    .option('--type <agentType>', 'agent type, e.g. fluentbit')
    .option('--service-version <version>', 'service.version')
    .option('--capability <name>', 'a capability, e.g. AcceptsRestartCommand, or a custom capability')
    .option('--q <text>', 'free text over name, host and uid')
    .option(
      '--sort <field>',
      'lastSeenAt, firstSeenAt, hostName, serviceName, agentType, serviceVersion or uid; "-" prefix for descending',
    )
    .option('--limit <n>', 'page size (1-500)')
    .option('--cursor <cursor>', 'the next page of an earlier listing')
    .option('--all', 'follow every page')
    .action(async (o: ListOpts) => {
      const page = await ctx.list<AgentView>(
        '/agents',
        {
          selector: o.selector,
          status: o.status,
          health: o.health,
          agentType: o.type,
          version: o.serviceVersion,
          capability: o.capability,
          q: o.q,
          sort: o.sort,
          limit: o.limit === undefined ? undefined : parseInteger('--limit', o.limit, 1),
          cursor: o.cursor,
        },
        o.all === true,
      );
      if (ctx.json) return ctx.printJson(page);
      ctx.out(agentsTable(page.items, ctx.io.now()));
      ctx.moreHint(page);
    });

  agents
    .command('get')
    .description('show one agent (GET /agents/{uid})')
    .argument('<uid>', 'agent uid')
    .action(async (uid: string) => {
      const a = (await (await ctx.api()).get<AgentView>(`/agents/${seg(uid)}`)).body;
      if (ctx.json) return ctx.printJson(a);
      ctx.out(agentDetail(a));
    });

  agents
    .command('label')
    .description('set (key=value) or remove (key-) labels (PATCH /agents/{uid}/labels)')
    .argument('<uid>', 'agent uid')
    .argument('<changes...>', 'key=value to set, key- to remove')
    .action(async (uid: string, changes: string[]) => {
      const body = parseLabelArgs(changes);
      const res = (
        await (
          await ctx.api()
        ).patch<{ uid: string; labels: Record<string, string>; mergedLabels?: Record<string, string> }>(
          `/agents/${seg(uid)}/labels`,
          body,
        )
      ).body;
      if (ctx.json) return ctx.printJson(res);
      ctx.out(
        keyValues([
          ['uid', res.uid],
          ['labels', labelsText(res.labels)],
        ]),
      );
    });

  agents
    .command('restart')
    .description('ask an agent to restart (POST /agents/{uid}/restart; needs AcceptsRestartCommand)')
    .argument('<uid>', 'agent uid')
    .option('--wait', 'wait for the outcome (exit 0 succeeded, 4 failed or timed out, 6 --timeout)')
    .option('--timeout <duration>', 'with --wait: give up after this long (e.g. 60s, 5m)')
    .option('--interval <duration>', 'with --wait: time between polls', '1s')
    .action(async (uid: string, o: CommandWaitOptions) => {
      const cmd = (await (await ctx.api()).post<CommandView>(`/agents/${seg(uid)}/restart`)).body;
      const id = cmd.id ?? cmd.commandId;
      if (o.wait && id) return waitCommandAndReport(ctx, id, o);
      if (ctx.json) return ctx.printJson(cmd);
      ctx.out(`restart command ${id} ${cmd.state ?? 'queued'} for agent ${uid}`);
    });
}
