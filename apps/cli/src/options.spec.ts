import { describe, expect, it } from 'vitest';
import { UsageError } from './errors.js';
import {
  parseConfigRef,
  parseDurationSeconds,
  parseLabelArgs,
  parsePercent,
  parseStage,
  parseTime,
  parseWaveSize,
} from './options.js';

describe('option values', () => {
  it('wave sizes are counts or percents', () => {
    expect(parseWaveSize('--first-wave', '5')).toBe(5);
    expect(parseWaveSize('--first-wave', '2.5%')).toBe('2.5%');
    expect(() => parseWaveSize('--first-wave', 'five')).toThrow(UsageError);
    expect(() => parseWaveSize('--max-wave', '-1')).toThrow(/--max-wave takes a number of agents/);
  });

  it('durations in seconds with units; percents with or without %', () => {
    expect(parseDurationSeconds('--soak', '90')).toBe(90);
    expect(parseDurationSeconds('--soak', '5m')).toBe(300);
    expect(parseDurationSeconds('--timeout', '1h')).toBe(3600);
    expect(parseDurationSeconds('--interval', '500ms')).toBe(0.5);
    expect(() => parseDurationSeconds('--soak', '5 minutes')).toThrow(/--soak takes a duration/);
    expect(parsePercent('--max-failures', '5%')).toBe(5);
    expect(parsePercent('--max-failures', '2.5')).toBe(2.5);
  });

  it('NAME or NAME@VERSION', () => {
    expect(parseConfigRef('fluent-prod')).toEqual({ name: 'fluent-prod', version: undefined });
    expect(parseConfigRef('fluent-prod@3')).toEqual({ name: 'fluent-prod', version: 3 });
    expect(() => parseConfigRef('fluent-prod@latest')).toThrow(UsageError);
    expect(() => parseConfigRef('@3')).toThrow(UsageError);
  });

  it('stages: name=selector with an optional :manual / :auto', () => {
    expect(parseStage('canary=env=prod,canary=true:manual')).toEqual({
      name: 'canary',
      selector: 'env=prod,canary=true',
      promotion: 'manual',
    });
    expect(parseStage('rest=region in (eu,us)')).toEqual({
      name: 'rest',
      selector: 'region in (eu,us)',
      promotion: 'auto',
    });
    expect(parseStage('all=')).toEqual({ name: 'all', selector: '', promotion: 'auto' });
    expect(() => parseStage('canary')).toThrow(/NAME=SELECTOR/);
    expect(() => parseStage('canary=a=b:later')).toThrow(/only :manual or :auto/);
  });

  it('labels: k=v sets, k- removes, anything else is a usage error', () => {
    expect(parseLabelArgs(['env=prod', 'team=', 'old-'])).toEqual({ set: { env: 'prod', team: '' }, remove: ['old'] });
    expect(parseLabelArgs(['example.com/tier-'])).toEqual({ set: {}, remove: ['example.com/tier'] });
    expect(() => parseLabelArgs(['env'])).toThrow(/not a label change/);
    expect(() => parseLabelArgs(['env=a', 'env-'])).toThrow(/given twice/);
    expect(() => parseLabelArgs(['=x'])).toThrow(UsageError);
  });

  it('times: ISO or a time ago', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(parseTime('--since', '2h', now)).toBe('2026-11-25T10:00:00.000Z');
    expect(parseTime('--since', '2026-11-24T08:00:00+01:00', now)).toBe('2026-11-24T07:00:00.000Z');
    expect(() => parseTime('--since', 'yesterday', now)).toThrow(/--since takes an ISO time/);
  });
});
