// opampctl rollouts plan | start | status | list | pause | resume | promote | abort | rollback
import { Option, type Command } from 'commander';
import { seg, type ApiClient } from '../client.js';
import type { Context } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { keyValues, shortHash, shortTime, table } from '../format.js';
import {
  parseConfigRef,
  parseDurationSeconds,
  parseInteger,
  parseJsonArg,
  parseNumber,
  parsePercent,
  parseStage,
  parseWaveSize,
  type StageSpec,
} from '../options.js';
import { waitForRollout, type WaitMode } from '../rollout-wait.js';
import type { Page, RolloutView } from '../views.js';
import { requireConfig } from './configs.js';

export interface StrategyFlags {
  strategy?: string;
  firstWave?: string;
  factor?: string;
  maxWave?: string;
  soak?: string;
  applyTimeout?: string;
  maxFailures?: string;
  onFailure?: string;
  maxRestartsPerSecond?: string;
  followNewAgents?: boolean;
  stage?: string[];
}

/**
 * The strategy object of POST /rollouts from the flags (each overrides the same field of
 * --strategy). Only what was given is sent: the API fills in and documents the defaults.
 */
export async function strategyFromFlags(
  o: StrategyFlags,
  followGiven: boolean,
  readStdin?: () => Promise<string>,
): Promise<Record<string, unknown> | undefined> {
  let base: Record<string, unknown> = {};
  if (o.strategy !== undefined) {
    const parsed = await parseJsonArg('--strategy', o.strategy, readStdin);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new UsageError('--strategy must be a JSON object, e.g. {"firstWave": 5, "soakSeconds": 120}');
    }
    base = { ...(parsed as Record<string, unknown>) };
  }
  if (o.firstWave !== undefined) base.firstWave = parseWaveSize('--first-wave', o.firstWave);
  if (o.factor !== undefined) base.growthFactor = parseNumber('--factor', o.factor);
  if (o.maxWave !== undefined) base.maxWave = parseWaveSize('--max-wave', o.maxWave);
  if (o.soak !== undefined) base.soakSeconds = parseDurationSeconds('--soak', o.soak);
  if (o.applyTimeout !== undefined) base.applyTimeoutSeconds = parseDurationSeconds('--apply-timeout', o.applyTimeout);
  if (o.maxFailures !== undefined) base.maxFailurePercent = parsePercent('--max-failures', o.maxFailures);
  if (o.onFailure !== undefined) base.onFailure = o.onFailure;
  if (o.maxRestartsPerSecond !== undefined) {
    base.maxRestartsPerSecond = parseNumber('--max-restarts-per-second', o.maxRestartsPerSecond);
  }
  if (followGiven) base.followNewAgents = o.followNewAgents !== false;
  if (o.stage && o.stage.length > 0) base.stages = o.stage.map(parseStage) satisfies StageSpec[];
  return Object.keys(base).length === 0 ? undefined : base;
}

/** `NAME@VERSION`, or the latest version of NAME. */
async function resolveVersion(api: ApiClient, ref: string): Promise<{ name: string; version: number }> {
  const { name, version } = parseConfigRef(ref);
  if (version !== undefined) return { name, version };
  const config = await requireConfig(api, name);
  if (!config.latestVersion)
    throw new CliError(`config "${name}" has no versions yet; add one with "opampctl configs apply"`);
  return { name, version: config.latestVersion.version };
}

const EXCLUSION_WORDS: Readonly<Record<string, string>> = {
  noStage: 'in no stage',
  wrongAgentType: 'of another agent type',
  noAcceptsRemoteConfig: 'without AcceptsRemoteConfig',
  quarantined: 'quarantined this version',
  alreadyAtTarget: 'already at this version',
  inOtherRollout: 'in another active rollout',
};

function durationText(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(s / 3600)}h${Math.round((s % 3600) / 60) ? `${Math.round((s % 3600) / 60)}m` : ''}`;
}

export function planText(r: RolloutView): string {
  const lines: string[] = [];
  const plan = r.plan;
  const sel = r.selector === '' ? 'every agent' : `agents matching "${r.selector}"`;
  lines.push(
    `${r.config.name}@${r.version.number} (hash ${shortHash(r.version.hash)}) to ${plan?.targets ?? 0} ${sel}`,
  );
  if (plan) {
    lines.push(
      table(plan.stages, [
        { header: 'stage', value: (s) => s.name },
        { header: 'selector', value: (s) => s.selector, max: 40 },
        { header: 'promotion', value: (s) => s.promotion },
        { header: 'agents', value: (s) => s.agents, right: true },
        { header: 'waves', value: (s) => (s.waves.length === 0 ? '-' : s.waves.join(', ')), max: 60 },
      ]),
    );
    const excluded = Object.entries(plan.excluded)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${EXCLUSION_WORDS[k] ?? k}`);
    if (excluded.length > 0) lines.push(`not targeted: ${excluded.join(', ')}`);
    if (plan.minimumDurationSeconds !== undefined && plan.minimumDurationSeconds > 0) {
      lines.push(`takes at least ${durationText(plan.minimumDurationSeconds)} (the waves' soak times)`);
    }
  }
  return lines.join('\n');
}

