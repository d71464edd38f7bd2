// opampctl login --url URL --key KEY: checks the key against the API, then stores both.
import type { Command } from 'commander';
import { normaliseServerUrl, type ApiClient } from '../client.js';
import type { Context } from '../context.js';
import { writeCredentials } from '../credentials.js';
import { ApiError, UsageError } from '../errors.js';

interface Me {
  id?: string;
  type?: string;
  name?: string;
  role?: string;
}

/** GET /me names the caller; servers without it are checked with the cheapest authenticated read. */
export async function verifyKey(api: ApiClient): Promise<Me | undefined> {
  try {
    return (await api.get<Me>('/me')).body;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
  }
  await api.get('/agents', { limit: 1 });
  return undefined;
}

export function registerLogin(program: Command, ctx: Context): void {
  program
    .command('login')
    .description('check an API key against the server and store both for the next commands')
    .option('--url <url>', 'API address, e.g. http://localhost:8080 (default: $OPAMP_URL)')
    .option('--key <key>', 'API key; "-" reads it from standard input (default: $OPAMP_API_KEY)')
    .addHelpText(
      'after',
      '\nStored in $OPAMPCTL_CONFIG, else $XDG_CONFIG_HOME/opampctl/config.json, else ~/.config/opampctl/config.json (mode 0600).',
    )
    .action(async (opts: { url?: string; key?: string }) => {
      const rawUrl = opts.url ?? ctx.io.env.OPAMP_URL;
      let key = opts.key ?? ctx.io.env.OPAMP_API_KEY;
      if (!rawUrl) throw new UsageError('login needs --url (or OPAMP_URL)');
      if (!key) throw new UsageError('login needs --key (or OPAMP_API_KEY)');
      if (key === '-') key = (await ctx.io.readStdin()).trim();
      if (key === '') throw new UsageError('login: the key is empty');
      let url: string;
      try {
        url = normaliseServerUrl(rawUrl);
      } catch (err) {
        throw new UsageError(`--url: ${(err as Error).message}`);
      }
      const me = await verifyKey(ctx.clientFor(url, key));
      await writeCredentials(ctx.configFile, { url, key });
      if (ctx.json) {
        ctx.printJson({ url, config: ctx.configFile, principal: me ?? null });
        return;
      }
      const who = me ? ` as ${me.name ?? me.id ?? 'unknown'}${me.role ? ` (${me.role})` : ''}` : '';
      ctx.out(`Logged in to ${url}${who}; saved to ${ctx.configFile}`);
    });
}
