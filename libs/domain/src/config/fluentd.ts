// Syntax check of Fluentd's configuration format (`*.conf`, the v1 syntax):
//   - directives `<name argument>` … `</name>` nest and must close in order; names are
//     [A-Za-z0-9_]+; nothing but a comment may follow `>` on the line;
//   - top level: <source>, <match>, <filter>, <system>, <label @NAME>, <worker N[-M]> and
//     `@include path`; <label> holds <filter>/<match>; <worker> holds source/match/filter/label;
//   - parameters are `key value` (or a bare `key`) inside a directive; a value that starts with
//     `"` or `'` is a quoted string and may span lines; one that starts with `[` or `{` is JSON and
//     may span lines (Fluentd parses it as JSON, so `[a, b]` is an error there);
//   - <source>, <match> and <filter> need `@type`.
import { MAX_PROBLEMS_PER_FILE, type LineProblem } from './fluentbit-classic.js';

const TOP_LEVEL = new Set(['source', 'match', 'filter', 'system', 'label', 'worker']);
const NEEDS_TYPE = new Set(['source', 'match', 'filter']);
const INSIDE: Record<string, ReadonlySet<string>> = {
  label: new Set(['filter', 'match']),
  worker: new Set(['source', 'match', 'filter', 'label']),
};
const VALID_ESCAPES = new Set(['r', 'n', 't', 'f', 'b']);

interface OpenDirective {
  name: string;
  line: number;
  hasType: boolean;
}

