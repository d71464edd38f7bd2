// What every command needs: where to write, the output format, an API client built from the
// stored login or the environment, and the exit code the command ends with.
import { ApiClient, type FetchFn, type QueryValue } from './client.js';
import { configPath, resolveCredentials, type Env } from './credentials.js';
import { ExitCode, type ExitCodeValue } from './errors.js';
import { json } from './format.js';
import type { Page } from './views.js';

export const VERSION = '0.1.0';

export interface Io {
  /** Writes one line (or block) to standard output. */
  out: (text: string) => void;
  /** Writes one line (or block) to standard error. */
  err: (text: string) => void;
  env: Env;
  home: string;
  fetch?: FetchFn;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  readStdin: () => Promise<string>;
}

export type OutputFormat = 'table' | 'json';

/** Most pages `--all` follows (50,000 items at 500 a page): a bound, not a limit anyone should meet. */
const MAX_PAGES = 100;

export class Context {
  /** Set by commands that end with something other than 0 without failing (e.g. --wait outcomes). */
  exitCode: ExitCodeValue = ExitCode.ok;
  format: OutputFormat = 'table';
  private client: ApiClient | undefined;

  constructor(readonly io: Io) {}

  get configFile(): string {
    return configPath(this.io.env, this.io.home);
  }

  async api(): Promise<ApiClient> {
    if (!this.client) {
      const creds = await resolveCredentials(this.io.env, this.configFile);
      this.client = this.clientFor(creds.url, creds.key);
    }
    return this.client;
  }

  clientFor(url: string, key: string | undefined): ApiClient {
    return new ApiClient({ url, key, fetch: this.io.fetch, userAgent: `opampctl/${VERSION}` });
  }

  get json(): boolean {
    return this.format === 'json';
  }

  out(text: string): void {
    this.io.out(text);
  }

  printJson(value: unknown): void {
    this.io.out(json(value));
  }

  /** Progress for people: stdout in table mode, stderr with -o json (so stdout stays one JSON document). */
  progress(text: string): void {
    if (this.json) this.io.err(text);
    else this.io.out(text);
  }

  warn(text: string): void {
    this.io.err(`warning: ${text}`);
  }

  /** One page, or every page with `all` (then nextCursor is null). */
  async list<T>(path: string, query: Record<string, QueryValue>, all: boolean): Promise<Page<T>> {
    const api = await this.api();
    const first = (await api.get<Page<T>>(path, query)).body;
    if (!all) return first;
    const items = [...first.items];
    let cursor = first.nextCursor;
    for (let pages = 1; cursor !== null && pages < MAX_PAGES; pages++) {
      const page = (await api.get<Page<T>>(path, { ...query, cursor })).body;
      items.push(...page.items);
      cursor = page.nextCursor;
    }
    if (cursor !== null) this.warn(`stopped after ${MAX_PAGES} pages; narrow the query to see the rest`);
    return { items, nextCursor: cursor };
  }

  /** Tells a person there is more than one page (table mode only). */
  moreHint(page: Page<unknown>): void {
    if (!this.json && page.nextCursor) {
      this.io.err(`(more results: add --all, or --cursor ${page.nextCursor} for the next page)`);
    }
  }
}
