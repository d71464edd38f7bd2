// Behaviour of the custom scalars the SDL declares (JSON, DateTime, BigInt). The services'
// views already hold JSON-ready values; these accept what they hold (Date or ISO text, bigint or
// decimal text) and reject anything else loudly instead of sending a wrong value.
import { GraphQLError, Kind, valueFromASTUntyped, type ConstValueNode, type GraphQLScalarType } from 'graphql';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const DECIMAL = /^-?\d{1,20}$/;

/** Plain JSON: bigint becomes its decimal text, Date its ISO form, undefined is dropped. */
function toJson(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null',
  ) as unknown;
}

function dateTimeOut(value: unknown): string {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  if (typeof value === 'string' && ISO_DATE_TIME.test(value)) return value;
  throw new GraphQLError(`DateTime cannot represent ${JSON.stringify(value)}`);
}

function dateTimeIn(value: unknown): Date {
  if (typeof value === 'string' && ISO_DATE_TIME.test(value)) {
    const d = new Date(value);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new GraphQLError(
    `DateTime must be an ISO 8601 string such as 2026-11-25T10:00:00Z, got ${JSON.stringify(value)}`,
  );
}

function bigIntOut(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string' && DECIMAL.test(value)) return value;
  throw new GraphQLError(`BigInt cannot represent ${JSON.stringify(value)}`);
}

function bigIntIn(value: unknown): bigint {
  if (typeof value === 'string' && DECIMAL.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  throw new GraphQLError(
    `BigInt must be a decimal string such as "18446744073709551615", got ${JSON.stringify(value)}`,
  );
}

interface ScalarBehaviour {
  coerceOutputValue: (v: unknown) => unknown;
  coerceInputValue: (v: unknown) => unknown;
  coerceInputLiteral: (ast: ConstValueNode) => unknown;
}

export const SCALARS: Readonly<Record<string, ScalarBehaviour>> = {
  JSON: {
    coerceOutputValue: toJson,
    coerceInputValue: (v) => v,
    coerceInputLiteral: (ast) => valueFromASTUntyped(ast),
  },
  DateTime: {
    coerceOutputValue: dateTimeOut,
    coerceInputValue: dateTimeIn,
    coerceInputLiteral: (ast) =>
      ast.kind === Kind.STRING ? dateTimeIn(ast.value) : dateTimeIn(valueFromASTUntyped(ast)),
  },
  BigInt: {
    coerceOutputValue: bigIntOut,
    coerceInputValue: bigIntIn,
    coerceInputLiteral: (ast) => bigIntIn(ast.kind === Kind.STRING || ast.kind === Kind.INT ? ast.value : undefined),
  },
};

/** Gives a scalar built from the SDL its behaviour; throws for a scalar this file does not know. */
export function implementScalar(type: GraphQLScalarType): void {
  const behaviour = SCALARS[type.name];
  if (!behaviour)
    throw new Error(`the SDL declares scalar ${type.name}, which apps/api/src/graphql/scalars.ts does not implement`);
  Object.assign(type, behaviour);
}
