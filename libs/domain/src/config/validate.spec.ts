import { describe, expect, it } from 'vitest';
import { decodeConfigFiles } from './files.js';
import {
  FLUENTD_CONF,
  FLUENT_BIT_CLASSIC,
  FLUENT_BIT_PARSERS,
  FLUENT_BIT_YAML,
  OTELCOL_YAML,
} from './testing/samples.js';
import { formatConfigProblem, type AgentType, type ConfigFile } from './types.js';
import { CONFIG_LIMITS, ConfigValidatorRegistry, validateConfigVersion, type ConfigValidator } from './validate.js';

const enc = new TextEncoder();
const file = (name: string, body: string | Uint8Array, contentType = 'text/plain'): ConfigFile => ({
  name,
  contentType,
  body: typeof body === 'string' ? enc.encode(body) : body,
});
const problems = (agentType: AgentType, ...files: ConfigFile[]): string[] =>
  validateConfigVersion(agentType, files).map(formatConfigProblem);

describe('valid sample configs pass', () => {
  it.each<[AgentType, ConfigFile[]]>([
    ['fluentbit', [file('fluent-bit.conf', FLUENT_BIT_CLASSIC), file('parsers.conf', FLUENT_BIT_PARSERS)]],
    ['fluentbit', [file('fluent-bit.yaml', FLUENT_BIT_YAML, 'application/yaml')]],
    // Lua scripts and other data files ship next to the config and are checked for limits only.
    ['fluentbit', [file('fluent-bit.conf', FLUENT_BIT_CLASSIC), file('filters.lua', 'function cb(tag, ts, r) end')]],
    ['fluentd', [file('fluent.conf', FLUENTD_CONF)]],
    ['otelcol', [file('collector.yaml', OTELCOL_YAML, 'application/yaml')]],
    ['otelcol', [file('collector.json', JSON.stringify({ receivers: { otlp: {} } }), 'application/json')]],
    ['generic', [file('anything.bin', new Uint8Array([0, 255, 1]), 'application/octet-stream')]],
  ])('%s', (agentType, files) => {
    expect(problems(agentType, ...files)).toEqual([]);
  });

  it('classic files with CRLF line ends and a [GROUP] parse', () => {
    const text = '[INPUT]\r\n    Name cpu\r\n\r\n[CUSTOM]\r\n    Name calyptia\r\n    [GROUP]\r\n        key value\r\n';
    expect(problems('fluentbit', file('a.conf', text))).toEqual([]);
  });
});

describe('Fluent Bit classic format', () => {
  it('reports each broken line with its number', () => {
    const text = [
      '[INPUT]', // 1
      '    Name cpu', // 2
      '  Tag cpu.local', // 3: less indentation than line 2
      '[OUTPUT]', // 4: no Name
      '    Match *', // 5
      '[FILTER', // 6
      '    Name\tgrep', // 7: tab separator
      '      Regex log x', // 8: 6 spaces
      'key value', // 9: not indented
      '    Retry_Limit ', // 10: empty value
      '@FOO bar', // 11
      '@SET novalue', // 12
      '  ', // 13: whitespace shorter than the indentation
    ].join('\n');
    expect(problems('fluentbit', file('fluent-bit.conf', text))).toEqual([
      'fluent-bit.conf:3: indentation is too low: line 2 indents entries with 4 spaces',
      'fluent-bit.conf:4: [OUTPUT] has no Name entry (the plugin or parser it defines)',
      'fluent-bit.conf:6: section header is missing its closing "]"',
      'fluent-bit.conf:7: "Name\tgrep": key and value must be separated by a space (a tab does not separate them in the classic format)',
      'fluent-bit.conf:8: extra indentation: use 4 spaces like line 2 (or twice that inside a group)',
      'fluent-bit.conf:9: "key value" is not indented: entries of [OUTPUT] must be indented',
      'fluent-bit.conf:10: "Retry_Limit" has an empty value',
      'fluent-bit.conf:11: unknown command "@FOO": use @INCLUDE file or @SET KEY=VALUE',
      'fluent-bit.conf:12: @SET needs KEY=VALUE',
      'fluent-bit.conf:13: whitespace-only line with less indentation than line 2 (Fluent Bit rejects it): make it empty',
    ]);
  });

  it('refuses entries outside sections and mixed tabs and spaces', () => {
    expect(problems('fluentbit', file('a.conf', '    Name cpu\n[INPUT]\n\tName cpu\n'))).toEqual([
      'a.conf:1: entry before any [SECTION] header',
      'a.conf:2: [INPUT] has no Name entry (the plugin or parser it defines)',
      'a.conf:3: inconsistent use of tabs and spaces: line 1 indents with 4 spaces',
    ]);
    expect(problems('fluentbit', file('a.conf', 'Flush 1\n'))).toEqual([
      'a.conf:1: "Flush 1" is outside any section: start a [SECTION] and indent its entries',
    ]);
    expect(problems('fluentbit', file('a.conf', '@INCLUDE\n[]\n'))).toEqual([
      'a.conf:1: @INCLUDE needs a file name',
      'a.conf:2: section header has no name',
    ]);
  });
});

