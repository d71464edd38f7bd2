// Validation of a config version before anything is stored or sent (docs/rollouts.md):
// limits for every agent type, then syntax per agent type, then any validators registered later
// (e.g. one running `fluent-bit --dry-run`). Pure except for what a plugged-in validator does.
import { isMap, isSeq, type Node, type YAMLMap } from 'yaml';
import { checkFluentBitClassic } from './fluentbit-classic.js';
import { checkFluentdConfig } from './fluentd.js';
import { compareFileNames, fileText, isConfFile, isJsonFile, isYamlFile } from './files.js';
import type { AgentType, ConfigFile, ConfigProblem } from './types.js';
import { describeShape, parseYaml, yamlShape, type ParsedYaml } from './yaml-check.js';

const MiB = 1024 * 1024;

export const CONFIG_LIMITS = Object.freeze({
  maxFiles: 32,
  maxFileNameLength: 255,
  maxFileBytes: 1 * MiB,
  maxTotalBytes: 4 * MiB,
  maxContentTypeLength: 255,
  maxDescriptionLength: 1024,
});

// RFC 6838 restricted names for type and subtype, optional `; name=value` parameters.
const TOKEN = '[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}';
const CONTENT_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:\\s*;\\s*[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|"[^"]*"))*$`,
);
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

const bytes = (n: number): string => `${n.toLocaleString('en-US')} bytes`;

