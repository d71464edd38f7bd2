// Where `opampctl login` keeps the server URL and API key, and how a command finds them:
// OPAMP_URL / OPAMP_API_KEY win over the file, so CI needs no file at all.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CliError } from './errors.js';

export interface StoredCredentials {
  url: string;
  key: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** `$OPAMPCTL_CONFIG`, else `$XDG_CONFIG_HOME/opampctl/config.json`, else `~/.config/opampctl/config.json`. */
export function configPath(env: Env, home: string): string {
  if (env.OPAMPCTL_CONFIG) return path.resolve(env.OPAMPCTL_CONFIG);
  const base =
    env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(home, '.config');
  return path.join(base, 'opampctl', 'config.json');
}

/** The stored credentials; undefined when there is no file. A file that cannot be used is an error. */
export async function readCredentials(file: string): Promise<Partial<StoredCredentials> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not JSON; run "opampctl login" again or delete it`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CliError(`${file} is not a JSON object; run "opampctl login" again or delete it`);
  }
  const p = parsed as Record<string, unknown>;
  return {
    ...(typeof p.url === 'string' ? { url: p.url } : {}),
    ...(typeof p.key === 'string' ? { key: p.key } : {}),
  };
}

/** Writes the file readable by its owner only (0600; its folder 0700), replacing it atomically. */
export async function writeCredentials(file: string, creds: StoredCredentials): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ url: creds.url, key: creds.key }, null, 2)}\n`, { mode: 0o600 });
  // The mode of writeFile only applies to a new file, and the umask may have narrowed it.
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

export interface ResolvedCredentials {
  url: string;
  key: string | undefined;
  /** Where the URL came from, for error messages. */
  source: string;
}

/** OPAMP_URL / OPAMP_API_KEY, each falling back to the file written by `opampctl login`. */
export async function resolveCredentials(env: Env, file: string): Promise<ResolvedCredentials> {
  const stored = env.OPAMP_URL && env.OPAMP_API_KEY ? undefined : await readCredentials(file);
  const url = env.OPAMP_URL || stored?.url;
  const key = env.OPAMP_API_KEY || stored?.key;
  if (!url) {
    throw new CliError(
      `no API URL: run "opampctl login --url URL --key KEY" or set OPAMP_URL and OPAMP_API_KEY (looked in ${file})`,
    );
  }
  return { url, key, source: env.OPAMP_URL ? 'OPAMP_URL' : file };
}
