// Syntax check of Fluent Bit's classic configuration format (`*.conf`), following the rules of
// Fluent Bit's own reader so that what passes here also passes there:
//   - `[SECTION]` headers start at column 0; `# comment` lines anywhere;
//   - `@INCLUDE file` and `@SET KEY=VALUE` start at column 0;
//   - entries are `key value` (separated by a space; a tab does not separate), indented under a
//     section; the first indented line fixes the indentation of the whole file, and every later
//     entry must use exactly that indentation (twice it inside a `[GROUP]`); a whitespace-only
//     line shorter than that indentation is an error too;
//   - plugin sections ([INPUT], [FILTER], [OUTPUT], [CUSTOM], [PARSER], [MULTILINE_PARSER]) need
//     a `Name` entry.
// Values are not interpreted (plugins validate their own properties).

export interface LineProblem {
  line: number;
  message: string;
}

/** Most problems reported for one file: later ones are usually consequences of the first. */
export const MAX_PROBLEMS_PER_FILE = 20;

const NAMED_SECTIONS = new Set(['input', 'filter', 'output', 'custom', 'parser', 'multiline_parser']);

function leadingBlanks(s: string): string {
  const m = /^[ \t]*/.exec(s);
  return m ? m[0] : '';
}

function describeIndent(indent: string): string {
  const spaces = [...indent].filter((c) => c === ' ').length;
  const tabs = indent.length - spaces;
  const parts: string[] = [];
  if (spaces > 0) parts.push(`${spaces} space${spaces === 1 ? '' : 's'}`);
  if (tabs > 0) parts.push(`${tabs} tab${tabs === 1 ? '' : 's'}`);
  return parts.join(' and ');
}

export function checkFluentBitClassic(text: string): LineProblem[] {
  const problems: LineProblem[] = [];
  const report = (line: number, message: string): void => {
    if (problems.length < MAX_PROBLEMS_PER_FILE) problems.push({ line, message });
  };
  let indent: { text: string; line: number } | undefined;
  let section: { name: string; line: number; keys: Set<string> } | undefined;

  const closeSection = (): void => {
    if (section && NAMED_SECTIONS.has(section.name.toLowerCase()) && !section.keys.has('name')) {
      report(section.line, `[${section.name}] has no Name entry (the plugin or parser it defines)`);
    }
  };

  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (line === '' || line[0] === '#') continue;

    if (line[0] === '@') {
      const include = /^@include(?:[ \t]+(.*))?$/i.exec(line);
      if (include) {
        if ((include[1] ?? '').trim() === '') report(n, '@INCLUDE needs a file name');
        continue;
      }
      if (/^@set\b/i.test(line)) {
        if (!/^@set[ \t]+[^=\s]+[ \t]*=/i.test(line)) report(n, '@SET needs KEY=VALUE');
        continue;
      }
      const word = /^@\S*/.exec(line)![0];
      report(n, `unknown command "${word}": use @INCLUDE file or @SET KEY=VALUE`);
      continue;
    }

    if (line[0] === '[') {
      const close = line.indexOf(']');
      if (close < 0) {
        report(n, 'section header is missing its closing "]"');
        continue;
      }
      const name = line.slice(1, close).trim();
      if (name === '') {
        report(n, 'section header has no name');
        continue;
      }
      closeSection();
      section = { name, line: n, keys: new Set() };
      continue;
    }

    const lead = leadingBlanks(line);
    const blankLine = lead.length === line.length;
    if (lead === '') {
      report(
        n,
        section
          ? `"${line.slice(0, 40)}" is not indented: entries of [${section.name}] must be indented`
          : `"${line.slice(0, 40)}" is outside any section: start a [SECTION] and indent its entries`,
      );
      continue;
    }
    if (!indent) {
      if (blankLine) continue;
      indent = { text: lead, line: n };
    }
    let content: string;
    if (line.startsWith(indent.text)) {
      const rest = line.slice(indent.text.length);
      const extra = leadingBlanks(rest);
      if (extra === '' || extra.length === rest.length) {
        content = rest;
      } else if (extra === indent.text) {
        content = rest.slice(extra.length); // content of a [GROUP]
      } else {
        report(
          n,
          `extra indentation: use ${describeIndent(indent.text)} like line ${indent.line} (or twice that inside a group)`,
        );
        continue;
      }
    } else {
      // Same comparison as Fluent Bit: walk both while equal; a differing blank is a tab/space mix.
      let j = 0;
      while (j < lead.length && j < indent.text.length && lead[j] === indent.text[j]) j++;
      report(
        n,
        blankLine
          ? `whitespace-only line with less indentation than line ${indent.line} (Fluent Bit rejects it): make it empty`
          : j < lead.length
            ? `inconsistent use of tabs and spaces: line ${indent.line} indents with ${describeIndent(indent.text)}`
            : `indentation is too low: line ${indent.line} indents entries with ${describeIndent(indent.text)}`,
      );
      continue;
    }
    if (content === '' || content.trim() === '' || content[0] === '#') continue;
    if (!section) {
      report(n, 'entry before any [SECTION] header');
      continue;
    }
    if (content[0] === '[') {
      if (content.indexOf(']') < 0) report(n, 'group header is missing its closing "]"');
      continue;
    }
    const space = content.indexOf(' ');
    if (space < 0) {
      report(
        n,
        content.includes('\t')
          ? `"${content.slice(0, 40)}": key and value must be separated by a space (a tab does not separate them in the classic format)`
          : `"${content.slice(0, 40)}" has no value: entries are "key value"`,
      );
      continue;
    }
    const key = content.slice(0, space);
    if (content.slice(space + 1).trim() === '') {
      report(n, `"${key}" has an empty value`);
      continue;
    }
    section.keys.add(key.toLowerCase());
  }
  closeSection();
  return problems.sort((a, b) => a.line - b.line);
}