describe('Fluent Bit YAML', () => {
  it('checks the pipeline shape', () => {
    const text = 'pipeline:\n  inputs:\n    - name: cpu\n    - tag: x\n  outputs: stdout\n';
    expect(problems('fluentbit', file('fluent-bit.yaml', text))).toEqual([
      'fluent-bit.yaml:4: pipeline.inputs[1] has no "name" (the plugin to use)',
      'fluent-bit.yaml:5: "pipeline.outputs" must be a list of plugins',
    ]);
  });

  it('reports YAML syntax errors with line and column', () => {
    expect(problems('fluentbit', file('fb.yml', 'service:\n  flush: 1\n\tlog_level: info\n'))).toEqual([
      'fb.yml:3:1: Tabs are not allowed as indentation',
    ]);
    expect(problems('fluentbit', file('fb.yaml', 'a: 1\na: 2\n'))).toEqual(['fb.yaml:2:1: Map keys must be unique']);
    expect(problems('fluentbit', file('fb.yaml', 'a: 1\n---\nb: 2\n'))).toEqual([
      'fb.yaml:2:1: a config file must hold a single YAML document',
    ]);
    expect(problems('fluentbit', file('fb.yaml', '- a\n- b\n'))).toEqual([
      'fb.yaml:1: expected a mapping at the top level, found a list',
    ]);
  });

  it('refuses alias bombs', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 12; i++) {
      const p = String.fromCharCode(97 + i);
      const n = String.fromCharCode(98 + i);
      lines.push(`${n}: &${n} [*${p},*${p},*${p},*${p},*${p},*${p},*${p},*${p},*${p}]`);
    }
    const [only] = validateConfigVersion('fluentbit', [file('bomb.yaml', lines.join('\n'))]);
    expect(only?.message).toMatch(/alias/i);
  });
});

describe('Fluentd directives', () => {
  it('reports unbalanced and misplaced directives', () => {
    const text = [
      '<source>', // 1: no @type
      '  port 24224',
      '</source>',
      '<match **>', // 4
      '  @type stdout',
      '  tags [a, b]', // 6: not JSON
      '  message "bad \\d escape"', // 7
      '</filter>', // 8: wrong end tag
      '</match>',
      '<sorce>', // 10
      '  @type forward',
      '</sorce>',
      'foo bar', // 13
      '<label>', // 14
      '  <source>', // 15
      '    @type dummy',
      '  </source>',
      '</label>',
      '<worker x>', // 19
      '</worker>',
      '<filter a> extra', // 21
    ].join('\n');
    expect(problems('fluentd', file('fluent.conf', text))).toEqual([
      'fluent.conf:1: <source> has no @type',
      'fluent.conf:6: value starting with "[" is not valid JSON (Fluentd reads such values as JSON; quote it to use it as a string)',
      'fluent.conf:7: unexpected backslash escape "\\d" in a double-quoted string (write "\\\\d")',
      'fluent.conf:8: </filter> does not match <match> opened at line 4',
      'fluent.conf:10: unknown top-level directive <sorce> (expected one of source, match, filter, system, label, worker)',
      'fluent.conf:13: parameter "foo" is outside any directive',
      'fluent.conf:14: <label> needs a name, e.g. <label @app>',
      'fluent.conf:15: <source> is not allowed inside <label>',
      'fluent.conf:19: <worker> needs a worker id or range, e.g. <worker 0> or <worker 0-3>',
      'fluent.conf:21: unexpected text after ">" in "<filter a> extra"',
    ]);
  });

  it('follows quoted and JSON values across lines', () => {
    const ok =
      '<source>\n  @type dummy\n  dummy [{"a": 1},\n         {"b": 2}] # two records\n  tag "multi\nline"\n</source>\n';
    expect(problems('fluentd', file('fluent.conf', ok))).toEqual([]);
    expect(problems('fluentd', file('fluent.conf', '<source>\n  @type tail\n  path "/var/log/x\n</source>\n'))).toEqual(
      [
        'fluent.conf:1: <source> is never closed (missing </source>)',
        'fluent.conf:3: double-quoted value is never closed',
      ],
    );
    expect(problems('fluentd', file('fluent.conf', '<match **>\n  @type null\n'))).toEqual([
      'fluent.conf:1: <match> is never closed (missing </match>)',
    ]);
  });
});

