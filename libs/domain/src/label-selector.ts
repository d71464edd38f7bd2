// Kubernetes-style label selectors over an agent's labels.
//
// An agent's labels are its identifying attributes, overlaid by its non-identifying attributes,
// overlaid by the labels set through the API (see `agentLabels`). A selector is a comma-separated
// list of requirements that must all hold:
//
//   key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key
//
// Semantics follow Kubernetes (k8s.io/apimachinery/pkg/labels): `!=` and `notin` also match agents
// that lack the key; `=`/`in` require it. The parser is the single source of truth for what a
// selector means; the API translates the parsed form to SQL so the database does the filtering,
// and `matchesLabelSelector` is the in-memory equivalent (rollout waves, tests).
//
// Pure: no I/O, no imports.

export type SelectorOperator = 'equals' | 'notEquals' | 'in' | 'notIn' | 'exists' | 'doesNotExist';

export interface SelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  /** One value for equals/notEquals, at least one for in/notIn, none for exists/doesNotExist. */
  readonly values: readonly string[];
}

/** Requirements ANDed together. The empty selector matches everything. */
export type LabelSelector = readonly SelectorRequirement[];

/** Label map of one agent: key → value as text. */
export type Labels = Readonly<Record<string, string>>;

export const LABEL_SELECTOR_LIMITS = Object.freeze({
  /** Longest selector string accepted. */
  maxLength: 4096,
  /** Most requirements in one selector. */
  maxRequirements: 32,
  /** Most values in one in/notin list. */
  maxValues: 100,
  /** Longest key: a 253-character DNS prefix, '/', a 63-character name (Kubernetes); attribute keys fit too. */
  maxKeyLength: 317,
  /** Longest value. Longer than Kubernetes' 63 so host names and instance ids can be selected. */
  maxValueLength: 253,
});

export class LabelSelectorError extends Error {
  constructor(
    message: string,
    /** 0-based offset in the selector string where the problem was found. */
    readonly position: number,
  ) {
    super(message);
    this.name = 'LabelSelectorError';
  }
}

// Keys: alphanumeric at both ends, '.', '_', '-' and '/' inside (covers Kubernetes label keys with a
// DNS prefix and OpenTelemetry attribute names such as service.instance.id).
const KEY_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
// Values: empty, or alphanumeric at both ends with '.', '_', '-', ':', '/', '@', '+' inside
// (versions like 1.2.3+build, host names, URLs-ish ids). No quotes, brackets or braces, so a
// value can never be JSON text of an array or object.
const VALUE_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._:/@+-]*[A-Za-z0-9])?)?$/;

type TokenKind = 'ident' | 'in' | 'notin' | '!' | '=' | '==' | '!=' | ',' | '(' | ')' | 'end';

interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
}