export function checkFluentdConfig(text: string): LineProblem[] {
  const problems: LineProblem[] = [];
  const report = (line: number, message: string): void => {
    if (problems.length < MAX_PROBLEMS_PER_FILE) problems.push({ line, message });
  };
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const lineOf = (pos: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const lineEnd = (pos: number): number => {
    const nl = text.indexOf('\n', pos);
    return nl < 0 ? text.length : nl;
  };

  /** Scans a quoted string starting at its opening quote; returns the position after the closing one. */
  const scanQuoted = (start: number): number | undefined => {
    const quote = text[start]!;
    let i = start + 1;
    while (i < text.length) {
      const c = text[i]!;
      if (c === quote) return i + 1;
      if (c === '\\') {
        const next = text[i + 1] ?? '';
        if (quote === '"' && /[A-Za-z0-9]/.test(next) && !VALID_ESCAPES.has(next)) {
          report(lineOf(i), `unexpected backslash escape "\\${next}" in a double-quoted string (write "\\\\${next}")`);
        }
        i += 2;
        continue;
      }
      if (quote === '"' && c === '#' && text[i + 1] === '{') {
        // Embedded Ruby: skip to the matching brace; quotes inside belong to the Ruby code.
        let depth = 0;
        for (i += 1; i < text.length; i++) {
          if (text[i] === '{') depth++;
          else if (text[i] === '}' && --depth === 0) break;
        }
        i++;
        continue;
      }
      i++;
    }
    report(lineOf(start), `${quote === '"' ? 'double' : 'single'}-quoted value is never closed`);
    return undefined;
  };

  /** Scans a JSON array/object value (comments allowed between lines); position after it. */
  const scanJson = (start: number): number | undefined => {
    let depth = 0;
    let inString = false;
    let json = '';
    for (let i = start; i < text.length; i++) {
      const c = text[i]!;
      if (inString) {
        json += c;
        if (c === '\\') {
          json += text[i + 1] ?? '';
          i++;
        } else if (c === '"') inString = false;
        continue;
      }
      if (c === '#') {
        i = lineEnd(i) - 1;
        continue;
      }
      json += c;
      if (c === '"') inString = true;
      else if (c === '[' || c === '{') depth++;
      else if (c === ']' || c === '}') {
        if (--depth === 0) {
          try {
            JSON.parse(json);
          } catch {
            report(
              lineOf(start),
              `value starting with "${text[start]}" is not valid JSON (Fluentd reads such values as JSON; quote it to use it as a string)`,
            );
          }
          return i + 1;
        }
      }
    }
    report(lineOf(start), `JSON ${text[start] === '[' ? 'array' : 'object'} value is never closed`);
    return undefined;
  };

  const stack: OpenDirective[] = [];
  let pos = 0;
  while (pos < text.length) {
    const end = lineEnd(pos);
    const n = lineOf(pos);
    const raw = text.slice(pos, end);
    const line = raw.trim();
    let next = end + 1;
    if (line === '' || line[0] === '#') {
      pos = next;
      continue;
    }
    const top = stack[stack.length - 1];

    if (line.startsWith('</')) {
      const m = /^<\/([A-Za-z0-9_]+)\s*>\s*(?:#.*)?$/.exec(line);
      if (!m) {
        report(n, `malformed end tag "${line.slice(0, 40)}": expected </name> alone on the line`);
      } else if (!top) {
        report(n, `</${m[1]}> closes nothing`);
      } else if (top.name !== m[1]) {
        const opened = stack.map((d) => d.name).lastIndexOf(m[1]!);
        report(n, `</${m[1]}> does not match <${top.name}> opened at line ${top.line}`);
        if (opened >= 0) while (stack.length > opened) closeDirective(stack.pop()!);
      } else {
        closeDirective(stack.pop()!);
      }
    } else if (line.startsWith('<')) {
      const m = /^<([A-Za-z0-9_]+)(?:\s+([^>]*?))?\s*>\s*(?:#.*)?$/.exec(line);
      if (!m) {
        if (!/^<[A-Za-z0-9_]+/.test(line)) report(n, `expected a directive name after "<"`);
        else if (!line.includes('>')) report(n, `missing ">" at the end of "${line.slice(0, 40)}"`);
        else report(n, `unexpected text after ">" in "${line.slice(0, 40)}"`);
      } else {
        const [, name, arg = ''] = m as unknown as [string, string, string | undefined];
        if (!top && !TOP_LEVEL.has(name)) {
          report(n, `unknown top-level directive <${name}> (expected one of ${[...TOP_LEVEL].join(', ')})`);
        } else if (top && INSIDE[top.name] && !INSIDE[top.name]!.has(name)) {
          report(n, `<${name}> is not allowed inside <${top.name}>`);
        }
        if (name === 'label' && arg.trim() === '') report(n, '<label> needs a name, e.g. <label @app>');
        if (name === 'worker' && !/^\d+(-\d+)?$/.test(arg.trim())) {
          report(n, '<worker> needs a worker id or range, e.g. <worker 0> or <worker 0-3>');
        }
        stack.push({ name, line: n, hasType: false });
      }
    } else if (/^@?include(\s|$)/.test(line) && (line.startsWith('@') || !top)) {
      if (line.replace(/^@?include/, '').trim() === '') report(n, '@include needs a path');
    } else {
      const m = /^(\S+)(?:\s+(.*))?$/.exec(line)!;
      const key = m[1]!;
      if (!top) {
        report(n, `parameter "${key.slice(0, 40)}" is outside any directive`);
      } else if (key === '@type' || key === 'type') {
        top.hasType = true;
      }
      const valueStart = m[2] === undefined ? -1 : pos + raw.indexOf(m[2], raw.indexOf(key) + key.length);
      const first = valueStart < 0 ? '' : text[valueStart]!;
      let after: number | undefined;
      if (first === '"' || first === "'") after = scanQuoted(valueStart);
      else if (first === '[' || first === '{') after = scanJson(valueStart);
      if (after === undefined && (first === '"' || first === "'" || first === '[' || first === '{')) {
        break; // an unclosed value swallows the rest of the file
      }
      if (after !== undefined) {
        const rest = text.slice(after, lineEnd(after)).trim();
        if (rest !== '' && !rest.startsWith('#')) {
          report(lineOf(after), `unexpected text "${rest.slice(0, 40)}" after the value of "${key}"`);
        }
        next = lineEnd(after) + 1;
      }
    }
    pos = next;
  }
  for (const d of stack.reverse()) report(d.line, `<${d.name}> is never closed (missing </${d.name}>)`);
  return problems.sort((a, b) => a.line - b.line);

  function closeDirective(d: OpenDirective): void {
    if (NEEDS_TYPE.has(d.name) && !d.hasType) report(d.line, `<${d.name}> has no @type`);
  }
}