describe('otelcol', () => {
  it('checks component sections and pipelines', () => {
    const text = 'receivers: [otlp]\nservice:\n  pipelines:\n    traces:\n      receivers: otlp\n    logs: 3\n';
    expect(problems('otelcol', file('collector.yaml', text))).toEqual([
      'collector.yaml:1: "receivers" must be a mapping of component ids to settings',
      'collector.yaml:5: "receivers" of pipeline "traces" must be a list of component ids',
      'collector.yaml:6: pipeline "logs" must be a mapping with receivers and exporters',
    ]);
    expect(problems('otelcol', file('c.yaml', 'service:\n  telemetry: {}\n'))).toEqual([
      'c.yaml:1: "service" has no "pipelines" mapping',
    ]);
    expect(problems('otelcol', file('c.yaml', 'service:\n  pipelines: []\n'))).toEqual([
      'c.yaml:2: "service.pipelines" must be a mapping of pipelines, found a list',
    ]);
  });

  it('needs at least one YAML or JSON file', () => {
    expect(problems('otelcol', file('README.md', '# notes'))).toEqual([
      'a version for otelcol needs at least one configuration file (*.yaml, *.yml or *.json)',
    ]);
  });
});

describe('limits', () => {
  it('checks names, content types, duplicates and sizes', () => {
    expect(
      problems(
        'generic',
        file('a/b', 'x', 'text'),
        file('ok', 'x', 'text/plain; charset=utf-8'),
        file('ok', 'y'),
        file('', 'x'),
        file('..hidden', 'x'),
        file('big', 'x'.repeat(CONFIG_LIMITS.maxFileBytes + 1)),
      ),
    ).toEqual([
      'a/b: file name must not contain "/", "\\", "..", NUL or other control characters',
      'a/b: content type "text" is not a media type of the form type/subtype (e.g. text/yaml)',
      'ok: duplicate file name',
      'a file has an empty name (names are 1 to 255 characters)',
      '..hidden: file name must not contain "/", "\\", "..", NUL or other control characters',
      'big: file is 1,048,577 bytes (at most 1,048,576 bytes, 1 MiB)',
    ]);
  });

  it('bounds the file count and the total size, and needs a file', () => {
    expect(problems('generic')).toEqual(['a version needs at least one file']);
    const many = Array.from({ length: 33 }, (_, i) => file(`f${i}`, 'x'));
    expect(problems('generic', ...many)).toEqual(['too many files: 33 (at most 32)']);
    const big = Array.from({ length: 5 }, (_, i) => file(`f${i}`, 'x'.repeat(CONFIG_LIMITS.maxFileBytes)));
    expect(problems('generic', ...big)).toEqual(['the files total 5,242,880 bytes (at most 4,194,304 bytes, 4 MiB)']);
  });

  it('refuses binary content where a config file is expected', () => {
    expect(problems('fluentbit', file('fluent-bit.conf', new Uint8Array([0x5b, 0xff, 0x5d])))).toEqual([
      'fluent-bit.conf: a configuration file must be UTF-8 text',
    ]);
  });
});

describe('decodeConfigFiles', () => {
  it('decodes utf8 and base64 content and reports bad base64', () => {
    const { files, problems: p } = decodeConfigFiles([
      { name: 'a.conf', contentType: 'text/plain', content: 'héllo' },
      { name: 'b.bin', contentType: 'application/octet-stream', content: 'AP8B\n', encoding: 'base64' },
      { name: 'c.bin', contentType: 'application/octet-stream', content: 'not base64!', encoding: 'base64' },
    ]);
    expect(files.map((f) => [f.name, Buffer.from(f.body).toString('hex')])).toEqual([
      ['a.conf', '68c3a96c6c6f'],
      ['b.bin', '00ff01'],
    ]);
    expect(p).toEqual([
      { file: 'c.bin', message: 'content is not valid base64 (standard alphabet, padding included)' },
    ]);
  });
});

describe('ConfigValidatorRegistry', () => {
  const files = [file('collector.yaml', OTELCOL_YAML)];

  it('runs plugged-in validators after the built-in ones, only for their agent types', async () => {
    const seen: string[] = [];
    const dryRun: ConfigValidator = {
      name: 'otelcol-validate',
      appliesTo: (t) => t === 'otelcol',
      validate: async ({ files: f }) => {
        seen.push(f.map((x) => x.name).join(','));
        return [{ file: 'collector.yaml', line: 3, message: 'unknown receiver type "otlpx"' }];
      },
    };
    const registry = new ConfigValidatorRegistry().register(dryRun);
    expect(registry.names()).toEqual(['limits', 'syntax', 'otelcol-validate']);
    expect(await registry.validate({ agentType: 'otelcol', files })).toEqual([
      { file: 'collector.yaml', line: 3, message: 'unknown receiver type "otlpx"' },
    ]);
    expect(await registry.validate({ agentType: 'generic', files })).toEqual([]);
    expect(seen).toEqual(['collector.yaml']);
  });

  it('stops at the first validator with problems and refuses duplicate names', async () => {
    let called = false;
    const registry = new ConfigValidatorRegistry().register({
      name: 'never',
      appliesTo: () => true,
      validate: () => {
        called = true;
        return [];
      },
    });
    const result = await registry.validate({ agentType: 'otelcol', files: [file('c.yaml', 'service: 1\n')] });
    expect(result.map(formatConfigProblem)).toEqual(['c.yaml:1: "service" must be a mapping']);
    expect(called).toBe(false);
    expect(() => registry.register({ name: 'limits', appliesTo: () => true, validate: () => [] })).toThrow(/already/);
  });
});
