// Config files: decoding what clients send, classifying files by format, and back to text.
import type { ConfigFile, ConfigFileEncoding, ConfigFileInput, ConfigProblem } from './types.js';

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Turns the files of a request into bytes. Content is UTF-8 text unless `encoding` is `base64`
 * (standard alphabet, padded; whitespace such as line breaks is ignored). Problems name the file.
 */
export function decodeConfigFiles(inputs: readonly ConfigFileInput[]): {
  files: ConfigFile[];
  problems: ConfigProblem[];
} {
  const files: ConfigFile[] = [];
  const problems: ConfigProblem[] = [];
  for (const f of inputs) {
    const encoding = f.encoding ?? 'utf8';
    if (encoding === 'base64') {
      const compact = f.content.replace(/\s+/g, '');
      if (!BASE64.test(compact)) {
        problems.push({ file: f.name, message: 'content is not valid base64 (standard alphabet, padding included)' });
        continue;
      }
      files.push({ name: f.name, contentType: f.contentType, body: Uint8Array.from(Buffer.from(compact, 'base64')) });
    } else {
      files.push({ name: f.name, contentType: f.contentType, body: utf8Encoder.encode(f.content) });
    }
  }
  return { files, problems };
}

/** The body as text, or undefined when it is not valid UTF-8 or contains NUL (binary). */
export function fileText(body: Uint8Array): string | undefined {
  if (body.includes(0)) return undefined;
  try {
    return utf8Strict.decode(body);
  } catch {
    return undefined;
  }
}

/** How the API returns a file: UTF-8 text when it is text, base64 otherwise. */
export function encodeConfigFile(file: ConfigFile): {
  name: string;
  contentType: string;
  encoding: ConfigFileEncoding;
  content: string;
  size: number;
} {
  const text = fileText(file.body);
  return {
    name: file.name,
    contentType: file.contentType,
    encoding: text === undefined ? 'base64' : 'utf8',
    content: text ?? Buffer.from(file.body).toString('base64'),
    size: file.body.byteLength,
  };
}

/** Media type without parameters, lower-cased: `Text/YAML; charset=utf-8` → `text/yaml`. */
export function baseMediaType(contentType: string): string {
  return contentType.split(';', 1)[0]!.trim().toLowerCase();
}

const YAML_TYPES = new Set(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']);
const JSON_TYPES = new Set(['application/json', 'text/json']);

function extension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase();
}

/** A YAML file: named *.yaml / *.yml or with a YAML media type. */
export function isYamlFile(file: Pick<ConfigFile, 'name' | 'contentType'>): boolean {
  const ext = extension(file.name);
  return ext === 'yaml' || ext === 'yml' || YAML_TYPES.has(baseMediaType(file.contentType));
}

/** A JSON file (also valid YAML): named *.json or with a JSON media type. */
export function isJsonFile(file: Pick<ConfigFile, 'name' | 'contentType'>): boolean {
  return extension(file.name) === 'json' || JSON_TYPES.has(baseMediaType(file.contentType));
}

/** A classic Fluent Bit / Fluentd directive file: named *.conf. */
export function isConfFile(file: Pick<ConfigFile, 'name' | 'contentType'>): boolean {
  return extension(file.name) === 'conf';
}

/**
 * Orders file names by their UTF-8 bytes, the order of the canonical hash encoding
 * (computeConfigHash) and of every listing, so the API shows files in one order everywhere.
 */
export function compareFileNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
