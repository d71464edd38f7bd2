// JSON Schema (draft 2020-12) of command parameters, checked with ajv (strict vocabulary): a schema
// with a typo ("propertiez") is refused when the command type is defined, not silently ignored
// when a command is sent. `format` is not enforced (no format vocabulary is loaded).
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { InvalidParam } from '../common/problem.js';

const MAX_CACHED = 500;

function newAjv(): Ajv2020 {
  // Strict about the schema's vocabulary (unknown keywords, ignored keywords, invalid numbers),
  // not about style (a `required` property without a `properties` entry is legal JSON Schema).
  return new Ajv2020({
    allErrors: true,
    strictSchema: true,
    strictNumbers: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    validateFormats: false,
  });
}

function pointerToken(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** One invalid-params entry per ajv error, named by JSON pointer under `parameters`. */
export function parameterErrors(errors: readonly ErrorObject[], root = 'parameters'): InvalidParam[] {
  return errors.map((e) => {
    const at = `${root}${e.instancePath}`;
    const p = e.params as Record<string, unknown>;
    if (e.keyword === 'required' && typeof p.missingProperty === 'string') {
      return { name: `${at}/${pointerToken(p.missingProperty)}`, reason: 'is required' };
    }
    if (e.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') {
      return { name: `${at}/${pointerToken(p.additionalProperty)}`, reason: 'is not allowed by the schema' };
    }
    if (e.keyword === 'enum' && Array.isArray(p.allowedValues)) {
      return { name: at, reason: `must be one of ${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
    }
    return { name: at, reason: e.message ?? `fails ${e.keyword}` };
  });
}

/**
 * Checks that `schema` is a JSON Schema ajv can compile (strict); returns the problems, one per
 * entry, named under `parametersSchema`. Empty when it is usable.
 */
export function schemaProblems(schema: unknown): InvalidParam[] {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    return [
      { name: 'parametersSchema', reason: 'must be a JSON Schema object (draft 2020-12), e.g. {"type":"object"}' },
    ];
  }
  const ajv = newAjv();
  if (!ajv.validateSchema(schema)) {
    return parameterErrors(ajv.errors ?? [], 'parametersSchema');
  }
  try {
    ajv.compile(schema);
  } catch (err) {
    return [{ name: 'parametersSchema', reason: (err as Error).message }];
  }
  return [];
}

/**
 * Compiled validators of the command types' schemas, keyed by the schema's JSON text, so a
 * changed schema (another api replica may have changed it) is recompiled and an unchanged one is
 * not. Bounded: the oldest entries are dropped past MAX_CACHED.
 */
export class ParameterValidators {
  private ajv = newAjv();
  private readonly cache = new Map<string, ValidateFunction>();

  /** The problems of `parameters` against `schema` (empty when valid). */
  validate(schema: unknown, parameters: unknown): InvalidParam[] {
    const validate = this.compiled(schema);
    if (validate(parameters)) return [];
    return parameterErrors(validate.errors ?? []);
  }

  private compiled(schema: unknown): ValidateFunction {
    const key = JSON.stringify(schema);
    let fn = this.cache.get(key);
    if (fn) return fn;
    // ajv keeps every schema it compiled: start over rather than grow without bound.
    if (this.cache.size >= MAX_CACHED) this.reset();
    try {
      fn = this.ajv.compile(schema as object);
    } catch {
      // A changed schema keeping its `$id` collides with the compiled old one: start over once.
      this.reset();
      fn = this.ajv.compile(schema as object);
    }
    this.cache.set(key, fn);
    return fn;
  }

  private reset(): void {
    this.cache.clear();
    this.ajv = newAjv();
  }
}
