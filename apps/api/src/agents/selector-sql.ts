// Translates a parsed label selector (libs/domain) into a parameterised SQL condition over the
// `agents` table (alias `a`). Every key and value travels as a bind parameter; the SQL text is
// built only from constants.
//
// An agent's label value for key k is the first non-null of
//     a.labels ->> k                                   (set through the API)
//     a.description -> 'nonIdentifying' ->> k          (reported by the agent)
//     a.description -> 'identifying' ->> k
// which is exactly `agentLabels()` of libs/domain, so SQL and in-memory matching agree.
//
// For `=`/`==`/`in` we AND a containment pre-filter (`@>`) that the GIN jsonb_path_ops indexes
// on labels and description can answer, so selective queries do not scan the table. The
// pre-filter is implied by the exact condition (a value can only equal "v" if some layer holds
// the JSON string "v", or the JSON number / boolean spelled v), so it never drops a match.
import { Prisma } from '@opamp/database';
import type { LabelSelector, SelectorRequirement } from '@opamp/domain';

/** Beyond this many `@>` terms for one requirement the pre-filter costs more than it saves. */
const MAX_PREFILTER_TERMS = 24;

const JSON_NUMBER = /^(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function labelValue(key: string): Prisma.Sql {
  return Prisma.sql`COALESCE(a.labels ->> ${key}::text, a.description -> 'nonIdentifying' ->> ${key}::text, a.description -> 'identifying' ->> ${key}::text)`;
}

/** JSON texts a stored scalar could have when its `->>` text is `value`. */
export function jsonSpellings(value: string): string[] {
  const out = [JSON.stringify(value)];
  if (JSON_NUMBER.test(value)) out.push(value);
  if (value === 'true' || value === 'false') out.push(value);
  return out;
}

function containmentPrefilter(key: string, values: readonly string[]): Prisma.Sql | undefined {
  const terms: Prisma.Sql[] = [];
  for (const v of values) {
    for (const spelled of jsonSpellings(v)) {
      // The JSON text is assembled from JSON.stringify(key) and a validated spelling, and is still
      // passed as a parameter (cast to jsonb by Postgres), never spliced into the SQL.
      const pair = `{${JSON.stringify(key)}:${spelled}}`;
      terms.push(
        Prisma.sql`a.labels @> ${pair}::jsonb`,
        Prisma.sql`a.description @> ${`{"nonIdentifying":${pair}}`}::jsonb`,
        Prisma.sql`a.description @> ${`{"identifying":${pair}}`}::jsonb`,
      );
    }
  }
  if (terms.length === 0 || terms.length > MAX_PREFILTER_TERMS) return undefined;
  return Prisma.sql`(${Prisma.join(terms, ' OR ')})`;
}

export function requirementSql(r: SelectorRequirement): Prisma.Sql {
  const v = labelValue(r.key);
  switch (r.operator) {
    case 'exists':
      return Prisma.sql`${v} IS NOT NULL`;
    case 'doesNotExist':
      return Prisma.sql`${v} IS NULL`;
    case 'equals': {
      const exact = Prisma.sql`${v} = ${r.values[0]!}::text`;
      const pre = containmentPrefilter(r.key, r.values);
      return pre ? Prisma.sql`(${pre} AND ${exact})` : exact;
    }
    case 'notEquals':
      return Prisma.sql`${v} IS DISTINCT FROM ${r.values[0]!}::text`;
    case 'in': {
      const exact = Prisma.sql`${v} IN (${Prisma.join(r.values.map((x) => Prisma.sql`${x}::text`))})`;
      const pre = containmentPrefilter(r.key, r.values);
      return pre ? Prisma.sql`(${pre} AND ${exact})` : exact;
    }
    case 'notIn':
      return Prisma.sql`COALESCE(${v} NOT IN (${Prisma.join(r.values.map((x) => Prisma.sql`${x}::text`))}), true)`;
  }
}

/** SQL conditions (to be ANDed) for a selector; empty for the empty selector. */
export function selectorConditions(selector: LabelSelector): Prisma.Sql[] {
  return selector.map(requirementSql);
}
