/**
 * Typed, validated environment for each app. Every app declares its variables once with
 * `defineEnv`; a wrong value stops the process at boot with one message listing every problem,
 * instead of failing later at the first use.
 */

export interface EnvVarSpec<T> {
  readonly kind: string;
  readonly description: string;
  readonly defaultText: string | undefined;
  parse(raw: string | undefined, name: string): T;
}

export class EnvValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'EnvValidationError';
  }
}

interface NumberOptions {
  default?: number;
  min?: number;
  max?: number;
  description: string;
}

function numberSpec(kind: 'integer' | 'number', opts: NumberOptions): EnvVarSpec<number> {
  return {
    kind,
    description: opts.description,
    defaultText: opts.default === undefined ? undefined : String(opts.default),
    parse(raw, name) {
      if (raw === undefined || raw.trim() === '') {
        if (opts.default === undefined) throw new Error(`${name} is required (${kind})`);
        return opts.default;
      }
      const value = Number(raw.trim());
      if (!Number.isFinite(value) || (kind === 'integer' && !Number.isInteger(value))) {
        throw new Error(`${name} must be an ${kind}, got "${raw}"`);
      }
      if (opts.min !== undefined && value < opts.min) throw new Error(`${name} must be >= ${opts.min}, got ${value}`);
      if (opts.max !== undefined && value > opts.max) throw new Error(`${name} must be <= ${opts.max}, got ${value}`);
      return value;
    },
  };
}

export const int = (opts: NumberOptions): EnvVarSpec<number> => numberSpec('integer', opts);
export const num = (opts: NumberOptions): EnvVarSpec<number> => numberSpec('number', opts);

interface StringOptions<D extends string | undefined> {
  default?: D;
  description: string;
  /** Validate the value; return an error message or undefined. */
  check?: (value: string) => string | undefined;
}

export function str(opts: StringOptions<undefined> & { optional: true }): EnvVarSpec<string | undefined>;
export function str(opts: StringOptions<string> & { default: string }): EnvVarSpec<string>;
// eslint-disable-next-line @typescript-eslint/unified-signatures -- keeps "required, no default" readable at call sites
export function str(opts: StringOptions<undefined>): EnvVarSpec<string>;
export function str(opts: StringOptions<string | undefined> & { optional?: boolean }): EnvVarSpec<string | undefined> {
  return {
    kind: 'string',
    description: opts.description,
    defaultText: opts.default,
    parse(raw, name) {
      const value = raw === undefined || raw === '' ? opts.default : raw;
      if (value === undefined) {
        if (opts.optional) return undefined;
        throw new Error(`${name} is required`);
      }
      const problem = opts.check?.(value);
      if (problem) throw new Error(`${name}: ${problem}`);
      return value;
    },
  };
}

export function bool(opts: { default: boolean; description: string }): EnvVarSpec<boolean> {
  return {
    kind: 'boolean',
    description: opts.description,
    defaultText: String(opts.default),
    parse(raw, name) {
      if (raw === undefined || raw === '') return opts.default;
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new Error(`${name} must be true or false, got "${raw}"`);
    },
  };
}

export function oneOf<const T extends string>(
  values: readonly T[],
  opts: { default: T; description: string },
): EnvVarSpec<T> {
  return {
    kind: values.join('|'),
    description: opts.description,
    defaultText: opts.default,
    parse(raw, name) {
      if (raw === undefined || raw === '') return opts.default;
      if (!(values as readonly string[]).includes(raw)) {
        throw new Error(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
      }
      return raw as T;
    },
  };
}

export const url = (opts: { default?: string; description: string; protocols: string[] }): EnvVarSpec<string> =>
  str({
    default: opts.default as string,
    description: opts.description,
    check: (value) => {
      try {
        const parsed = new URL(value);
        if (!opts.protocols.includes(parsed.protocol.replace(/:$/, ''))) {
          return `must use one of ${opts.protocols.join(', ')}, got ${parsed.protocol}`;
        }
        return undefined;
      } catch {
        return `is not a valid URL: "${value}"`;
      }
    },
  });

export type EnvSchema = Record<string, EnvVarSpec<unknown>>;
export type EnvOf<S extends EnvSchema> = { readonly [K in keyof S]: S[K] extends EnvVarSpec<infer T> ? T : never };

/** Parses `source` (default: process.env) against the schema; throws EnvValidationError listing every problem. */
export function loadEnv<S extends EnvSchema>(
  schema: S,
  source: Record<string, string | undefined> = process.env,
): EnvOf<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    try {
      out[name] = spec.parse(source[name], name);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length > 0) throw new EnvValidationError(problems);
  return Object.freeze(out) as EnvOf<S>;
}

/** A table cell's text: a literal `|` (e.g. the `open|token` kind of oneOf) must not end the cell. */
const cell = (text: string): string => text.replace(/\|/g, '\\|');

/** Markdown rows for the README's configuration table. */
export function describeEnv(schema: EnvSchema): string[] {
  return Object.entries(schema).map(
    ([name, spec]) =>
      `| \`${name}\` | ${cell(spec.kind)} | ${spec.defaultText === undefined || spec.defaultText === '' ? '—' : `\`${cell(spec.defaultText)}\``} | ${cell(spec.description)} |`,
  );
}