const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const SPECIAL = new Set(['!', '=', ',', '(', ')']);

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === '=' && input[i + 1] === '=') {
      tokens.push({ kind: '==', text: '==', pos: i });
      i += 2;
    } else if (c === '!' && input[i + 1] === '=') {
      tokens.push({ kind: '!=', text: '!=', pos: i });
      i += 2;
    } else if (SPECIAL.has(c)) {
      tokens.push({ kind: c as TokenKind, text: c, pos: i });
      i++;
    } else {
      const start = i;
      while (i < input.length && !isSpace(input[i]!) && !SPECIAL.has(input[i]!)) i++;
      const text = input.slice(start, i);
      const kind: TokenKind = text === 'in' ? 'in' : text === 'notin' ? 'notin' : 'ident';
      tokens.push({ kind, text, pos: start });
    }
  }
  tokens.push({ kind: 'end', text: '', pos: input.length });
  return tokens;
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'end of selector' : JSON.stringify(t.text);
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  private next(): Token {
    return this.tokens[this.i++]!;
  }

  parse(): SelectorRequirement[] {
    const out: SelectorRequirement[] = [];
    if (this.peek().kind === 'end') return out;
    for (;;) {
      out.push(this.requirement());
      if (out.length > LABEL_SELECTOR_LIMITS.maxRequirements) {
        throw new LabelSelectorError(
          `too many requirements (at most ${LABEL_SELECTOR_LIMITS.maxRequirements})`,
          this.peek().pos,
        );
      }
      const t = this.next();
      if (t.kind === 'end') return out;
      if (t.kind !== ',') throw new LabelSelectorError(`expected "," or end of selector, found ${describe(t)}`, t.pos);
    }
  }

  private requirement(): SelectorRequirement {
    const first = this.next();
    if (first.kind === '!') {
      const key = this.key(this.next());
      const after = this.peek();
      if (after.kind !== ',' && after.kind !== 'end') {
        throw new LabelSelectorError(`"!${key}" takes no operator or value, found ${describe(after)}`, after.pos);
      }
      return { key, operator: 'doesNotExist', values: [] };
    }
    const key = this.key(first);
    const op = this.peek();
    switch (op.kind) {
      case ',':
      case 'end':
        return { key, operator: 'exists', values: [] };
      case '=':
      case '==':
      case '!=': {
        this.next();
        // `key=` (empty value) is valid, as in Kubernetes.
        const v = this.peek();
        const value = v.kind === ',' || v.kind === 'end' ? '' : this.value(this.next());
        return { key, operator: op.kind === '!=' ? 'notEquals' : 'equals', values: [value] };
      }
      case 'in':
      case 'notin': {
        this.next();
        return { key, operator: op.kind === 'in' ? 'in' : 'notIn', values: this.valueList(op.text) };
      }
      default:
        throw new LabelSelectorError(
          `expected an operator (=, ==, !=, in, notin), "," or end of selector after key "${key}", found ${describe(op)}`,
          op.pos,
        );
    }
  }

  private key(t: Token): string {
    if (t.kind !== 'ident') {
      // A key literally named `in` or `notin` is ambiguous; Kubernetes rejects it too.
      throw new LabelSelectorError(`expected a label key, found ${describe(t)}`, t.pos);
    }
    if (t.text.length > LABEL_SELECTOR_LIMITS.maxKeyLength) {
      throw new LabelSelectorError(`label key longer than ${LABEL_SELECTOR_LIMITS.maxKeyLength} characters`, t.pos);
    }
    if (!KEY_RE.test(t.text)) {
      throw new LabelSelectorError(
        `invalid label key ${JSON.stringify(t.text)}: use letters, digits, ".", "_", "-" and "/", starting and ending with a letter or digit`,
        t.pos,
      );
    }
    return t.text;
  }

  private value(t: Token): string {
    if (t.kind !== 'ident' && t.kind !== 'in' && t.kind !== 'notin') {
      throw new LabelSelectorError(`expected a value, found ${describe(t)}`, t.pos);
    }
    if (t.text.length > LABEL_SELECTOR_LIMITS.maxValueLength) {
      throw new LabelSelectorError(`value longer than ${LABEL_SELECTOR_LIMITS.maxValueLength} characters`, t.pos);
    }
    if (!VALUE_RE.test(t.text)) {
      throw new LabelSelectorError(
        `invalid value ${JSON.stringify(t.text)}: use letters, digits, ".", "_", "-", ":", "/", "@" and "+", starting and ending with a letter or digit`,
        t.pos,
      );
    }
    return t.text;
  }

  private valueList(op: string): string[] {
    const open = this.next();
    if (open.kind !== '(')
      throw new LabelSelectorError(`expected "(" after "${op}", found ${describe(open)}`, open.pos);
    const values: string[] = [];
    // Like Kubernetes, an empty slot between commas is the empty value: `in (a,,b)`, `in (a,)`.
    let expectValue = true;
    for (;;) {
      const t = this.peek();
      if (t.kind === ')') {
        this.next();
        if (expectValue && values.length > 0) values.push('');
        break;
      }
      if (t.kind === ',') {
        this.next();
        if (expectValue) values.push('');
        expectValue = true;
        continue;
      }
      if (t.kind === 'end') throw new LabelSelectorError(`missing ")" to close the "${op}" list`, t.pos);
      if (!expectValue)
        throw new LabelSelectorError(`expected "," or ")" in the "${op}" list, found ${describe(t)}`, t.pos);
      values.push(this.value(this.next()));
      expectValue = false;
      if (values.length > LABEL_SELECTOR_LIMITS.maxValues) {
        throw new LabelSelectorError(
          `too many values in the "${op}" list (at most ${LABEL_SELECTOR_LIMITS.maxValues})`,
          t.pos,
        );
      }
    }
    if (values.length === 0) throw new LabelSelectorError(`"${op}" needs at least one value`, open.pos);
    return [...new Set(values)];
  }
}

