// Reads the Prisma schema's DMMF (the parsed data model) without the native schema engine,
// by calling `get_dmmf` in the prisma-schema WebAssembly module that ships inside the `prisma`
// CLI package. `@prisma/internals` (which wraps the same call) is not a dependency of this repo.
//
// Used by the schema/migration agreement test. The wasm-bindgen glue below is the minimum the
// module needs; if a Prisma upgrade changes the module's imports, this fails loudly and names
// the import rather than returning a wrong model.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface DmmfField {
  name: string;
  dbName: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  isList: boolean;
  isRequired: boolean;
  isUnique: boolean;
  isId: boolean;
  isReadOnly: boolean;
  hasDefaultValue: boolean;
  type: string;
  nativeType?: [string, string[]] | null;
  default?: unknown;
  isUpdatedAt: boolean;
  relationName?: string | null;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}

export interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { name: string | null; fields: string[] } | null;
  uniqueFields: string[][];
  uniqueIndexes: { name: string | null; fields: string[] }[];
}

export interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName: string | null }[];
}

export interface DmmfIndexField {
  name: string;
  sortOrder?: 'asc' | 'desc';
  length?: number;
  operatorClass?: string;
}

export interface DmmfIndex {
  model: string;
  type: 'id' | 'normal' | 'unique' | 'fulltext';
  isDefinedOnField: boolean;
  name?: string;
  dbName?: string;
  algorithm?: string;
  fields: DmmfIndexField[];
}

export interface Dmmf {
  datamodel: {
    models: DmmfModel[];
    enums: DmmfEnum[];
    indexes: DmmfIndex[];
  };
}

// The project compiles without the DOM lib, which is where TypeScript declares WebAssembly.
interface WasmApi {
  Module: {
    new (bytes: Uint8Array): object;
    imports(module: object): { module: string; name: string; kind: string }[];
  };
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type WasmExports = {
  memory: { buffer: ArrayBuffer };
  __wbindgen_externrefs: {
    grow(delta: number): number;
    get(index: number): unknown;
    set(index: number, value: unknown): void;
  };
  __wbindgen_malloc: (size: number, align: number) => number;
  __wbindgen_free: (ptr: number, size: number, align: number) => void;
  __externref_table_dealloc: (idx: number) => void;
  __wbindgen_start: () => void;
  get_dmmf: (ptr: number, len: number) => [number, number, number, number];
};

let cached: WasmExports | undefined;
/** Message of the last Rust panic inside the module (wasm panics surface as a bare RuntimeError). */
let lastPanic: string | undefined;

function loadSchemaWasm(): WasmExports {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const prismaDir = path.dirname(require.resolve('prisma/package.json'));
  const module = new WA.Module(readFileSync(path.join(prismaDir, 'build', 'prisma_schema_build_bg.wasm')));

  const state: { wasm?: WasmExports } = {};
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });
  const readString = (ptr: number, len: number): string => {
    const start = ptr >>> 0;
    return decoder.decode(new Uint8Array(state.wasm!.memory.buffer).subarray(start, start + len));
  };

  const imports: Record<string, Record<string, (...args: number[]) => unknown>> = {};
  for (const imp of WA.Module.imports(module)) {
    const table = (imports[imp.module] ??= {});
    const name = imp.name;
    if (imp.kind !== 'function') {
      throw new Error(`prisma-schema wasm: unexpected ${imp.kind} import ${imp.module}.${name}; update prisma-dmmf.ts`);
    } else if (name.startsWith('__wbg_Error_')) {
      table[name] = (ptr, len) => new Error(readString(ptr, len));
    } else if (name.startsWith('__wbg___wbindgen_throw_')) {
      table[name] = (ptr, len) => {
        throw new Error(readString(ptr, len));
      };
    } else if (name.startsWith('__wbg_set_message_')) {
      table[name] = (ptr, len) => {
        lastPanic = readString(ptr, len);
      };
    } else if (name === '__wbindgen_init_externref_table') {
      table[name] = () => {
        const t = state.wasm!.__wbindgen_externrefs;
        const offset = t.grow(4);
        t.set(0, undefined);
        t.set(offset + 0, undefined);
        t.set(offset + 1, null);
        t.set(offset + 2, true);
        t.set(offset + 3, false);
      };
    } else {
      throw new Error(`prisma-schema wasm: unknown import ${imp.module}.${name}; update prisma-dmmf.ts`);
    }
  }

  const instance = new WA.Instance(module, imports);
  const wasm = instance.exports as WasmExports;
  state.wasm = wasm;
  wasm.__wbindgen_start();
  cached = wasm;
  return wasm;
}

/** The DMMF of a Prisma schema (the text of schema.prisma). Throws the schema's validation errors. */
export function getDmmf(schema: string): Dmmf {
  const wasm = loadSchemaWasm();
  const input = new TextEncoder().encode(JSON.stringify({ prismaSchema: schema, noColor: true }));
  const ptr = wasm.__wbindgen_malloc(input.length, 1) >>> 0;
  new Uint8Array(wasm.memory.buffer).set(input, ptr);
  lastPanic = undefined;
  let ret: [number, number, number, number];
  try {
    ret = wasm.get_dmmf(ptr, input.length);
  } catch (err) {
    cached = undefined; // a panicked instance is not reusable
    throw new Error(`prisma-schema wasm failed in get_dmmf${lastPanic ? `: ${lastPanic}` : ''}`, { cause: err });
  }
  const [outPtr, outLen, errRef, isErr] = ret;
  if (isErr) {
    const err = wasm.__wbindgen_externrefs.get(errRef) as unknown;
    wasm.__externref_table_dealloc(errRef);
    throw err instanceof Error ? err : new Error(String(err));
  }
  try {
    const bytes = new Uint8Array(wasm.memory.buffer).slice(outPtr >>> 0, (outPtr >>> 0) + outLen);
    return JSON.parse(new TextDecoder().decode(bytes)) as Dmmf;
  } finally {
    wasm.__wbindgen_free(outPtr, outLen, 1);
  }
}
