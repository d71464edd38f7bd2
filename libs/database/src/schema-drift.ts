// Compares the Prisma schema (its DMMF) with a live Postgres database that the migrations were
// applied to, and lists every difference. Stands in for `prisma migrate diff`, whose native
// schema engine is not available on every machine. Used by schema-drift.medium-spec.ts.
//
// What is compared, with Prisma's own mapping rules:
// - models ↔ tables (no extra tables), enums ↔ Postgres enum types (same values, same order);
// - scalar/enum fields ↔ columns (no extra columns): name, nullability (scalar lists are nullable
//   columns in Prisma), type (+ precision/length where the schema fixes one), default presence
//   and literal default values (client-side defaults such as uuid()/cuid() have no column default);
// - primary keys, unique indexes, other indexes (columns, order, method, operator classes) with
//   Prisma's default constraint names; foreign keys (columns, target, ON DELETE / ON UPDATE).
// CHECK constraints and partial indexes (CREATE INDEX ... WHERE) are not compared: Prisma cannot
// express them and leaves them alone, so a migration may add them.
import type pg from 'pg';
import type { Dmmf, DmmfField, DmmfModel } from './prisma-dmmf.js';

const IGNORED_TABLES = new Set(['_prisma_migrations']);
const CLIENT_SIDE_DEFAULTS = new Set(['uuid', 'cuid', 'nanoid', 'ulid']);

/** Prisma's default constraint names are cut to Postgres's 63-character identifier limit. */
function constraintName(table: string, columns: string[], suffix: string): string {
  const base = [table, ...columns].join('_');
  const full = `${base}_${suffix}`;
  return full.length <= 63 ? full : `${base.slice(0, 63 - suffix.length - 1)}_${suffix}`;
}

function columnName(field: DmmfField): string {
  return field.dbName ?? field.name;
}

function tableName(model: DmmfModel): string {
  return model.dbName ?? model.name;
}

interface ExpectedType {
  udt: string;
  precision?: number;
  length?: number;
}

function expectedType(field: DmmfField, enumDbNames: Map<string, string>): ExpectedType {
  const [native, args] = field.nativeType ?? [undefined, []];
  const arg = args[0] !== undefined ? Number(args[0]) : undefined;
  let t: ExpectedType;
  if (field.kind === 'enum') {
    t = { udt: enumDbNames.get(field.type) ?? field.type };
  } else {
    switch (field.type) {
      case 'String':
        t =
          native === 'Uuid'
            ? { udt: 'uuid' }
            : native === 'VarChar'
              ? { udt: 'varchar', length: arg }
              : native === 'Char'
                ? { udt: 'bpchar', length: arg }
                : native === 'Citext'
                  ? { udt: 'citext' }
                  : native === 'Inet'
                    ? { udt: 'inet' }
                    : native === 'Xml'
                      ? { udt: 'xml' }
                      : { udt: 'text' };
        break;
      case 'Int':
        t = { udt: native === 'SmallInt' ? 'int2' : native === 'Oid' ? 'oid' : 'int4' };
        break;
      case 'BigInt':
        t = { udt: 'int8' };
        break;
      case 'Float':
        t = { udt: native === 'Real' ? 'float4' : 'float8' };
        break;
      case 'Decimal':
        t = { udt: native === 'Money' ? 'money' : 'numeric' };
        break;
      case 'Boolean':
        t = { udt: 'bool' };
        break;
      case 'DateTime':
        t =
          native === 'Timestamptz'
            ? { udt: 'timestamptz', precision: arg ?? 6 }
            : native === 'Date'
              ? { udt: 'date' }
              : native === 'Time'
                ? { udt: 'time', precision: arg ?? 6 }
                : native === 'Timetz'
                  ? { udt: 'timetz', precision: arg ?? 6 }
                  : native === 'Timestamp'
                    ? { udt: 'timestamp', precision: arg ?? 6 }
                    : { udt: 'timestamp', precision: 3 };
        break;
      case 'Json':
        t = { udt: native === 'Json' ? 'json' : 'jsonb' };
        break;
      case 'Bytes':
        t = { udt: 'bytea' };
        break;
      default:
        t = { udt: `(unsupported Prisma type ${field.type})` };
    }
  }
  return field.isList ? { ...t, udt: `_${t.udt}` } : t;
}

