// Bounds on what one GraphQL operation may ask for, checked with the other validation rules before
// anything runs: nesting depth, selected fields (fragments expanded), root fields (each can read
// up to a page of 500 rows, so aliases must not multiply them without limit).
import {
  GraphQLError,
  Kind,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { ErrorCode } from './errors.js';

export interface OperationLimits {
  maxDepth: number;
  maxFields: number;
  maxRootFields: number;
}

/** Room for the standard introspection query (depth 13) and a full page of everything. */
export const DEFAULT_OPERATION_LIMITS: OperationLimits = { maxDepth: 15, maxFields: 2000, maxRootFields: 20 };

/** Largest number of tokens a document may have (graphql-js stops parsing beyond it). */
export const MAX_TOKENS = 10_000;

interface Measure {
  depth: number;
  fields: number;
}

function measure(
  set: SelectionSetNode,
  fragment: (name: string) => FragmentDefinitionNode | null | undefined,
  visiting: Set<string>,
  budget: number,
): Measure {
  let depth = 0;
  let fields = 0;
  for (const s of set.selections) {
    if (fields > budget) break;
    if (s.kind === Kind.FIELD) {
      fields += 1;
      if (s.selectionSet) {
        const inner = measure(s.selectionSet, fragment, visiting, budget - fields);
        depth = Math.max(depth, inner.depth + 1);
        fields += inner.fields;
      } else {
        depth = Math.max(depth, 1);
      }
    } else {
      const inner =
        s.kind === Kind.INLINE_FRAGMENT
          ? measure(s.selectionSet, fragment, visiting, budget - fields)
          : spread(s.name.value, fragment, visiting, budget - fields);
      depth = Math.max(depth, inner.depth);
      fields += inner.fields;
    }
  }
  return { depth, fields };
}

function spread(
  name: string,
  fragment: (name: string) => FragmentDefinitionNode | null | undefined,
  visiting: Set<string>,
  budget: number,
): Measure {
  const def = fragment(name);
  // Unknown or cyclic fragments are reported by the standard rules.
  if (!def || visiting.has(name)) return { depth: 0, fields: 0 };
  visiting.add(name);
  try {
    return measure(def.selectionSet, fragment, visiting, budget);
  } finally {
    visiting.delete(name);
  }
}

export function operationLimitsRule(limits: OperationLimits = DEFAULT_OPERATION_LIMITS): ValidationRule {
  return (context: ValidationContext) => ({
    OperationDefinition(node) {
      const roots = node.selectionSet.selections.length;
      const m = measure(node.selectionSet, (n) => context.getFragment(n), new Set(), limits.maxFields);
      const problems: string[] = [];
      if (m.depth > limits.maxDepth) problems.push(`nests ${m.depth} levels deep (at most ${limits.maxDepth})`);
      if (m.fields > limits.maxFields) problems.push(`selects more than ${limits.maxFields} fields`);
      if (roots > limits.maxRootFields) problems.push(`has ${roots} root fields (at most ${limits.maxRootFields})`);
      if (problems.length > 0) {
        context.reportError(
          new GraphQLError(`The operation is too large: it ${problems.join(', ')}. Split it into smaller ones.`, {
            nodes: [node],
            extensions: { code: ErrorCode.validationFailed },
          }),
        );
      }
    },
  });
}
