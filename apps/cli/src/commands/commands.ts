// opampctl commands send | get | list: custom commands by capability (one agent or a selector)
// and their outcomes (queued → sent → succeeded | failed | timed_out).
import type { Command } from 'commander';
import { seg } from '../client.js';
import type { Context } from '../context.js';
import { ExitCode, UsageError } from '../errors.js';
import { keyValues, shortTime, table } from '../format.js';
import { parseDurationSeconds, parseInteger, parseJsonArg } from '../options.js';
import type { CommandView } from '../views.js';

const TERMINAL = new Set(['succeeded', 'failed', 'timed_out']);

export interface CommandWaitOptions {
  wait?: boolean;
  timeout?: string;
  interval?: string;
}

export function commandDetail(c: CommandView): string {
  return keyValues([
    ['id', c.id],
    ['agent', c.agentUid],
    ['kind', c.kind],
    ['capability', c.capability ?? undefined],
    ['type', c.type ?? undefined],
    ['state', c.state],
    ['reason', c.reason ?? undefined],
    ['result', c.result === undefined || c.result === null ? undefined : JSON.stringify(c.result)],
    ['bulk', c.bulkId ?? undefined],
    ['created', shortTime(c.createdAt)],
    ['sent', c.sentAt ? shortTime(c.sentAt) : undefined],
    ['completed', c.completedAt ? shortTime(c.completedAt) : undefined],
  ]);
}

/** Polls GET /commands/{id} until it has an outcome; the exit code says which (docs/cli.md). */
export async function waitCommandAndReport(ctx: Context, id: string, o: CommandWaitOptions): Promise<void> {
  const api = await ctx.api();
  const intervalMs = parseDurationSeconds('--interval', o.interval ?? '1s') * 1000;
  const timeoutMs = o.timeout === undefined ? undefined : parseDurationSeconds('--timeout', o.timeout) * 1000;
  const start = ctx.io.now();
  let lastState = '';
  for (;;) {
    const c = (await api.get<CommandView>(`/commands/${seg(id)}`)).body;
    if (c.state !== lastState) {
      ctx.progress(`command ${id}: ${c.state}${c.reason ? ` (${c.reason})` : ''}`);
      lastState = c.state;
    }
    if (TERMINAL.has(c.state)) {
      if (ctx.json) ctx.printJson(c);
      else if (c.result !== undefined && c.result !== null) ctx.out(`result: ${JSON.stringify(c.result)}`);
      ctx.exitCode = c.state === 'succeeded' ? ExitCode.ok : ExitCode.failed;
      return;
    }
    const left = timeoutMs === undefined ? Infinity : start + timeoutMs - ctx.io.now();
    if (left <= 0) {
      ctx.io.err(`timed out waiting for command ${id} (still ${c.state})`);
      if (ctx.json) ctx.printJson(c);
      ctx.exitCode = ExitCode.timedOut;
      return;
    }
    await ctx.io.sleep(Math.min(intervalMs, left));
  }
}

interface SendOpts extends CommandWaitOptions {
  selector?: string;
  capability?: string;
  type?: string;
  params?: string;
  restart?: boolean;
  dryRun?: boolean;
}

