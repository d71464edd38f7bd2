import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { APP_ENVS, envTables, readmeEnvSection } from './env-docs.js';

describe('README configuration tables', () => {
  it('document every environment variable each app reads, exactly as the code declares it', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readmeEnvSection(readme);
    expect(section, 'README.md lacks the env markers').toBeDefined();
    for (const schema of Object.values(APP_ENVS)) {
      for (const name of Object.keys(schema)) expect(section).toContain(`\`${name}\``);
    }
    expect(section).toBe(envTables().trim());
  });
});