export function statusText(r: RolloutView): string {
  const c = r.counts;
  const lines = [
    keyValues([
      ['id', r.id],
      ['config', `${r.config.name}@${r.version.number} (hash ${shortHash(r.version.hash)})`],
      ['selector', r.selector === '' ? '(every agent)' : r.selector],
      ['state', r.state],
      ['reason', r.reason ?? undefined],
      ['pause cause', r.pauseCause ?? undefined],
      [
        'stage',
        r.stage && (r.stages?.length ?? 0) > 1 ? `${r.stage.index + 1}/${r.stages!.length} ${r.stage.name}` : undefined,
      ],
      ['targets', r.targets ?? r.plan?.targets],
      [
        'counts',
        c
          ? `applied ${c.applied}, failed ${c.failed}, timed out ${c.timed_out}, pending ${c.pending}, applying ${c.applying}, skipped ${c.skipped}`
          : undefined,
      ],
      [
        'rollback',
        r.rollback
          ? `restored ${r.rollback.counts.done}, restoring ${r.rollback.counts.applying}, pending ${r.rollback.counts.pending}`
          : undefined,
      ],
      ['created', r.createdAt ? `${shortTime(r.createdAt)}${r.createdBy ? ` by ${r.createdBy}` : ''}` : undefined],
    ]),
  ];
  const waves = (r.waves ?? []).filter((w) => (w.direction ?? 'forward') === 'forward');
  if (waves.length > 0) {
    const stageName = (i: number): string => r.stages?.[i]?.name ?? String(i);
    lines.push(
      '',
      table(waves, [
        { header: 'wave', value: (w) => w.index, right: true },
        { header: 'stage', value: (w) => stageName(w.stage) },
        { header: 'size', value: (w) => w.size, right: true },
        { header: 'state', value: (w) => w.state },
        { header: 'applied', value: (w) => w.counts.applied, right: true },
        { header: 'failed', value: (w) => w.counts.failed + w.counts.timed_out, right: true },
        { header: 'pending', value: (w) => w.counts.pending + w.counts.applying, right: true },
        { header: 'skipped', value: (w) => w.counts.skipped, right: true },
      ]),
    );
  }
  return lines.join('\n');
}

interface WaitFlags {
  wait?: boolean;
  timeout?: string;
  interval: string;
}

function waitOption(cmd: Command): Command {
  return cmd
    .option('--wait', 'wait until the rollout ends and exit with a code that says how (docs/cli.md)')
    .option('--timeout <duration>', 'with --wait: give up after this long (exit 6), e.g. 600, 10m, 1h')
    .option('--interval <duration>', 'with --wait: time between polls', '2s');
}

/** --wait: progress lines, a last line with the outcome, the exit code. */
async function waitAndReport(
  ctx: Context,
  id: string,
  o: WaitFlags,
  mode: WaitMode,
  initial?: RolloutView,
): Promise<void> {
  const api = await ctx.api();
  const result = await waitForRollout(
    id,
    {
      intervalMs: parseDurationSeconds('--interval', o.interval) * 1000,
      timeoutMs: o.timeout === undefined ? undefined : parseDurationSeconds('--timeout', o.timeout) * 1000,
      mode,
      initial,
    },
    {
      fetchRollout: async (rid) => (await api.get<RolloutView>(`/rollouts/${seg(rid)}`)).body,
      progress: (line) => ctx.progress(line),
      warn: (line) => ctx.warn(line),
      now: ctx.io.now,
      sleep: ctx.io.sleep,
    },
  );
  ctx.progress(`rollout ${id}: ${result.summary}`);
  if (ctx.json && result.rollout) ctx.printJson(result.rollout);
  ctx.exitCode = result.code;
}

function strategyOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--config <name[@version]>', 'the config and version to roll out (default version: the latest)')
    .requiredOption('-l, --selector <selector>', 'label selector of the agents ("" for every agent)')
    .option('--strategy <json>', 'a whole strategy as JSON or @file; the flags below override its fields')
    .option('--first-wave <size>', 'first wave of each stage: a count (5) or a percent of the stage (2%)')
    .option('--factor <n>', 'growth factor: each wave is ceil(previous × n)')
    .option('--max-wave <size>', 'largest wave: a count or a percent of the stage')
    .option('--soak <duration>', 'how long a wave must stay healthy, e.g. 60, 5m')
    .option('--apply-timeout <duration>', 'an agent reporting neither APPLIED nor FAILED within this counts as failed')
    .option('--max-failures <percent>', 'failure budget in percent of the targets resolved so far')
    .addOption(new Option('--on-failure <action>', 'over budget: pause or rollback').choices(['pause', 'rollback']))
    .option('--max-restarts-per-second <n>', 'agents sent the config per second at most')
    .option('--no-follow-new-agents', 'do not give the config to matching agents that appear after completion')
    .option(
      '--stage <name=selector[:manual]>',
      'a stage (repeat, in order); ":manual" holds after it until "rollouts promote"',
      (v: string, prev: string[] = []) => [...prev, v],
    );
}

