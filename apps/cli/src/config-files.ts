// Local config files for `configs apply` and `configs diff --file`: one file or a folder of
// files (not recursive), each with a content type from its extension and the encoding the API
// expects (utf8 for text, base64 for bytes that are not UTF-8).
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CliError } from './errors.js';

export interface LocalConfigFile {
  name: string;
  contentType: string;
  encoding: 'utf8' | 'base64';
  content: string;
  /** The raw bytes (for diffs). */
  bytes: Buffer;
}

export interface LocalConfig {
  /** The config name a plain `apply -f` uses: the file name without extension, or the folder name. */
  defaultName: string;
  files: LocalConfigFile[];
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.json': 'application/json',
  '.conf': 'text/plain',
  '.cfg': 'text/plain',
  '.ini': 'text/plain',
  '.txt': 'text/plain',
  '.lua': 'text/x-lua',
  '.toml': 'application/toml',
  '.xml': 'application/xml',
  '.csv': 'text/csv',
  '.pem': 'application/x-pem-file',
  '.crt': 'application/x-pem-file',
  '.key': 'application/x-pem-file',
};

/** Content type from the file name's extension; `application/octet-stream` when unknown. */
export function contentTypeFor(fileName: string): string {
  return CONTENT_TYPES[path.extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text without NUL goes as text, anything else as base64 (the API's own rule). */
export function encodeBytes(bytes: Buffer): { encoding: 'utf8' | 'base64'; content: string } {
  if (!bytes.includes(0)) {
    try {
      return { encoding: 'utf8', content: utf8.decode(bytes) };
    } catch {
      // not UTF-8
    }
  }
  return { encoding: 'base64', content: bytes.toString('base64') };
}

/** Largest number of files a folder may hold (the API's limit is 32 per version). */
const MAX_FILES = 64;

export async function readLocalConfig(target: string): Promise<LocalConfig> {
  let info;
  try {
    info = await stat(target);
  } catch (err) {
    throw new CliError(`cannot read ${target}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (info.isFile()) {
    const file = await readOne(target);
    return { defaultName: path.basename(target, path.extname(target)), files: [file] };
  }
  if (!info.isDirectory()) throw new CliError(`${target} is neither a file nor a folder`);
  const entries = (await readdir(target, { withFileTypes: true }))
    .filter((e) => !e.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: LocalConfigFile[] = [];
  for (const e of entries) {
    const full = path.join(target, e.name);
    // Symlinks to files count; sub-folders do not (a version is a flat set of files).
    const s = await stat(full).catch(() => undefined);
    if (!s?.isFile()) continue;
    if (files.length >= MAX_FILES) throw new CliError(`${target} holds more than ${MAX_FILES} files`);
    files.push(await readOne(full));
  }
  if (files.length === 0) throw new CliError(`${target} holds no files (hidden files and sub-folders are skipped)`);
  return { defaultName: path.basename(path.resolve(target)), files };
}

async function readOne(file: string): Promise<LocalConfigFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const name = path.basename(file);
  return { name, contentType: contentTypeFor(name), ...encodeBytes(bytes), bytes };
}

/** The body of POST /configs/{name}/versions. */
export function versionBody(files: readonly LocalConfigFile[]): {
  files: Array<{ name: string; contentType: string; content: string; encoding: 'utf8' | 'base64' }>;
} {
  return {
    files: files.map((f) => ({ name: f.name, contentType: f.contentType, content: f.content, encoding: f.encoding })),
  };
}
