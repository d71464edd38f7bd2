// Guards the hand-written proto against the field tables of the OpAMP spec (checklist §2): a wrong
// field number or type would silently break interop with real agents.
import { ScalarType, type DescMessage } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  AgentToServerSchema,
  AnyValueSchema,
  ComponentHealthSchema,
  OpAMPConnectionSettingsSchema,
  PackageStatusSchema,
  ServerErrorResponseSchema,
  ServerToAgentSchema,
  TelemetryConnectionSettingsSchema,
  file_opamp_v1_opamp,
} from './index.js';

function numbers(desc: DescMessage): Record<string, number> {
  return Object.fromEntries(desc.fields.map((f) => [f.name, f.number]));
}

describe('opamp.proto.v1 schema', () => {
  it('uses package opamp.proto.v1', () => {
    expect(AgentToServerSchema.typeName).toBe('opamp.proto.v1.AgentToServer');
  });

  it('AgentToServer field numbers', () => {
    expect(numbers(AgentToServerSchema)).toEqual({
      instance_uid: 1,
      sequence_num: 2,
      agent_description: 3,
      capabilities: 4,
      health: 5,
      effective_config: 6,
      remote_config_status: 7,
      package_statuses: 8,
      agent_disconnect: 9,
      flags: 10,
      connection_settings_request: 11,
      custom_capabilities: 12,
      custom_message: 13,
      available_components: 14,
      connection_settings_status: 15,
    });
  });

  it('ServerToAgent field numbers', () => {
    expect(numbers(ServerToAgentSchema)).toEqual({
      instance_uid: 1,
      error_response: 2,
      remote_config: 3,
      connection_settings: 4,
      packages_available: 5,
      flags: 6,
      capabilities: 7,
      agent_identification: 8,
      command: 9,
      custom_capabilities: 10,
      custom_message: 11,
    });
  });

  it('64-bit fields have the spec types (uint64 / fixed64)', () => {
    const scalar = (desc: DescMessage, name: string): ScalarType | undefined => {
      const f = desc.fields.find((x) => x.name === name);
      return f?.fieldKind === 'scalar' ? f.scalar : undefined;
    };
    for (const n of ['sequence_num', 'capabilities', 'flags'])
      expect(scalar(AgentToServerSchema, n)).toBe(ScalarType.UINT64);
    for (const n of ['flags', 'capabilities']) expect(scalar(ServerToAgentSchema, n)).toBe(ScalarType.UINT64);
    expect(scalar(ComponentHealthSchema, 'start_time_unix_nano')).toBe(ScalarType.FIXED64);
    expect(scalar(ComponentHealthSchema, 'status_time_unix_nano')).toBe(ScalarType.FIXED64);
    expect(scalar(OpAMPConnectionSettingsSchema, 'heartbeat_interval_seconds')).toBe(ScalarType.UINT64);
  });

  it('ComponentHealth, PackageStatus and connection settings numbering', () => {
    expect(numbers(ComponentHealthSchema)).toEqual({
      healthy: 1,
      start_time_unix_nano: 2,
      last_error: 3,
      status: 4,
      status_time_unix_nano: 5,
      component_health_map: 6,
      attributes: 7,
    });
    expect(numbers(PackageStatusSchema)).toEqual({
      name: 1,
      agent_has_version: 2,
      agent_has_hash: 3,
      server_offered_version: 4,
      server_offered_hash: 5,
      status: 6,
      error_message: 7,
      download_details: 8,
    });
    expect(numbers(OpAMPConnectionSettingsSchema)).toEqual({
      destination_endpoint: 1,
      headers: 2,
      certificate: 3,
      heartbeat_interval_seconds: 4,
      tls: 5,
      proxy: 6,
    });
    expect(numbers(TelemetryConnectionSettingsSchema)).toEqual({
      destination_endpoint: 1,
      headers: 2,
      certificate: 3,
      tls: 4,
      proxy: 5,
    });
  });

  it('ServerErrorResponse has oneof Details { retry_info = 3 }', () => {
    const retry = ServerErrorResponseSchema.fields.find((f) => f.name === 'retry_info');
    expect(retry?.number).toBe(3);
    expect(retry?.oneof?.name).toBe('Details');
  });

  it('AnyValue oneof value numbering', () => {
    expect(numbers(AnyValueSchema)).toEqual({
      string_value: 1,
      bool_value: 2,
      int_value: 3,
      double_value: 4,
      array_value: 5,
      kvlist_value: 6,
      bytes_value: 7,
    });
  });

  it('enum values', () => {
    const values = (name: string): Record<string, number> => {
      const e = file_opamp_v1_opamp.enums.find((x) => x.name === name);
      return Object.fromEntries((e?.values ?? []).map((v) => [v.name, v.number]));
    };
    expect(values('ServerErrorResponseType')).toEqual({
      ServerErrorResponseType_Unknown: 0,
      ServerErrorResponseType_BadRequest: 1,
      ServerErrorResponseType_Unavailable: 2,
    });
    expect(values('CommandType')).toEqual({ CommandType_Restart: 0 });
    expect(values('RemoteConfigStatuses')).toEqual({
      RemoteConfigStatuses_UNSET: 0,
      RemoteConfigStatuses_APPLIED: 1,
      RemoteConfigStatuses_APPLYING: 2,
      RemoteConfigStatuses_FAILED: 3,
    });
    expect(values('PackageStatusEnum')).toEqual({
      PackageStatusEnum_Installed: 0,
      PackageStatusEnum_InstallPending: 1,
      PackageStatusEnum_Installing: 2,
      PackageStatusEnum_InstallFailed: 3,
      PackageStatusEnum_Downloading: 4,
    });
    expect(values('PackageType')).toEqual({ PackageType_TopLevel: 0, PackageType_Addon: 1 });
    expect(values('ServerToAgentFlags')).toEqual({
      ServerToAgentFlags_Unspecified: 0,
      ServerToAgentFlags_ReportFullState: 1,
      ServerToAgentFlags_ReportAvailableComponents: 2,
    });
    expect(Object.values(values('AgentCapabilities')).reduce((a, b) => a | b, 0)).toBe(0xffff);
    expect(Object.values(values('ServerCapabilities')).reduce((a, b) => a | b, 0)).toBe(0x7f);
  });
});