/** File count, names, content types and sizes. */
export function checkConfigLimits(files: readonly ConfigFile[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (files.length === 0) problems.push({ message: 'a version needs at least one file' });
  if (files.length > CONFIG_LIMITS.maxFiles) {
    problems.push({ message: `too many files: ${files.length} (at most ${CONFIG_LIMITS.maxFiles})` });
  }
  const seen = new Set<string>();
  let total = 0;
  for (const f of files) {
    const length = [...f.name].length;
    const file = f.name.length > 80 ? `${f.name.slice(0, 80)}…` : f.name;
    if (length === 0) {
      problems.push({
        message: `a file has an empty name (names are 1 to ${CONFIG_LIMITS.maxFileNameLength} characters)`,
      });
    } else if (length > CONFIG_LIMITS.maxFileNameLength) {
      problems.push({ file, message: `file name is longer than ${CONFIG_LIMITS.maxFileNameLength} characters` });
    } else if (/[/\\]/.test(f.name) || f.name.includes('..') || CONTROL.test(f.name)) {
      problems.push({ file, message: 'file name must not contain "/", "\\", "..", NUL or other control characters' });
    } else if (f.name === '__proto__') {
      problems.push({ file, message: 'file name "__proto__" is reserved' });
    }
    if (seen.has(f.name)) problems.push({ file, message: 'duplicate file name' });
    seen.add(f.name);
    if (f.contentType.length > CONFIG_LIMITS.maxContentTypeLength || !CONTENT_TYPE.test(f.contentType)) {
      problems.push({
        file,
        message: `content type ${JSON.stringify(f.contentType.slice(0, 80))} is not a media type of the form type/subtype (e.g. text/yaml)`,
      });
    }
    if (f.body.byteLength > CONFIG_LIMITS.maxFileBytes) {
      problems.push({
        file,
        message: `file is ${bytes(f.body.byteLength)} (at most ${bytes(CONFIG_LIMITS.maxFileBytes)}, 1 MiB)`,
      });
    }
    total += f.body.byteLength;
  }
  if (total > CONFIG_LIMITS.maxTotalBytes) {
    problems.push({
      message: `the files total ${bytes(total)} (at most ${bytes(CONFIG_LIMITS.maxTotalBytes)}, 4 MiB)`,
    });
  }
  return problems;
}

/** Checks one file of a version; returns problems without the `file` field (the caller adds it). */
type FileCheck = (text: string) => Array<Omit<ConfigProblem, 'file'>>;

function textOf(file: ConfigFile, problems: ConfigProblem[]): string | undefined {
  const text = fileText(file.body);
  if (text === undefined) problems.push({ file: file.name, message: 'a configuration file must be UTF-8 text' });
  return text;
}

function runCheck(file: ConfigFile, check: FileCheck, problems: ConfigProblem[]): void {
  const text = textOf(file, problems);
  if (text === undefined) return;
  for (const p of check(text)) problems.push({ file: file.name, ...p });
}

/** A top-level YAML mapping; `then` inspects it further. */
function yamlMapping(then?: (map: YAMLMap, y: ParsedYaml) => Array<Omit<ConfigProblem, 'file'>>): FileCheck {
  return (text) => {
    const { parsed, problems } = parseYaml(text);
    if (!parsed) return problems;
    const root = parsed.doc.contents;
    if (!isMap(root)) {
      return [
        {
          line: parsed.lineOf(root as Node | null) ?? 1,
          message: `expected a mapping at the top level, found ${describeShape(yamlShape(root))}`,
        },
      ];
    }
    return then ? then(root, parsed) : [];
  };
}

function child(map: YAMLMap, key: string): { present: boolean; node: unknown; keyNode: unknown } {
  const pair = map.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
  return pair
    ? { present: true, node: pair.value, keyNode: pair.key }
    : { present: false, node: undefined, keyNode: undefined };
}

function lineOfPair(y: ParsedYaml, c: { node: unknown; keyNode: unknown }): number | undefined {
  return y.lineOf(c.node as Node | null) ?? y.lineOf(c.keyNode as Node | null);
}

// Fluent Bit YAML: `service`, `pipeline`, `parsers`, … at the top; pipeline.inputs/filters/outputs
// are lists of plugins, each with a `name`.
const fluentBitYaml = yamlMapping((root, y) => {
  const problems: Array<Omit<ConfigProblem, 'file'>> = [];
  const service = child(root, 'service');
  if (service.present && !['mapping', 'empty'].includes(yamlShape(service.node))) {
    problems.push({ line: lineOfPair(y, service), message: '"service" must be a mapping' });
  }
  const pipeline = child(root, 'pipeline');
  if (!pipeline.present) return problems;
  if (!isMap(pipeline.node)) {
    if (yamlShape(pipeline.node) !== 'empty')
      problems.push({ line: lineOfPair(y, pipeline), message: '"pipeline" must be a mapping' });
    return problems;
  }
  for (const kind of ['inputs', 'filters', 'outputs']) {
    const list = child(pipeline.node, kind);
    if (!list.present || yamlShape(list.node) === 'empty') continue;
    if (!isSeq(list.node)) {
      problems.push({ line: lineOfPair(y, list), message: `"pipeline.${kind}" must be a list of plugins` });
      continue;
    }
    list.node.items.forEach((item, i) => {
      const line = y.lineOf(item as Node | null);
      if (!isMap(item)) problems.push({ line, message: `pipeline.${kind}[${i}] must be a mapping with a "name"` });
      else if (!child(item, 'name').present)
        problems.push({ line, message: `pipeline.${kind}[${i}] has no "name" (the plugin to use)` });
    });
  }
  return problems;
});

const anyYaml: FileCheck = (text) => parseYaml(text).problems;

// OpenTelemetry Collector: component sections are mappings; service.pipelines is a mapping of
// pipelines whose receivers/processors/exporters are lists.
const otelcolYaml = yamlMapping((root, y) => {
  const problems: Array<Omit<ConfigProblem, 'file'>> = [];
  for (const section of ['receivers', 'processors', 'exporters', 'extensions', 'connectors']) {
    const c = child(root, section);
    if (c.present && !['mapping', 'empty'].includes(yamlShape(c.node))) {
      problems.push({ line: lineOfPair(y, c), message: `"${section}" must be a mapping of component ids to settings` });
    }
  }
  const service = child(root, 'service');
  if (!service.present) return problems;
  if (!isMap(service.node)) {
    problems.push({ line: lineOfPair(y, service), message: '"service" must be a mapping' });
    return problems;
  }
  const pipelines = child(service.node, 'pipelines');
  if (!isMap(pipelines.node)) {
    problems.push({
      line: pipelines.present ? lineOfPair(y, pipelines) : y.lineOf(service.keyNode as Node),
      message: pipelines.present
        ? `"service.pipelines" must be a mapping of pipelines, found ${describeShape(yamlShape(pipelines.node))}`
        : '"service" has no "pipelines" mapping',
    });
    return problems;
  }
  for (const pair of pipelines.node.items) {
    const id = String((pair.key as { value?: unknown } | null)?.value ?? '');
    const line = y.lineOf(pair.key as Node | null);
    if (!isMap(pair.value)) {
      problems.push({ line, message: `pipeline "${id}" must be a mapping with receivers and exporters` });
      continue;
    }
    for (const role of ['receivers', 'processors', 'exporters']) {
      const c = child(pair.value, role);
      if (c.present && !isSeq(c.node)) {
        problems.push({
          line: lineOfPair(y, c),
          message: `"${role}" of pipeline "${id}" must be a list of component ids`,
        });
      }
    }
  }
  return problems;
});

/** What one file of each agent type is checked as; undefined: limits only (scripts, data files). */
function checkFor(agentType: AgentType, file: ConfigFile): FileCheck | undefined {
  switch (agentType) {
    case 'fluentbit':
      if (isYamlFile(file)) return fluentBitYaml;
      if (isConfFile(file)) return checkFluentBitClassic;
      return undefined;
    case 'fluentd':
      if (isYamlFile(file)) return anyYaml;
      if (isConfFile(file)) return checkFluentdConfig;
      return undefined;
    case 'otelcol':
      return isYamlFile(file) || isJsonFile(file) ? otelcolYaml : undefined;
    case 'generic':
      return undefined;
  }
}

const CONFIG_FILE_KINDS: Record<Exclude<AgentType, 'generic'>, string> = {
  fluentbit: '*.conf, *.yaml or *.yml',
  fluentd: '*.conf, *.yaml or *.yml',
  otelcol: '*.yaml, *.yml or *.json',
};

/** Syntax per agent type (assumes the limits hold). */
export function checkConfigSyntax(agentType: AgentType, files: readonly ConfigFile[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  let configFiles = 0;
  for (const file of [...files].sort((a, b) => compareFileNames(a.name, b.name))) {
    const check = checkFor(agentType, file);
    if (!check) continue;
    configFiles++;
    runCheck(file, check, problems);
  }
  if (agentType !== 'generic' && configFiles === 0 && files.length > 0) {
    problems.push({
      message: `a version for ${agentType} needs at least one configuration file (${CONFIG_FILE_KINDS[agentType]})`,
    });
  }
  return problems;
}

/** Input of a validator: the agent type of the config and the files of the new version. */
export interface ConfigValidationInput {
  agentType: AgentType;
  files: readonly ConfigFile[];
}

/**
 * A check a version must pass before it is stored. Built-in validators are synchronous and pure;
 * a real one (running `fluent-bit --dry-run`, `otelcol validate`, …) may be asynchronous. It
 * reports what is wrong as problems; throwing means the validator itself failed (the request
 * fails with a server error rather than blaming the config).
 */
export interface ConfigValidator {
  /** Short id, e.g. "limits", "fluentbit-syntax", "fluent-bit-dry-run". */
  readonly name: string;
  appliesTo(agentType: AgentType): boolean;
  validate(input: ConfigValidationInput): readonly ConfigProblem[] | Promise<readonly ConfigProblem[]>;
}

export const limitsValidator: ConfigValidator = {
  name: 'limits',
  appliesTo: () => true,
  validate: ({ files }) => checkConfigLimits(files),
};

export const syntaxValidator: ConfigValidator = {
  name: 'syntax',
  appliesTo: (t) => t !== 'generic',
  validate: ({ agentType, files }) => checkConfigSyntax(agentType, files),
};

/**
 * The validators a version goes through, in order. When a validator finds problems the later
 * ones do not run (no point parsing files that are too large, or running an external tool on a
 * file that does not parse).
 */
export class ConfigValidatorRegistry {
  private readonly validators: ConfigValidator[];

  constructor(validators: readonly ConfigValidator[] = [limitsValidator, syntaxValidator]) {
    this.validators = [...validators];
  }

  register(validator: ConfigValidator): this {
    if (this.validators.some((v) => v.name === validator.name)) {
      throw new Error(`a config validator named "${validator.name}" is already registered`);
    }
    this.validators.push(validator);
    return this;
  }

  names(): string[] {
    return this.validators.map((v) => v.name);
  }

  async validate(input: ConfigValidationInput): Promise<ConfigProblem[]> {
    for (const v of this.validators) {
      if (!v.appliesTo(input.agentType)) continue;
      const problems = await v.validate(input);
      if (problems.length > 0) return [...problems];
    }
    return [];
  }
}

/** The built-in checks (limits, then syntax) synchronously: for tests and tools. */
export function validateConfigVersion(agentType: AgentType, files: readonly ConfigFile[]): ConfigProblem[] {
  const limits = checkConfigLimits(files);
  return limits.length > 0 ? limits : checkConfigSyntax(agentType, files);
}