/**
 * Parses a Kubernetes-style selector. Throws {@link LabelSelectorError} with a human-readable message
 * and the position of the problem. Whitespace around tokens is ignored; `""` and whitespace-only
 * selectors parse to the empty selector (match everything).
 */
export function parseLabelSelector(input: string): LabelSelector {
  if (input.length > LABEL_SELECTOR_LIMITS.maxLength) {
    throw new LabelSelectorError(
      `selector longer than ${LABEL_SELECTOR_LIMITS.maxLength} characters`,
      LABEL_SELECTOR_LIMITS.maxLength,
    );
  }
  return Object.freeze(
    new Parser(tokenize(input)).parse().map((r) => Object.freeze({ ...r, values: Object.freeze([...r.values]) })),
  );
}

/** True when `labels` satisfy every requirement. */
export function matchesLabelSelector(selector: LabelSelector, labels: Labels): boolean {
  return selector.every((r) => matchesRequirement(r, labels));
}

export function matchesRequirement(r: SelectorRequirement, labels: Labels): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case 'exists':
      return has;
    case 'doesNotExist':
      return !has;
    case 'equals':
      return has && value === r.values[0];
    case 'notEquals':
      return !has || value !== r.values[0];
    case 'in':
      return has && r.values.includes(value!);
    case 'notIn':
      return !has || !r.values.includes(value!);
  }
}

/** Canonical text of a selector (round-trips through parseLabelSelector). */
export function formatLabelSelector(selector: LabelSelector): string {
  return selector
    .map((r) => {
      switch (r.operator) {
        case 'exists':
          return r.key;
        case 'doesNotExist':
          return `!${r.key}`;
        case 'equals':
          return `${r.key}=${r.values[0]}`;
        case 'notEquals':
          return `${r.key}!=${r.values[0]}`;
        case 'in':
          return `${r.key} in (${r.values.join(',')})`;
        case 'notIn':
          return `${r.key} notin (${r.values.join(',')})`;
      }
    })
    .join(',');
}

/** JSON-ish attribute map as stored for an agent description (values may be any JSON). */
export type AttributeMap = Readonly<Record<string, unknown>>;

export interface AgentLabelSources {
  identifying?: AttributeMap | null;
  nonIdentifying?: AttributeMap | null;
  /** Labels set through the API; they win over attributes of the same name. */
  labels?: AttributeMap | null;
}

/**
 * The label map a selector is evaluated against: identifying attributes, overlaid by non-identifying
 * attributes, overlaid by API labels. A null value counts as absent (it does not hide a lower
 * layer). Non-string values are rendered as text the way Postgres' `->>` does for scalars
 * (numbers, booleans); arrays and objects become JSON text and so can never equal a selector value
 * (values cannot contain brackets or quotes) but do satisfy `exists`.
 */
export function agentLabels(sources: AgentLabelSources): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const layer of [sources.identifying, sources.nonIdentifying, sources.labels]) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer)) {
      if (v === null || v === undefined) continue;
      out[k] = typeof v === 'string' ? v : typeof v === 'bigint' ? v.toString() : JSON.stringify(v);
    }
  }
  return out;
}
