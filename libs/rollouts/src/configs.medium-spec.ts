// ConfigsService against real Postgres: idempotent creation, numbered versions, idempotency and
// numbering under concurrent posts, validation, decoding and diffs. Config names carry a per-run
// suffix so runs never see each other's rows.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaService } from '@opamp/database';
import { computeConfigHash } from '@opamp/protocol';
import { DATABASE_URL } from '../../../test/support/env.js';
import { cleanupRun } from '../../../test/support/rollout-store-fixtures.js';
import {
  ConfigExistsError,
  ConfigInputError,
  ConfigNotFoundError,
  ConfigValidationError,
  ConfigVersionNotFoundError,
} from './configs.errors.js';
import { ConfigsService } from './configs.service.js';

const RUN = randomBytes(4).toString('hex');
const names: string[] = [];
const nameOf = (base: string): string => {
  const n = `${base}-${RUN}`;
  names.push(n);
  return n;
};

let prisma: PrismaService;
let configs: ConfigsService;

const OTEL = (timeout: string): string =>
  `receivers:\n  otlp:\n    protocols:\n      grpc: {}\nprocessors:\n  batch:\n    timeout: ${timeout}\nexporters:\n  debug: {}\n` +
  'service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [debug]\n';
const yamlFile = (content: string) => ({ name: 'collector.yaml', contentType: 'application/yaml', content });

beforeAll(async () => {
  prisma = new PrismaService({ url: DATABASE_URL, poolSize: 8 });
  await prisma.onModuleInit();
  configs = new ConfigsService({ prisma });
});

afterAll(async () => {
  if (prisma) {
    await cleanupRun(prisma, RUN, names);
    await prisma.onApplicationShutdown();
  }
});

describe('configs', () => {
  it('creates a config once; the same fields again return it, other fields conflict', async () => {
    const name = nameOf('edge');
    const first = await configs.create({ name, agentType: 'otelcol', description: 'edge collectors' });
    expect(first.created).toBe(true);
    expect(first.config).toMatchObject({
      name,
      agentType: 'otelcol',
      description: 'edge collectors',
      latestVersion: null,
      versionCount: 0,
    });
    const again = await configs.create({ name, agentType: 'otelcol', description: 'edge collectors' });
    expect(again).toMatchObject({ created: false, config: { id: first.config.id } });
    await expect(configs.create({ name, agentType: 'fluentbit', description: 'edge collectors' })).rejects.toThrow(
      ConfigExistsError,
    );
    await expect(configs.create({ name, agentType: 'otelcol' })).rejects.toThrow(
      /already exists for agent type otelcol/,
    );
  });

  it('validates name and agent type', async () => {
    await expect(configs.create({ name: 'Bad Name', agentType: 'otelcol' })).rejects.toThrow(ConfigInputError);
    await expect(configs.create({ name: nameOf('x'), agentType: 'vector' })).rejects.toThrow(
      /agentType: must be one of/,
    );
    await expect(configs.get(`missing-${RUN}`)).rejects.toThrow(ConfigNotFoundError);
  });

  it('lists configs by name with a keyset cursor', async () => {
    const prefix = `list-${RUN}`;
    for (const n of ['a', 'b', 'c']) {
      names.push(`${prefix}-${n}`);
      await configs.create({ name: `${prefix}-${n}`, agentType: 'generic' });
    }
    const seen: string[] = [];
    let after: string | undefined = `${prefix}-`;
    for (let i = 0; i < 5 && after !== undefined; i++) {
      const page = await configs.list({ limit: 2, afterName: after, agentType: 'generic' });
      seen.push(...page.items.map((c) => c.name).filter((n) => n.startsWith(prefix)));
      after = page.next !== null && page.next.startsWith(prefix) ? page.next : undefined;
    }
    expect(seen).toEqual([`${prefix}-a`, `${prefix}-b`, `${prefix}-c`]);
  });
});

