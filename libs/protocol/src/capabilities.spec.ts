import { fromBinary } from '@bufbuild/protobuf';
import {
  AgentCapabilities,
  AgentToServerFlags,
  AgentToServerSchema,
  ServerCapabilities,
  ServerToAgentFlags,
} from '@opamp/proto';
import { describe, expect, it } from 'vitest';
import {
  ALL_AGENT_CAPABILITIES,
  ALL_SERVER_CAPABILITIES,
  AgentCapability,
  AgentToServerFlag,
  SERVER_CAPABILITIES,
  ServerCapability,
  ServerToAgentFlag,
  describeAgentCapabilities,
  describeServerCapabilities,
  hasCapability,
  hasFlag,
} from './capabilities.js';

describe('capability constants', () => {
  it('match the generated proto enums bit for bit', () => {
    for (const [name, bit] of Object.entries(AgentCapability)) {
      const generated = AgentCapabilities[`AgentCapabilities_${name}` as keyof typeof AgentCapabilities];
      expect(BigInt(generated), name).toBe(bit);
    }
    for (const [name, bit] of Object.entries(ServerCapability)) {
      const generated = ServerCapabilities[`ServerCapabilities_${name}` as keyof typeof ServerCapabilities];
      expect(BigInt(generated), name).toBe(bit);
    }
    expect(BigInt(AgentToServerFlags.AgentToServerFlags_RequestInstanceUid)).toBe(AgentToServerFlag.RequestInstanceUid);
    expect(BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(ServerToAgentFlag.ReportFullState);
    expect(BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportAvailableComponents)).toBe(
      ServerToAgentFlag.ReportAvailableComponents,
    );
  });

  it('cover every defined bit (masks 0xFFFF and 0x7F)', () => {
    expect(Object.values(AgentCapability).reduce((a, b) => a | b, 0n)).toBe(ALL_AGENT_CAPABILITIES);
    expect(Object.values(ServerCapability).reduce((a, b) => a | b, 0n)).toBe(ALL_SERVER_CAPABILITIES);
    expect(Object.keys(AgentCapability)).toHaveLength(16);
    expect(Object.keys(ServerCapability)).toHaveLength(7);
  });

  it('advertises exactly AcceptsStatus|OffersRemoteConfig|AcceptsEffectiveConfig|OffersConnectionSettings', () => {
    expect(SERVER_CAPABILITIES).toBe(0x27n);
    expect(SERVER_CAPABILITIES & ~ALL_SERVER_CAPABILITIES).toBe(0n);
    expect(hasCapability(SERVER_CAPABILITIES, ServerCapability.AcceptsStatus)).toBe(true);
  });
});

describe('hasCapability', () => {
  it('tests bits in bigint, including bits above 32 and 53', () => {
    const caps = (1n << 40n) | (1n << 60n) | 0x1n;
    expect(hasCapability(caps, 1n << 40n)).toBe(true);
    expect(hasCapability(caps, 1n << 60n)).toBe(true);
    expect(hasCapability(caps, AgentCapability.ReportsStatus)).toBe(true);
    expect(hasCapability(caps, AgentCapability.AcceptsRemoteConfig)).toBe(false);
  });
  it('requires all bits of a multi-bit mask and never matches 0', () => {
    expect(hasCapability(0x3n, 0x3n)).toBe(true);
    expect(hasCapability(0x1n, 0x3n)).toBe(false);
    expect(hasCapability(0xffffn, 0n)).toBe(false);
    expect(hasFlag(0x1n, ServerToAgentFlag.ReportFullState)).toBe(true);
  });
  it('works on a decoded caps varint with bit 40 set (81 80 80 80 80 20)', () => {
    const msg = fromBinary(AgentToServerSchema, Uint8Array.from([0x20, 0x81, 0x80, 0x80, 0x80, 0x80, 0x20]));
    expect(msg.capabilities).toBe((1n << 40n) | 1n);
    expect(hasCapability(msg.capabilities, AgentCapability.ReportsStatus)).toBe(true);
    expect(describeAgentCapabilities(msg.capabilities)).toEqual(['ReportsStatus']);
  });
});

describe('describe*Capabilities', () => {
  it('lists known set bits in bit order and ignores unknown bits', () => {
    expect(describeAgentCapabilities(0x1n | 0x2n | 0x8000n | (1n << 20n))).toEqual([
      'ReportsStatus',
      'AcceptsRemoteConfig',
      'ReportsConnectionSettingsStatus',
    ]);
    expect(describeAgentCapabilities(0n)).toEqual([]);
    expect(describeServerCapabilities(SERVER_CAPABILITIES)).toEqual([
      'AcceptsStatus',
      'OffersRemoteConfig',
      'AcceptsEffectiveConfig',
      'OffersConnectionSettings',
    ]);
  });
});
