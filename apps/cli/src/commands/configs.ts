// opampctl configs apply | diff | list | get
import { Option, type Command } from 'commander';
import { seg, type ApiClient } from '../client.js';
import { readLocalConfig, versionBody, type LocalConfigFile } from '../config-files.js';
import type { Context } from '../context.js';
import { ApiError, CliError, UsageError } from '../errors.js';
import { keyValues, shortHash, shortTime, table } from '../format.js';
import { diffFiles, type DiffSide } from '../line-diff.js';
import { parseInteger } from '../options.js';
import type { ConfigView, DiffView, Page, VersionSummaryView, VersionView } from '../views.js';

export const AGENT_TYPES = ['fluentbit', 'fluentd', 'otelcol', 'generic'] as const;

/** GET /configs/{name}, or undefined when there is no such config. */
export async function findConfig(api: ApiClient, name: string): Promise<ConfigView | undefined> {
  try {
    return (await api.get<ConfigView>(`/configs/${seg(name)}`)).body;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

export async function requireConfig(api: ApiClient, name: string): Promise<ConfigView> {
  const c = await findConfig(api, name);
  if (!c) throw new CliError(`no config named "${name}" exists`);
  return c;
}

export interface ApplyResult {
  config: ConfigView;
  configCreated: boolean;
  version: VersionSummaryView & { created: boolean };
}

/** Creates the config when it is missing and posts the files as a version (the API answers 200 for known content). */
export async function applyConfig(
  api: ApiClient,
  name: string,
  files: readonly LocalConfigFile[],
  opts: { type?: string; description?: string },
): Promise<ApplyResult> {
  let config = await findConfig(api, name);
  let configCreated = false;
  if (!config) {
    if (!opts.type) {
      throw new CliError(`config "${name}" does not exist yet: add --type (${AGENT_TYPES.join(', ')}) to create it`);
    }
    const res = await api.post<ConfigView>('/configs', {
      name,
      agentType: opts.type,
      ...(opts.description === undefined ? {} : { description: opts.description }),
    });
    config = res.body;
    configCreated = res.status === 201;
  } else if (opts.type && opts.type !== config.agentType) {
    throw new CliError(
      `config "${name}" is for ${config.agentType} agents, not ${opts.type}; a config's agent type cannot change (use another --name)`,
    );
  }
  const v = await api.post<VersionSummaryView & { created?: boolean }>(
    `/configs/${seg(name)}/versions`,
    versionBody(files),
  );
  return { config, configCreated, version: { ...v.body, created: v.body.created ?? v.status === 201 } };
}

function applyText(r: ApplyResult): string[] {
  const lines: string[] = [];
  const name = r.config.name;
  if (r.configCreated) lines.push(`config ${name} created (agent type ${r.config.agentType})`);
  const v = r.version;
  if (v.created) {
    lines.push(`${name}@${v.version} created (hash ${shortHash(v.hash)})`);
  } else {
    const latest = r.config.latestVersion?.version;
    const note = latest !== undefined && latest !== v.version ? `; note: the latest version is ${latest}` : '';
    lines.push(`${name}@${v.version} unchanged (hash ${shortHash(v.hash)})${note}`);
  }
  return lines;
}

const decoded = (f: { encoding: 'utf8' | 'base64'; content: string }): Buffer =>
  f.encoding === 'base64' ? Buffer.from(f.content, 'base64') : Buffer.from(f.content, 'utf8');

/** What `apply` would change: the version on the server (or nothing) against the local files. */
export function localDiff(
  config: string,
  base: VersionView | undefined,
  local: readonly LocalConfigFile[],
  path: string,
): DiffView {
  const from: DiffSide[] = (base?.files ?? []).map((f) => ({
    name: f.name,
    contentType: f.contentType,
    text: f.encoding === 'utf8' ? f.content : null,
    bytes: decoded(f),
  }));
  const to: DiffSide[] = local.map((f) => ({
    name: f.name,
    contentType: f.contentType,
    text: f.encoding === 'utf8' ? f.content : null,
    bytes: f.bytes,
  }));
  const files = diffFiles(from, to);
  const summary = { added: 0, removed: 0, changed: 0, unchanged: 0 };
  for (const f of files) summary[f.status]++;
  return {
    config,
    from: { version: base?.version ?? 'none', hash: base?.hash ?? null },
    to: { version: `local ${path}`, hash: null },
    identical: summary.added + summary.removed + summary.changed === 0,
    summary,
    files,
  };
}

export function diffText(d: DiffView): string {
  const s = d.summary;
  const head =
    `${d.config}: ${d.from.version} → ${d.to.version}: ` +
    (d.identical
      ? 'identical'
      : `${s.changed} changed, ${s.added} added, ${s.removed} removed, ${s.unchanged} unchanged`);
  const lines = [head];
  for (const f of d.files) {
    const counts =
      f.linesAdded !== undefined
        ? `  (+${f.linesAdded} -${f.linesRemoved ?? 0})`
        : f.binary && f.status !== 'unchanged'
          ? '  (binary)'
          : '';
    lines.push(`${f.status.padEnd(9)}  ${f.name}${counts}`);
  }
  for (const f of d.files) {
    if (f.patch) lines.push('', f.patch.trimEnd());
    else if (f.patchOmitted) lines.push('', `${f.name}: ${f.patchOmitted}`);
  }
  return lines.join('\n');
}

export function registerConfigs(program: Command, ctx: Context): void {
  const configs = program.command('configs').description('remote configs and their versions');

  configs
    .command('apply')
    .description('create the config if missing and add the files as a new version unless that content is already one')
    .requiredOption('-f, --file <path>', 'a config file, or a folder of files (one version; not recursive)')
    .option('--name <name>', 'config name (default: the file name without extension, or the folder name)')
    .addOption(new Option('--type <agentType>', 'agent type, needed to create the config').choices([...AGENT_TYPES]))
    .option('--description <text>', 'description when the config is created')
    .action(async (o: { file: string; name?: string; type?: string; description?: string }) => {
      const local = await readLocalConfig(o.file);
      const name = o.name ?? local.defaultName;
      const r = await applyConfig(await ctx.api(), name, local.files, o);
      if (ctx.json) return ctx.printJson(r);
      ctx.out(applyText(r).join('\n'));
    });

  configs
    .command('diff')
    .description(
      'compare two versions (default: the latest two), or --file against a version (what apply would change)',
    )
    .argument('<name>', 'config name')
    .argument('[a]', 'from version (default: the one before the latest)')
    .argument('[b]', 'to version (default: the latest)')
    .option('-f, --file <path>', 'compare these local files with version A (default: the latest)')
    .action(async (name: string, a: string | undefined, b: string | undefined, o: { file?: string }) => {
      const api = await ctx.api();
      const va = a === undefined ? undefined : parseInteger('version A', a, 1);
      const vb = b === undefined ? undefined : parseInteger('version B', b, 1);
      if (o.file !== undefined) {
        if (vb !== undefined) throw new UsageError('with --file give at most one version to compare against');
        const local = await readLocalConfig(o.file);
        const config = await findConfig(api, name);
        const baseVersion = va ?? config?.latestVersion?.version;
        if (va !== undefined && !config) throw new CliError(`no config named "${name}" exists`);
        const base =
          baseVersion === undefined
            ? undefined
            : (await api.get<VersionView>(`/configs/${seg(name)}/versions/${baseVersion}`)).body;
        const d = localDiff(name, base, local.files, o.file);
        if (ctx.json) return ctx.printJson(d);
        ctx.out(diffText(d));
        return;
      }
      let from = va;
      let to = vb;
      if (to === undefined) {
        const config = await requireConfig(api, name);
        const latest = config.latestVersion?.version;
        if (latest === undefined) throw new CliError(`config "${name}" has no versions yet`);
        to = latest;
        if (from === undefined) {
          if (latest < 2) throw new CliError(`config "${name}" has only version 1; nothing to compare it with`);
          from = latest - 1;
        }
      }
      const d = (await api.get<DiffView>(`/configs/${seg(name)}/versions/${from}/diff/${to}`)).body;
      if (ctx.json) return ctx.printJson(d);
      ctx.out(diffText(d));
    });

  configs
    .command('list')
    .alias('ls')
    .description('list configs (GET /configs)')
    .addOption(new Option('--type <agentType>', 'only configs for this agent type').choices([...AGENT_TYPES]))
    .option('--limit <n>', 'page size')
    .option('--cursor <cursor>', 'the next page of an earlier listing')
    .option('--all', 'follow every page')
    .action(async (o: { type?: string; limit?: string; cursor?: string; all?: boolean }) => {
      const page: Page<ConfigView> = await ctx.list<ConfigView>(
        '/configs',
        {
          agentType: o.type,
          limit: o.limit === undefined ? undefined : parseInteger('--limit', o.limit, 1),
          cursor: o.cursor,
        },
        o.all === true,
      );
      if (ctx.json) return ctx.printJson(page);
      ctx.out(
        table(page.items, [
          { header: 'name', value: (c) => c.name },
          { header: 'type', value: (c) => c.agentType },
          { header: 'versions', value: (c) => c.versionCount, right: true },
          { header: 'latest', value: (c) => c.latestVersion?.version },
          { header: 'hash', value: (c) => shortHash(c.latestVersion?.hash) },
          { header: 'updated', value: (c) => shortTime(c.latestVersion?.createdAt) },
          { header: 'description', value: (c) => c.description, max: 40 },
        ]),
      );
      ctx.moreHint(page);
    });

  configs
    .command('get')
    .description('show a config, or one version with its files (GET /configs/{name}[/versions/{v}])')
    .argument('<name>', 'config name, or NAME@VERSION')
    .action(async (ref: string) => {
      const api = await ctx.api();
      const at = ref.lastIndexOf('@');
      if (at > 0) {
        const version = parseInteger('version', ref.slice(at + 1), 1);
        const v = (await api.get<VersionView>(`/configs/${seg(ref.slice(0, at))}/versions/${version}`)).body;
        if (ctx.json) return ctx.printJson(v);
        ctx.out(
          keyValues([
            ['config', v.config],
            ['version', v.version],
            ['hash', v.hash],
          ]),
        );
        for (const f of v.files) {
          ctx.out(`\n--- ${f.name} (${f.contentType}${f.encoding === 'base64' ? ', base64' : ''})`);
          ctx.out(f.content.replace(/\n$/, ''));
        }
        return;
      }
      const c = await requireConfig(api, ref);
      if (ctx.json) return ctx.printJson(c);
      ctx.out(
        keyValues([
          ['name', c.name],
          ['type', c.agentType],
          ['description', c.description],
          ['versions', c.versionCount],
          ['latest', c.latestVersion ? `${c.latestVersion.version} (hash ${shortHash(c.latestVersion.hash)})` : null],
        ]),
      );
    });
}
