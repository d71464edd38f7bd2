import { describe, expect, it } from 'vitest';
import { EnvValidationError, bool, int, loadEnv, oneOf, str, url } from './env.js';

const schema = {
  PORT: int({ default: 4320, min: 1, max: 65535, description: 'port' }),
  SECRET: str({ optional: true, description: 'secret' }),
  FLAG: bool({ default: false, description: 'flag' }),
  MODE: oneOf(['a', 'b'] as const, { default: 'a', description: 'mode' }),
  REDIS: url({ default: 'redis://x:1', protocols: ['redis'], description: 'redis' }),
};

describe('loadEnv', () => {
  it('applies defaults and parses values', () => {
    const env = loadEnv(schema, { PORT: '8080', FLAG: 'yes', MODE: 'b' });
    expect(env).toEqual({ PORT: 8080, SECRET: undefined, FLAG: true, MODE: 'b', REDIS: 'redis://x:1' });
  });

  it('reports every problem at once', () => {
    try {
      loadEnv(schema, { PORT: '70000', FLAG: 'maybe', MODE: 'c', REDIS: 'http://x' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EnvValidationError);
      const problems = (err as EnvValidationError).problems;
      expect(problems).toHaveLength(4);
      expect(problems[0]).toContain('PORT must be <= 65535');
      expect(problems.join('\n')).toContain('FLAG must be true or false');
      expect(problems.join('\n')).toContain('MODE must be one of a, b');
      expect(problems.join('\n')).toContain('REDIS: must use one of redis');
    }
  });

  it('rejects non-integers for int', () => {
    expect(() => loadEnv({ N: int({ description: 'n' }) }, { N: '1.5' })).toThrow(/must be an integer/);
    expect(() => loadEnv({ N: int({ description: 'n' }) }, {})).toThrow(/N is required/);
  });
});