describe('versions', () => {
  it('numbers versions, returns the existing one for the same content, and stores the canonical hash', async () => {
    const name = nameOf('otel');
    await configs.create({ name, agentType: 'otelcol' });
    const v1 = await configs.addVersion(name, [yamlFile(OTEL('5s'))]);
    expect(v1).toMatchObject({ created: true, version: { version: 1, config: name, agentType: 'otelcol' } });
    expect(v1.version.hash).toBe(
      Buffer.from(
        computeConfigHash([{ name: 'collector.yaml', contentType: 'application/yaml', body: OTEL('5s') }]),
      ).toString('hex'),
    );
    const v2 = await configs.addVersion(name, [yamlFile(OTEL('10s'))]);
    expect(v2).toMatchObject({ created: true, version: { version: 2 } });
    const again = await configs.addVersion(name, [yamlFile(OTEL('5s'))]);
    expect(again).toMatchObject({ created: false, version: { version: 1, hash: v1.version.hash } });
    const info = await configs.get(name);
    expect(info).toMatchObject({ versionCount: 2, latestVersion: { version: 2, hash: v2.version.hash } });
    expect(info.updatedAt.getTime()).toBeGreaterThanOrEqual(info.createdAt.getTime());
  });

  it('refuses invalid content with every problem and stores nothing', async () => {
    const name = nameOf('fb');
    await configs.create({ name, agentType: 'fluentbit' });
    const err = await configs
      .addVersion(name, [
        { name: 'fluent-bit.conf', contentType: 'text/plain', content: '[INPUT]\n    Name tail\n  Path /x\n[OUTPUT\n' },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigValidationError);
    expect((err as ConfigValidationError).problems).toEqual([
      { file: 'fluent-bit.conf', line: 3, message: 'indentation is too low: line 2 indents entries with 4 spaces' },
      { file: 'fluent-bit.conf', line: 4, message: 'section header is missing its closing "]"' },
    ]);
    await expect(
      configs.addVersion(name, [
        { name: 'x.bin', contentType: 'application/octet-stream', content: '%%', encoding: 'base64' },
      ]),
    ).rejects.toThrow(/not valid base64/);
    expect((await configs.get(name)).versionCount).toBe(0);
    await expect(configs.addVersion(`missing-${RUN}`, [yamlFile('a: 1')])).rejects.toThrow(ConfigNotFoundError);
  });

  it('concurrent posts of the same content make one version; of different contents, consecutive numbers', async () => {
    const name = nameOf('race');
    await configs.create({ name, agentType: 'otelcol' });
    const same = await Promise.all(Array.from({ length: 8 }, () => configs.addVersion(name, [yamlFile(OTEL('1s'))])));
    expect(new Set(same.map((r) => r.version.version))).toEqual(new Set([1]));
    expect(same.filter((r) => r.created)).toHaveLength(1);

    const different = await Promise.all(
      Array.from({ length: 8 }, (_, i) => configs.addVersion(name, [yamlFile(OTEL(`${i + 2}s`))])),
    );
    expect(different.every((r) => r.created)).toBe(true);
    expect(different.map((r) => r.version.version).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await configs.get(name)).versionCount).toBe(9);
  });

  it('returns files as text or base64 and lists versions newest first', async () => {
    const name = nameOf('gen');
    await configs.create({ name, agentType: 'generic' });
    await configs.addVersion(name, [
      { name: 'b.bin', contentType: 'application/octet-stream', content: 'AP8=', encoding: 'base64' },
      { name: 'a.txt', contentType: 'text/plain', content: 'héllo\n' },
    ]);
    const v = await configs.getVersion(name, 1);
    expect(v.content.map((f) => [f.name, Buffer.from(f.body).toString('hex')])).toEqual([
      ['a.txt', Buffer.from('héllo\n').toString('hex')],
      ['b.bin', '00ff'],
    ]);
    expect(v.files).toEqual([
      { name: 'a.txt', contentType: 'text/plain', size: 7 },
      { name: 'b.bin', contentType: 'application/octet-stream', size: 2 },
    ]);
    expect(v.sizeBytes).toBe(v.configMap.byteLength);
    await configs.addVersion(name, [{ name: 'a.txt', contentType: 'text/plain', content: 'hello\n' }]);
    const page = await configs.listVersions(name, { limit: 1 });
    expect(page.items.map((i) => i.version)).toEqual([2]);
    expect(page.next).toBe(2);
    const rest = await configs.listVersions(name, { limit: 1, beforeVersion: 2 });
    expect(rest).toMatchObject({ items: [{ version: 1 }], next: null });
    await expect(configs.getVersion(name, 9)).rejects.toThrow(ConfigVersionNotFoundError);
  });

  it('diffs two versions', async () => {
    const name = nameOf('diff');
    await configs.create({ name, agentType: 'otelcol' });
    await configs.addVersion(name, [
      yamlFile(OTEL('5s')),
      { name: 'extra.yaml', contentType: 'text/yaml', content: 'a: 1\n' },
    ]);
    await configs.addVersion(name, [yamlFile(OTEL('7s'))]);
    const d = await configs.diff(name, 1, 2);
    expect(d.identical).toBe(false);
    expect(d.files.map((f) => [f.name, f.status])).toEqual([
      ['collector.yaml', 'changed'],
      ['extra.yaml', 'removed'],
    ]);
    expect(d.files[0]!.patch).toContain('-    timeout: 5s\n+    timeout: 7s\n');
    expect((await configs.diff(name, 2, 2)).identical).toBe(true);
    await expect(configs.diff(name, 1, 3)).rejects.toThrow(ConfigVersionNotFoundError);
  });
});