async function createRollout(
  ctx: Context,
  o: StrategyFlags & { config: string; selector: string },
  cmd: Command,
  dryRun: boolean,
) {
  const api = await ctx.api();
  const strategy = await strategyFromFlags(o, cmd.getOptionValueSource('followNewAgents') === 'cli', ctx.io.readStdin);
  const { name, version } = await resolveVersion(api, o.config);
  return (
    await api.post<RolloutView>('/rollouts', {
      config: name,
      version,
      selector: o.selector,
      ...(strategy ? { strategy } : {}),
      ...(dryRun ? { dryRun: true } : {}),
    })
  ).body;
}

const CONTROLS = [
  ['pause', 'stop sending the config (targets already sent keep resolving)'],
  ['resume', 'continue a paused rollout; failures so far are acknowledged'],
  ['promote', 'start the next stage after a manual stage passed'],
  ['abort', 'stop for good; agents keep what they have'],
  ['rollback', 'give every touched agent its previous config back'],
] as const;

export function registerRollouts(program: Command, ctx: Context): void {
  const rollouts = program.command('rollouts').description('staged config rollouts: plan, start, follow and control');

  strategyOptions(rollouts.command('plan'))
    .description('show the waves a rollout would have, storing nothing (dry run)')
    .action(async (o: StrategyFlags & { config: string; selector: string }, cmd: Command) => {
      const r = await createRollout(ctx, o, cmd, true);
      if (ctx.json) return ctx.printJson(r);
      ctx.out(`plan: ${planText(r)}`);
    });

  waitOption(strategyOptions(rollouts.command('start')))
    .description('start a rollout (POST /rollouts); with --wait, follow it to the end')
    .action(async (o: StrategyFlags & WaitFlags & { config: string; selector: string }, cmd: Command) => {
      const r = await createRollout(ctx, o, cmd, false);
      if (!o.wait) {
        if (ctx.json) return ctx.printJson(r);
        ctx.out(`rollout ${r.id} ${r.state}: ${planText(r)}`);
        if (r.reason) ctx.out(`reason: ${r.reason}`);
        return;
      }
      ctx.progress(`rollout ${r.id} created: ${planText(r)}`);
      await waitAndReport(ctx, r.id!, o, 'forward');
    });

  waitOption(rollouts.command('status'))
    .alias('get')
    .description('show a rollout with its stages and waves; with --wait, follow it to the end')
    .argument('<id>', 'rollout id')
    .action(async (id: string, o: WaitFlags) => {
      if (o.wait) return waitAndReport(ctx, id, o, 'forward');
      const r = (await (await ctx.api()).get<RolloutView>(`/rollouts/${seg(id)}`)).body;
      if (ctx.json) return ctx.printJson(r);
      ctx.out(statusText(r));
    });

  rollouts
    .command('list')
    .alias('ls')
    .description('list rollouts, newest first (GET /rollouts)')
    .option(
      '--state <states>',
      'planned, running, paused, completed, aborted, rolling_back, rolled_back (comma-separated)',
    )
    .option('--config <name>', 'rollouts of this config')
    .option('--limit <n>', 'page size')
    .option('--cursor <cursor>', 'the next page of an earlier listing')
    .option('--all', 'follow every page')
    .action(async (o: { state?: string; config?: string; limit?: string; cursor?: string; all?: boolean }) => {
      const page: Page<RolloutView> = await ctx.list<RolloutView>(
        '/rollouts',
        {
          state: o.state,
          config: o.config,
          limit: o.limit === undefined ? undefined : parseInteger('--limit', o.limit, 1),
          cursor: o.cursor,
        },
        o.all === true,
      );
      if (ctx.json) return ctx.printJson(page);
      ctx.out(
        table(page.items, [
          { header: 'id', value: (r) => r.id },
          { header: 'config', value: (r) => `${r.config.name}@${r.version.number}`, max: 40 },
          { header: 'state', value: (r) => r.state },
          { header: 'targets', value: (r) => r.targets, right: true },
          { header: 'selector', value: (r) => r.selector, max: 32 },
          { header: 'created', value: (r) => shortTime(r.createdAt) },
          { header: 'reason', value: (r) => r.reason, max: 50 },
        ]),
      );
      ctx.moreHint(page);
    });

  for (const [action, what] of CONTROLS) {
    waitOption(rollouts.command(action))
      .description(`${what} (POST /rollouts/{id}/${action})`)
      .argument('<id>', 'rollout id')
      .option('--reason <text>', 'why (kept as the rollout reason)')
      .action(async (id: string, o: WaitFlags & { reason?: string }) => {
        const api = await ctx.api();
        const r = (
          await api.post<RolloutView>(`/rollouts/${seg(id)}/${action}`, o.reason ? { reason: o.reason } : undefined)
        ).body;
        if (o.wait) return waitAndReport(ctx, id, o, action === 'rollback' ? 'rollback' : 'forward', r);
        if (ctx.json) return ctx.printJson(r);
        ctx.out(`rollout ${id}: ${r.state}${r.reason ? ` (${r.reason})` : ''}`);
      });
  }
}