export function registerCommands(program: Command, ctx: Context): void {
  const commands = program.command('commands').description('send commands to agents and follow their outcomes');

  commands
    .command('send')
    .description('send a custom command to one agent, or to every agent a selector matches (bulk)')
    .argument('[uid]', 'agent uid (or --selector)')
    .option('-l, --selector <selector>', 'bulk: every agent this label selector matches')
    .option('--capability <capability>', 'custom capability, e.g. io.opentelemetry.echo')
    .option('--type <type>', 'message type within the capability')
    .option('--params <json>', 'parameters as JSON, or @file (@- for standard input)')
    .option('--restart', 'bulk: a restart command instead of a custom one')
    .option('--dry-run', 'bulk: only count the agents that would get it')
    .option('--wait', 'one agent: wait for the outcome (exit 0 succeeded, 4 failed or timed out, 6 --timeout)')
    .option('--timeout <duration>', 'with --wait: give up after this long')
    .option('--interval <duration>', 'with --wait: time between polls', '1s')
    .action(async (uid: string | undefined, o: SendOpts) => {
      if ((uid === undefined) === (o.selector === undefined)) {
        throw new UsageError('commands send takes an agent uid or --selector, not both and not neither');
      }
      if (o.restart && (o.capability || o.type || o.params)) {
        throw new UsageError('--restart takes no --capability, --type or --params');
      }
      if (!o.restart && (!o.capability || !o.type)) {
        throw new UsageError('commands send needs --capability and --type (or --restart with --selector)');
      }
      const parameters =
        o.params === undefined ? undefined : await parseJsonArg('--params', o.params, ctx.io.readStdin);
      const api = await ctx.api();
      if (uid !== undefined) {
        if (o.restart) throw new UsageError('to restart one agent use "opampctl agents restart UID"');
        if (o.dryRun) throw new UsageError('--dry-run is for --selector (bulk) commands');
        const cmd = (
          await api.post<CommandView>(`/agents/${seg(uid)}/commands`, {
            capability: o.capability,
            type: o.type,
            ...(parameters === undefined ? {} : { parameters }),
          })
        ).body;
        if (o.wait) return waitCommandAndReport(ctx, cmd.id ?? cmd.commandId!, o);
        if (ctx.json) return ctx.printJson(cmd);
        ctx.out(`command ${cmd.id} ${cmd.state} for agent ${uid}`);
        return;
      }
      if (o.wait)
        throw new UsageError(
          '--wait is for one agent; follow a bulk command with "opampctl commands list --bulk-id ID"',
        );
      const command = o.restart
        ? { kind: 'restart' }
        : {
            kind: 'custom',
            capability: o.capability,
            type: o.type,
            ...(parameters === undefined ? {} : { parameters }),
          };
      const res = (
        await api.post<{
          dryRun?: boolean;
          bulkId?: string;
          matched: number;
          eligible?: number;
          ineligible?: number | Record<string, number>;
          queued?: number;
          skipped?: number | Record<string, number>;
        }>('/commands/bulk', { selector: o.selector, command, ...(o.dryRun ? { dryRun: true } : {}) })
      ).body;
      if (ctx.json) return ctx.printJson(res);
      const why = (v: number | Record<string, number> | undefined): string => {
        if (v === undefined || typeof v === 'number') return '';
        const parts = Object.entries(v)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k} ${n}`);
        return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
      };
      const count = (v: number | Record<string, number> | undefined): number =>
        v === undefined ? 0 : typeof v === 'number' ? v : Object.values(v).reduce((a, b) => a + b, 0);
      if (res.dryRun) {
        ctx.out(
          `dry run: ${res.matched} matched, ${res.eligible ?? 0} would get it, ${count(res.ineligible)} would not${why(res.ineligible)}`,
        );
      } else {
        ctx.out(
          `bulk ${res.bulkId}: ${res.matched} matched, ${res.queued ?? 0} queued, ${count(res.skipped)} skipped${why(res.ineligible)}`,
        );
      }
    });

  commands
    .command('get')
    .description('show a command and its outcome (GET /commands/{id})')
    .argument('<id>', 'command id')
    .option('--wait', 'wait for the outcome (exit 0 succeeded, 4 failed or timed out, 6 --timeout)')
    .option('--timeout <duration>', 'with --wait: give up after this long')
    .option('--interval <duration>', 'with --wait: time between polls', '1s')
    .action(async (id: string, o: CommandWaitOptions) => {
      if (o.wait) return waitCommandAndReport(ctx, id, o);
      const c = (await (await ctx.api()).get<CommandView>(`/commands/${seg(id)}`)).body;
      if (ctx.json) return ctx.printJson(c);
      ctx.out(commandDetail(c));
    });

  commands
    .command('list')
    .alias('ls')
    .description('list commands (GET /commands)')
    .option('--agent <uid>', 'of this agent')
    .option('--state <state>', 'queued, sent, succeeded, failed or timed_out')
    .option('--kind <kind>', 'restart or custom')
    .option('--bulk-id <id>', 'of this bulk command')
    .option('--limit <n>', 'page size')
    .option('--cursor <cursor>', 'the next page of an earlier listing')
    .option('--all', 'follow every page')
    .action(
      async (o: {
        agent?: string;
        state?: string;
        kind?: string;
        bulkId?: string;
        limit?: string;
        cursor?: string;
        all?: boolean;
      }) => {
        const page = await ctx.list<CommandView>(
          '/commands',
          {
            agent: o.agent,
            state: o.state,
            kind: o.kind,
            bulkId: o.bulkId,
            limit: o.limit === undefined ? undefined : parseInteger('--limit', o.limit, 1),
            cursor: o.cursor,
          },
          o.all === true,
        );
        if (ctx.json) return ctx.printJson(page);
        ctx.out(
          table(page.items, [
            { header: 'id', value: (c) => c.id },
            { header: 'agent', value: (c) => c.agentUid },
            { header: 'kind', value: (c) => c.kind },
            {
              header: 'command',
              value: (c) => (c.capability ? `${c.capability}/${c.type ?? ''}` : undefined),
              max: 40,
            },
            { header: 'state', value: (c) => c.state },
            { header: 'created', value: (c) => shortTime(c.createdAt) },
            { header: 'reason', value: (c) => c.reason, max: 40 },
          ]),
        );
        ctx.moreHint(page);
      },
    );
}