/** A column default as Postgres prints it, reduced to the literal: `'{}'::jsonb` → `{}`, `ARRAY[]::text[]` → `[]`. */
function normaliseDbDefault(def: string): string {
  let d = def.trim();
  for (;;) {
    const stripped = d.replace(/::[a-zA-Z_][\w ".]*(\[\])*$/, '');
    if (stripped === d) break;
    d = stripped;
  }
  if (/^ARRAY\[(.*)\]$/s.test(d)) {
    const inner = d.slice(6, -1).trim();
    const items = inner === '' ? [] : inner.split(',').map((s) => normaliseDbDefault(s));
    return `[${items.join(',')}]`;
  }
  if (d.startsWith("'") && d.endsWith("'")) d = d.slice(1, -1).replaceAll("''", "'");
  return d;
}

function expectedDefault(
  def: unknown,
): { kind: 'none' } | { kind: 'any' } | { kind: 'now' } | { kind: 'sequence' } | { kind: 'literal'; value: string } {
  if (def === undefined) return { kind: 'none' };
  if (Array.isArray(def)) return { kind: 'literal', value: `[${def.map((v) => String(v)).join(',')}]` };
  if (def !== null && typeof def === 'object' && 'name' in def) {
    const name = String((def as { name: string }).name);
    if (name === 'now') return { kind: 'now' };
    if (name === 'autoincrement') return { kind: 'sequence' };
    if (CLIENT_SIDE_DEFAULTS.has(name)) return { kind: 'none' };
    return { kind: 'any' }; // dbgenerated(...), sequence(...)
  }
  return { kind: 'literal', value: String(def) };
}

const ALGORITHMS: Record<string, string> = {
  BTree: 'btree',
  Hash: 'hash',
  Gin: 'gin',
  Gist: 'gist',
  SpGist: 'spgist',
  Brin: 'brin',
};

function opclassName(prismaName: string): string {
  // JsonbPathOps → jsonb_path_ops, ArrayOps → array_ops, Int4MinMaxOps → int4_minmax_ops ...
  return prismaName
    .replace(/MinMax/g, '_minmax')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/^_/, '');
}

const FK_ACTIONS: Record<string, string> = {
  a: 'NoAction',
  r: 'Restrict',
  c: 'Cascade',
  n: 'SetNull',
  d: 'SetDefault',
};

interface DbColumn {
  table_name: string;
  column_name: string;
  udt_name: string;
  is_nullable: 'YES' | 'NO';
  column_default: string | null;
  character_maximum_length: number | null;
  datetime_precision: number | null;
  is_identity: 'YES' | 'NO';
}

interface DbIndex {
  table: string;
  name: string;
  method: string;
  is_unique: boolean;
  is_primary: boolean;
  columns: string[];
  opclasses: string[];
  default_opclass: boolean[];
  descending: boolean[];
  is_partial: boolean;
}

interface DbForeignKey {
  table: string;
  name: string;
  columns: string[];
  ref_table: string;
  ref_columns: string[];
  on_delete: string;
  on_update: string;
}

async function introspect(client: pg.ClientBase, schema: string) {
  const tables = (
    await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
      [schema],
    )
  ).rows.map((r) => r.table_name);
  const columns = (
    await client.query<DbColumn>(
      `SELECT table_name, column_name, udt_name, is_nullable, column_default, character_maximum_length, datetime_precision, is_identity
         FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
      [schema],
    )
  ).rows;
  const enums = (
    await client.query<{ name: string; values: string[] }>(
      `SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS values
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = $1 GROUP BY t.typname`,
      [schema],
    )
  ).rows;
  const indexes = (
    await client.query<DbIndex>(
      `SELECT tc.relname AS table, ic.relname AS name, am.amname AS method, ix.indisunique AS is_unique, ix.indisprimary AS is_primary,
              array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord)
                      JOIN pg_attribute a ON a.attrelid = tc.oid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns,
              array(SELECT oc.opcname FROM unnest(ix.indclass) WITH ORDINALITY k(oid, ord)
                      JOIN pg_opclass oc ON oc.oid = k.oid ORDER BY k.ord)::text[] AS opclasses,
              array(SELECT oc.opcdefault FROM unnest(ix.indclass) WITH ORDINALITY k(oid, ord)
                      JOIN pg_opclass oc ON oc.oid = k.oid ORDER BY k.ord)::boolean[] AS default_opclass,
              array(SELECT (opt & 1) = 1 FROM unnest(ix.indoption) WITH ORDINALITY k(opt, ord) ORDER BY k.ord)::boolean[] AS descending,
              ix.indpred IS NOT NULL AS is_partial
         FROM pg_index ix
         JOIN pg_class ic ON ic.oid = ix.indexrelid
         JOIN pg_class tc ON tc.oid = ix.indrelid
         JOIN pg_namespace n ON n.oid = tc.relnamespace
         JOIN pg_am am ON am.oid = ic.relam
        WHERE n.nspname = $1`,
      [schema],
    )
  ).rows;
  const foreignKeys = (
    await client.query<DbForeignKey>(
      `SELECT tc.relname AS table, c.conname AS name, rc.relname AS ref_table,
              array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns,
              array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
                      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS ref_columns,
              c.confdeltype AS on_delete, c.confupdtype AS on_update
         FROM pg_constraint c
         JOIN pg_class tc ON tc.oid = c.conrelid
         JOIN pg_class rc ON rc.oid = c.confrelid
         JOIN pg_namespace n ON n.oid = tc.relnamespace
        WHERE c.contype = 'f' AND n.nspname = $1`,
      [schema],
    )
  ).rows;
  return { tables, columns, enums, indexes, foreignKeys };
}

const same = (a: readonly unknown[], b: readonly unknown[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** Every difference between the schema and the database, as readable sentences; [] when they agree. */
export async function diffSchemaAgainstDatabase(
  dmmf: Dmmf,
  client: pg.ClientBase,
  schema = 'public',
): Promise<string[]> {
  const problems: string[] = [];
  const db = await introspect(client, schema);
  const { models, enums, indexes } = dmmf.datamodel;

  // Enums
  const enumDbNames = new Map(enums.map((e) => [e.name, e.dbName ?? e.name]));
  const dbEnums = new Map(db.enums.map((e) => [e.name, e.values]));
  for (const e of enums) {
    const name = e.dbName ?? e.name;
    const values = e.values.map((v) => v.dbName ?? v.name);
    const actual = dbEnums.get(name);
    if (!actual) problems.push(`enum ${e.name}: type "${name}" is missing in the database`);
    else if (!same(actual, values))
      problems.push(`enum ${e.name}: database values [${actual.join(', ')}] ≠ schema values [${values.join(', ')}]`);
    dbEnums.delete(name);
  }
  for (const name of dbEnums.keys()) problems.push(`enum type "${name}" exists in the database but not in the schema`);

  // Tables and columns
  const modelByName = new Map(models.map((m) => [m.name, m]));
  const dbTables = new Set(db.tables.filter((t) => !IGNORED_TABLES.has(t)));
  for (const model of models) {
    const table = tableName(model);
    if (!dbTables.delete(table)) {
      problems.push(`model ${model.name}: table "${table}" is missing in the database`);
      continue;
    }
    const dbColumns = new Map(db.columns.filter((c) => c.table_name === table).map((c) => [c.column_name, c]));
    for (const field of model.fields) {
      if (field.kind !== 'scalar' && field.kind !== 'enum') continue;
      const where = `${model.name}.${field.name}`;
      const col = dbColumns.get(columnName(field));
      if (!col) {
        problems.push(`${where}: column "${table}"."${columnName(field)}" is missing in the database`);
        continue;
      }
      dbColumns.delete(columnName(field));
      const nullable = !field.isRequired || field.isList;
      if ((col.is_nullable === 'YES') !== nullable) {
        problems.push(
          `${where}: column is ${col.is_nullable === 'YES' ? 'NULL' : 'NOT NULL'} in the database but ${nullable ? 'optional' : 'required'} in the schema`,
        );
      }
      const type = expectedType(field, enumDbNames);
      if (col.udt_name !== type.udt)
        problems.push(`${where}: column type is ${col.udt_name} in the database, the schema needs ${type.udt}`);
      if (type.precision !== undefined && col.datetime_precision !== type.precision) {
        problems.push(
          `${where}: column precision is ${col.datetime_precision} in the database, the schema needs ${type.precision}`,
        );
      }
      if (type.length !== undefined && col.character_maximum_length !== type.length) {
        problems.push(
          `${where}: column length is ${col.character_maximum_length} in the database, the schema needs ${type.length}`,
        );
      }
      const expected = expectedDefault(field.hasDefaultValue ? field.default : undefined);
      const actual = col.column_default;
      const hasDbDefault = actual !== null || col.is_identity === 'YES';
      switch (expected.kind) {
        case 'none':
          if (hasDbDefault)
            problems.push(
              `${where}: column has default ${actual ?? 'IDENTITY'} in the database but none in the schema`,
            );
          break;
        case 'any':
          if (!hasDbDefault) problems.push(`${where}: the schema has a database default, the column has none`);
          break;
        case 'now':
          if (actual === null || !/^(CURRENT_TIMESTAMP|now\(\))/i.test(actual))
            problems.push(`${where}: default should be now() / CURRENT_TIMESTAMP, database has ${actual}`);
          break;
        case 'sequence':
          if (col.is_identity !== 'YES' && !(actual ?? '').startsWith('nextval('))
            problems.push(`${where}: autoincrement() needs a sequence default, database has ${actual}`);
          break;
        case 'literal':
          if (actual === null)
            problems.push(`${where}: the schema default is ${expected.value}, the column has no default`);
          else if (normaliseDbDefault(actual) !== expected.value)
            problems.push(`${where}: default is ${actual} in the database, ${expected.value} in the schema`);
          break;
      }
    }
    for (const name of dbColumns.keys())
      problems.push(`model ${model.name}: column "${table}"."${name}" exists in the database but not in the schema`);
  }
  for (const t of dbTables) problems.push(`table "${t}" exists in the database but has no model`);

  // Primary keys and indexes
  const dbIndexes = new Map(
    db.indexes.filter((i) => !IGNORED_TABLES.has(i.table) && !i.is_partial).map((i) => [`${i.table}.${i.name}`, i]),
  );
  for (const index of indexes) {
    const model = modelByName.get(index.model);
    if (!model) continue;
    const table = tableName(model);
    const fieldsByName = new Map(model.fields.map((f) => [f.name, f]));
    const cols = index.fields.map((f) => {
      const field = fieldsByName.get(f.name);
      return field ? columnName(field) : f.name;
    });
    const suffix = index.type === 'id' ? 'pkey' : index.type === 'unique' ? 'key' : 'idx';
    const name = index.dbName ?? (index.type === 'id' ? `${table}_pkey` : constraintName(table, cols, suffix));
    const what = `${index.type === 'id' ? 'primary key' : index.type === 'unique' ? 'unique index' : 'index'} ${name} on ${table}(${cols.join(', ')})`;
    const actual = dbIndexes.get(`${table}.${name}`);
    if (!actual) {
      problems.push(`${what}: missing in the database`);
      continue;
    }
    dbIndexes.delete(`${table}.${name}`);
    if (!same(actual.columns, cols)) problems.push(`${what}: database columns are (${actual.columns.join(', ')})`);
    if (actual.is_primary !== (index.type === 'id')) problems.push(`${what}: primary key in one and not the other`);
    if (actual.is_unique !== (index.type === 'id' || index.type === 'unique'))
      problems.push(`${what}: uniqueness differs (database: ${actual.is_unique ? 'unique' : 'not unique'})`);
    const method = ALGORITHMS[index.algorithm ?? 'BTree'] ?? index.algorithm?.toLowerCase();
    if (actual.method !== method)
      problems.push(`${what}: method is ${actual.method} in the database, ${method} in the schema`);
    index.fields.forEach((f, i) => {
      if (f.operatorClass) {
        const want = opclassName(f.operatorClass);
        if (actual.opclasses[i] !== want)
          problems.push(
            `${what}: operator class of ${cols[i]} is ${actual.opclasses[i]} in the database, ${want} in the schema`,
          );
      } else if (actual.default_opclass[i] === false) {
        problems.push(
          `${what}: ${cols[i]} uses operator class ${actual.opclasses[i]} in the database, the default in the schema`,
        );
      }
      if ((actual.descending[i] ?? false) !== (f.sortOrder === 'desc'))
        problems.push(`${what}: sort order of ${cols[i]} differs`);
    });
  }
  for (const i of dbIndexes.values())
    problems.push(
      `${i.is_primary ? 'primary key' : 'index'} ${i.name} on ${i.table}(${i.columns.join(', ')}) exists in the database but not in the schema`,
    );

  // Foreign keys
  const dbFks = new Map(
    db.foreignKeys.filter((f) => !IGNORED_TABLES.has(f.table)).map((f) => [`${f.table}.${f.name}`, f]),
  );
  for (const model of models) {
    const table = tableName(model);
    const fieldsByName = new Map(model.fields.map((f) => [f.name, f]));
    for (const rel of model.fields) {
      if (rel.kind !== 'object' || !rel.relationFromFields?.length) continue;
      const target = modelByName.get(rel.type);
      if (!target) continue;
      const targetFields = new Map(target.fields.map((f) => [f.name, f]));
      const cols = rel.relationFromFields.map((n) => columnName(fieldsByName.get(n)!));
      const refCols = (rel.relationToFields ?? []).map((n) => columnName(targetFields.get(n)!));
      const name = constraintName(table, cols, 'fkey');
      const what = `foreign key ${name} (${model.name}.${rel.name})`;
      const actual = dbFks.get(`${table}.${name}`);
      if (!actual) {
        problems.push(`${what}: missing in the database`);
        continue;
      }
      dbFks.delete(`${table}.${name}`);
      if (!same(actual.columns, cols) || actual.ref_table !== tableName(target) || !same(actual.ref_columns, refCols)) {
        problems.push(
          `${what}: database has (${actual.columns.join(', ')}) → ${actual.ref_table}(${actual.ref_columns.join(', ')}), schema (${cols.join(', ')}) → ${tableName(target)}(${refCols.join(', ')})`,
        );
      }
      const required = rel.relationFromFields.some((n) => fieldsByName.get(n)?.isRequired);
      const onDelete = rel.relationOnDelete ?? (required ? 'Restrict' : 'SetNull');
      const onUpdate = rel.relationOnUpdate ?? 'Cascade';
      if (FK_ACTIONS[actual.on_delete] !== onDelete)
        problems.push(
          `${what}: ON DELETE is ${FK_ACTIONS[actual.on_delete]} in the database, ${onDelete} in the schema`,
        );
      if (FK_ACTIONS[actual.on_update] !== onUpdate)
        problems.push(
          `${what}: ON UPDATE is ${FK_ACTIONS[actual.on_update]} in the database, ${onUpdate} in the schema`,
        );
    }
  }
  for (const f of dbFks.values())
    problems.push(`foreign key ${f.name} on ${f.table} exists in the database but not in the schema`);
  return problems;
}
