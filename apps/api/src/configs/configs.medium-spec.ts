// The configs routes over HTTP against real Postgres and Redis: creation, versions (idempotent,
// numbered, also under concurrent posts), validation problems, decoding and diffs. Names carry a
// per-run suffix so runs never see each other's rows.
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaService } from '@opamp/database';
import { computeConfigHash } from '@opamp/protocol';
import { loadApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { expectProblem, httpClient, type Json, type Reply } from '../testing/http.js';

const RUN = randomBytes(4).toString('hex');
const names: string[] = [];
const nameOf = (base: string): string => {
  const n = `${base}-${RUN}`;
  names.push(n);
  return n;
};

let app: INestApplication;
let base: string;
let prisma: PrismaService;

const { get, post } = httpClient(() => base);

const FLUENT_BIT = '[INPUT]\n    Name cpu\n    Tag  cpu.local\n\n[OUTPUT]\n    Name  stdout\n    Match *\n';
const conf = (content: string, name = 'fluent-bit.conf') => ({ files: [{ name, contentType: 'text/plain', content }] });

beforeAll(async () => {
  const config = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
});

afterAll(async () => {
  if (prisma) {
    const ids = (await prisma.config.findMany({ where: { name: { in: names } }, select: { id: true } })).map(
      (c) => c.id,
    );
    await prisma.configVersion.deleteMany({ where: { configId: { in: ids } } });
    await prisma.config.deleteMany({ where: { id: { in: ids } } });
  }
  await app?.close();
});

describe('POST /api/v1/configs', () => {
  it('creates (201 with Location), returns the same config again (200), refuses other fields (409)', async () => {
    const name = nameOf('fb');
    const created = await post('/api/v1/configs', { name, agentType: 'fluentbit', description: 'edge logs' });
    expect(created.status).toBe(201);
    expect(created.location).toBe(`/api/v1/configs/${name}`);
    expect(created.body).toMatchObject({
      name,
      agentType: 'fluentbit',
      description: 'edge logs',
      versionCount: 0,
      latestVersion: null,
      createdAt: expect.any(String),
    });
    const again = await post('/api/v1/configs', { name, agentType: 'fluentbit', description: 'edge logs' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(created.body.id);
    const clash = await post('/api/v1/configs', { name, agentType: 'otelcol', description: 'edge logs' });
    expectProblem(clash, 409, /already exists for agent type fluentbit/);
    expect(clash.body.existing).toEqual({ agentType: 'fluentbit', description: 'edge logs' });
  });

  it('refuses malformed bodies with 400 naming each field', async () => {
    const r = await post('/api/v1/configs', { name: 'Not Valid', agentType: 'vector', extra: 1 });
    expectProblem(r, 400);
    expect((r.body.invalidParams as Array<{ name: string }>).map((p) => p.name).sort()).toEqual([
      'agentType',
      'extra',
      'name',
    ]);
    expectProblem(await post('/api/v1/configs', '[1]'), 400, /JSON object/);
    expectProblem(await post('/api/v1/configs', '{"name":'), 400, /not valid JSON/);
    expectProblem(
      await post('/api/v1/configs', { name: nameOf('d'), agentType: 'generic', description: 5 }),
      400,
      /description/,
    );
  });
});

describe('GET /api/v1/configs', () => {
  it('pages by name with a cursor, filters by agent type, and gets one config', async () => {
    const prefix = `zz-list-${RUN}`;
    for (const n of ['a', 'b', 'c']) {
      names.push(`${prefix}-${n}`);
      expect((await post('/api/v1/configs', { name: `${prefix}-${n}`, agentType: 'fluentd' })).status).toBe(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 200; i++) {
      const r: Reply = await get(`/api/v1/configs?agentType=fluentd&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      seen.push(...(r.body.items as Array<{ name: string; agentType: string }>).map((c) => c.name));
      cursor = r.body.nextCursor as string | null;
      if (!cursor) break;
    }
    expect(seen.filter((n) => n.startsWith(prefix))).toEqual([`${prefix}-a`, `${prefix}-b`, `${prefix}-c`]);
    expect(seen).toEqual([...seen].sort());

    const one = await get(`/api/v1/configs/${prefix}-b`);
    expect(one).toMatchObject({ status: 200, body: { name: `${prefix}-b`, agentType: 'fluentd' } });
    expectProblem(await get(`/api/v1/configs/missing-${RUN}`), 404, /No config named/);
    expectProblem(await get('/api/v1/configs/UPPER'), 400, /not a config name/);
    expectProblem(await get('/api/v1/configs?agentType=vector'), 400, /agentType/);
    expectProblem(await get('/api/v1/configs?cursor=abc'), 400, /cursor/);
  });
});

describe('POST /api/v1/configs/{name}/versions', () => {
  it('stores version 1 (201), returns it for the same content (200), numbers new content 2', async () => {
    const name = nameOf('ver');
    await post('/api/v1/configs', { name, agentType: 'fluentbit' });
    const v1 = await post(`/api/v1/configs/${name}/versions`, conf(FLUENT_BIT));
    expect(v1.status).toBe(201);
    expect(v1.location).toBe(`/api/v1/configs/${name}/versions/1`);
    const hash = Buffer.from(
      computeConfigHash([{ name: 'fluent-bit.conf', contentType: 'text/plain', body: FLUENT_BIT }]),
    ).toString('hex');
    expect(v1.body).toMatchObject({
      config: name,
      version: 1,
      hash,
      created: true,
      files: [{ name: 'fluent-bit.conf', contentType: 'text/plain', size: FLUENT_BIT.length }],
    });
    const same = await post(`/api/v1/configs/${name}/versions`, conf(FLUENT_BIT));
    expect(same).toMatchObject({ status: 200, body: { version: 1, hash, created: false } });
    const v2 = await post(`/api/v1/configs/${name}/versions`, conf(FLUENT_BIT.replace('cpu.local', 'cpu.edge')));
    expect(v2).toMatchObject({ status: 201, body: { version: 2, created: true } });
    expect((await get(`/api/v1/configs/${name}`)).body).toMatchObject({
      versionCount: 2,
      latestVersion: { version: 2 },
    });
  });

  it('refuses invalid content with 422 and a list of problems (file, line, message)', async () => {
    const name = nameOf('bad');
    await post('/api/v1/configs', { name, agentType: 'fluentbit' });
    const r = await post(`/api/v1/configs/${name}/versions`, {
      files: [
        { name: 'fluent-bit.conf', contentType: 'text/plain', content: '[INPUT]\n    Name cpu\n  Tag x\n' },
        { name: 'pipeline.yaml', contentType: 'application/yaml', content: 'pipeline:\n  inputs: cpu\n' },
      ],
    });
    expectProblem(r, 422, /fluent-bit\.conf:3: indentation is too low/);
    expect(r.body.problems).toEqual([
      { file: 'fluent-bit.conf', line: 3, message: 'indentation is too low: line 2 indents entries with 4 spaces' },
      { file: 'pipeline.yaml', line: 2, message: '"pipeline.inputs" must be a list of plugins' },
    ]);
    const limits = await post(`/api/v1/configs/${name}/versions`, {
      files: [{ name: 'a/b.conf', contentType: 'plain', content: 'x' }],
    });
    expectProblem(limits, 422);
    expect((limits.body.problems as Array<{ message: string }>).map((p) => p.message)).toEqual([
      'file name must not contain "/", "\\", "..", NUL or other control characters',
      'content type "plain" is not a media type of the form type/subtype (e.g. text/yaml)',
    ]);
    const tooBig = await post(`/api/v1/configs/${name}/versions`, {
      files: [
        {
          name: 'big.lua',
          contentType: 'text/x-lua',
          content: Buffer.alloc(1024 * 1024 + 1, 0x41).toString('base64'),
          encoding: 'base64',
        },
        { name: 'a.conf', contentType: 'text/plain', content: FLUENT_BIT },
      ],
    });
    expectProblem(tooBig, 422, /big\.lua: file is 1,048,577 bytes/);
    expect((await get(`/api/v1/configs/${name}`)).body.versionCount).toBe(0);
  });

  it('accepts a 3 MiB version (the body limit fits the version limit)', async () => {
    const name = nameOf('large');
    await post('/api/v1/configs', { name, agentType: 'generic' });
    const files = [0, 1, 2].map((i) => ({
      name: `blob${i}.bin`,
      contentType: 'application/octet-stream',
      content: randomBytes(1024 * 1024).toString('base64'),
      encoding: 'base64',
    }));
    const r = await post(`/api/v1/configs/${name}/versions`, { files });
    expect(r.status).toBe(201);
    expect(r.body.sizeBytes).toBeGreaterThan(3 * 1024 * 1024);
  });

  it('refuses malformed bodies with 400 and unknown configs with 404', async () => {
    const name = nameOf('shape');
    await post('/api/v1/configs', { name, agentType: 'generic' });
    const r = await post(`/api/v1/configs/${name}/versions`, {
      files: [
        { name: 'a', contentType: 'text/plain' },
        { name: 'b', contentType: 'text/plain', content: 'x', encoding: 'hex' },
        7,
      ],
    });
    expectProblem(r, 400);
    expect((r.body.invalidParams as Array<{ name: string }>).map((p) => p.name)).toEqual([
      'files[0].content',
      'files[1].encoding',
      'files[2]',
    ]);
    expectProblem(await post(`/api/v1/configs/${name}/versions`, { files: 'x' }), 400, /files/);
    expectProblem(await post(`/api/v1/configs/missing-${RUN}/versions`, conf(FLUENT_BIT)), 404, /No config named/);
  });

  it('concurrent posts: the same content gives one version (one 201), different contents consecutive numbers', async () => {
    const name = nameOf('race');
    await post('/api/v1/configs', { name, agentType: 'fluentbit' });
    const same = await Promise.all(
      Array.from({ length: 10 }, () => post(`/api/v1/configs/${name}/versions`, conf(FLUENT_BIT))),
    );
    expect(same.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(same.map((r) => r.body.version))).toEqual(new Set([1]));
    const different = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        post(`/api/v1/configs/${name}/versions`, conf(FLUENT_BIT.replace('cpu.local', `cpu.${i}`))),
      ),
    );
    expect(different.every((r) => r.status === 201)).toBe(true);
    expect(different.map((r) => r.body.version as number).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7]);
  });
});

describe('GET versions, one version, and diffs', () => {
  it('lists versions newest first, returns files as text or base64, and diffs two versions', async () => {
    const name = nameOf('read');
    await post('/api/v1/configs', { name, agentType: 'fluentbit' });
    await post(`/api/v1/configs/${name}/versions`, {
      files: [
        { name: 'fluent-bit.conf', contentType: 'text/plain', content: FLUENT_BIT },
        { name: 'filter.so', contentType: 'application/octet-stream', content: 'AP8B', encoding: 'base64' },
      ],
    });
    await post(`/api/v1/configs/${name}/versions`, conf(FLUENT_BIT.replace('stdout', 'null')));

    const list = await get(`/api/v1/configs/${name}/versions?limit=1`);
    expect(list.status).toBe(200);
    expect((list.body.items as Array<{ version: number }>).map((v) => v.version)).toEqual([2]);
    const rest = await get(`/api/v1/configs/${name}/versions?limit=1&cursor=${list.body.nextCursor as string}`);
    expect(rest.body).toMatchObject({ items: [{ version: 1 }], nextCursor: null });

    const v1 = await get(`/api/v1/configs/${name}/versions/1`);
    expect(v1.status).toBe(200);
    expect(v1.body.files).toEqual([
      { name: 'filter.so', contentType: 'application/octet-stream', encoding: 'base64', content: 'AP8B', size: 3 },
      {
        name: 'fluent-bit.conf',
        contentType: 'text/plain',
        encoding: 'utf8',
        content: FLUENT_BIT,
        size: FLUENT_BIT.length,
      },
    ]);
    // What GET returns can be posted back as is: same content, same version.
    const repost = await post(`/api/v1/configs/${name}/versions`, {
      files: (v1.body.files as Json[]).map(({ size: _s, ...f }) => f),
    });
    expect(repost).toMatchObject({ status: 200, body: { version: 1 } });

    const diff = await get(`/api/v1/configs/${name}/versions/1/diff/2`);
    expect(diff.status).toBe(200);
    expect(diff.body).toMatchObject({
      config: name,
      from: { version: 1 },
      to: { version: 2 },
      identical: false,
      summary: { added: 0, removed: 1, changed: 1, unchanged: 0 },
    });
    const files = diff.body.files as Array<{ name: string; status: string; patch?: string }>;
    expect(files.map((f) => [f.name, f.status])).toEqual([
      ['filter.so', 'removed'],
      ['fluent-bit.conf', 'changed'],
    ]);
    expect(files[1]!.patch).toContain('-    Name  stdout\n+    Name  null\n');

    expectProblem(await get(`/api/v1/configs/${name}/versions/9`), 404, /has no version 9/);
    expectProblem(await get(`/api/v1/configs/${name}/versions/0`), 400, /version number/);
    expectProblem(await get(`/api/v1/configs/${name}/versions/1/diff/x`), 400, /^b: /);
    expectProblem(await get(`/api/v1/configs/${name}/versions/1/diff/7`), 404);
  });
});
