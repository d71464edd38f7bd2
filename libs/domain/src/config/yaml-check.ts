// YAML parsing with line numbers, and small structural checks shared by the per-type validators.
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { MAX_PROBLEMS_PER_FILE } from './fluentbit-classic.js';

export interface YamlProblem {
  line?: number;
  column?: number;
  message: string;
}

export interface ParsedYaml {
  doc: Document.Parsed;
  /** 1-based line of a node (undefined when the node has no source range). */
  lineOf(node: Node | null | undefined): number | undefined;
}

/**
 * Parses one YAML document. Problems: syntax errors (with line and column), several documents
 * in one file, duplicate keys, and aliases that do not resolve or expand too much.
 */
export function parseYaml(text: string): { parsed?: ParsedYaml; problems: YamlProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: YamlProblem[] = doc.errors.slice(0, MAX_PROBLEMS_PER_FILE).map((e) => {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    const message = e.code === 'MULTIPLE_DOCS' ? 'a config file must hold a single YAML document' : e.message;
    return { line, column: col, message };
  });
  if (problems.length > 0) return { problems };
  try {
    // Resolves aliases (and bounds their expansion, so a "billion laughs" file is refused).
    doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { problems: [{ message: (err as Error).message }] };
  }
  const lineOf = (node: Node | null | undefined): number | undefined =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
  return { parsed: { doc, lineOf }, problems: [] };
}

export type YamlShape = 'mapping' | 'sequence' | 'scalar' | 'empty';

export function yamlShape(node: unknown): YamlShape {
  if (node === null || node === undefined) return 'empty';
  if (isMap(node)) return 'mapping';
  if (isSeq(node)) return 'sequence';
  if (isScalar(node) && (node.value === null || node.value === undefined)) return 'empty';
  return 'scalar';
}

export function describeShape(shape: YamlShape): string {
  return shape === 'empty'
    ? 'nothing'
    : shape === 'mapping'
      ? 'a mapping'
      : shape === 'sequence'
        ? 'a list'
        : 'a scalar';
}
