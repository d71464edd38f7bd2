// Assertions on decoded ServerToAgent messages, written from the checklist (§3.1, §3.15, case 46)
// rather than from the product's own helpers.
import { expect } from 'vitest';
import { ServerErrorResponseType, type ServerToAgent } from '@opamp/proto';
import { uidText } from '../../support/opamp-raw-client.js';

/** What this control plane advertises in every non-error reply (documented choice, 0x27). */
export const EXPECTED_SERVER_CAPABILITIES = 0x27n;
/** All server capability bits the spec defines. */
export const DEFINED_SERVER_CAPABILITIES = 0x7fn;
export const REPORT_FULL_STATE = 0x1n;

function uidOf(bytes: Uint8Array): string {
  return bytes.length === 16 ? uidText(bytes) : Buffer.from(bytes).toString('hex');
}

/** A successful reply: same uid, no error_response, capabilities set with AcceptsStatus and no undefined bits. */
export function expectAck(s2a: ServerToAgent | undefined, uid: Uint8Array): ServerToAgent {
  expect(s2a, 'a ServerToAgent body').toBeDefined();
  const msg = s2a!;
  expect(uidOf(msg.instanceUid)).toBe(uidOf(uid));
  expect(msg.errorResponse, `unexpected error_response: ${msg.errorResponse?.errorMessage}`).toBeUndefined();
  expect(msg.capabilities & 0x1n, 'AcceptsStatus must be advertised').toBe(0x1n);
  expect(msg.capabilities & ~DEFINED_SERVER_CAPABILITIES, 'no undefined server capability bits').toBe(0n);
  expect(msg.capabilities).toBe(EXPECTED_SERVER_CAPABILITIES);
  return msg;
}

/** Case 46: an error reply carries only instance_uid + error_response (fields 3–11 absent, flags/caps 0). */
export function expectErrorExclusive(msg: ServerToAgent): void {
  expect(msg.errorResponse).toBeDefined();
  expect(msg.remoteConfig).toBeUndefined();
  expect(msg.connectionSettings).toBeUndefined();
  expect(msg.packagesAvailable).toBeUndefined();
  expect(msg.flags).toBe(0n);
  expect(msg.capabilities).toBe(0n);
  expect(msg.agentIdentification).toBeUndefined();
  expect(msg.command).toBeUndefined();
  expect(msg.customCapabilities).toBeUndefined();
  expect(msg.customMessage).toBeUndefined();
}

/** BAD_REQUEST for `uid` (empty when the server could not read one), exclusive, with a message. */
export function expectBadRequest(s2a: ServerToAgent | undefined, uid: Uint8Array = new Uint8Array(0)): ServerToAgent {
  expect(s2a, 'a ServerToAgent body').toBeDefined();
  const msg = s2a!;
  expect(msg.errorResponse, 'error_response must be present').toBeDefined();
  expect(msg.errorResponse!.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
  expect(msg.errorResponse!.errorMessage.length, 'a human-readable error_message').toBeGreaterThan(0);
  expect(Buffer.from(msg.instanceUid).toString('hex')).toBe(Buffer.from(uid).toString('hex'));
  expectErrorExclusive(msg);
  return msg;
}

/** UNAVAILABLE with retry_info.retry_after_nanoseconds > 0, exclusive (case 30). */
export function expectUnavailable(msg: ServerToAgent, uid: Uint8Array): void {
  expect(msg.errorResponse, 'error_response must be present').toBeDefined();
  expect(msg.errorResponse!.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
  expect(msg.errorResponse!.Details.case).toBe('retryInfo');
  const nanos =
    msg.errorResponse!.Details.case === 'retryInfo' ? msg.errorResponse!.Details.value.retryAfterNanoseconds : 0n;
  expect(nanos > 0n, 'retry_after_nanoseconds > 0').toBe(true);
  expect(uidOf(msg.instanceUid)).toBe(uidOf(uid));
  expectErrorExclusive(msg);
}

export function hasFullStateFlag(msg: ServerToAgent): boolean {
  return (msg.flags & REPORT_FULL_STATE) !== 0n;
}

/** Retry-After as the reference client reads it: integer seconds (>= 0) or an HTTP-date. */
export function expectValidRetryAfter(value: string | string[] | undefined): number {
  expect(value, 'Retry-After header').toBeDefined();
  const v = Array.isArray(value) ? value[value.length - 1]! : value!;
  if (/^\d+$/.test(v.trim())) {
    const n = Number(v.trim());
    expect(n).toBeGreaterThanOrEqual(0);
    return n;
  }
  const date = Date.parse(v);
  expect(Number.isNaN(date), `Retry-After "${v}" is neither delay-seconds nor an HTTP-date`).toBe(false);
  return Math.max(0, Math.round((date - Date.now()) / 1000));
}

/** A UUIDv7: 16 bytes, version nibble 7 in byte 6, variant bits 10 in byte 8, not nil. */
export function expectUuidV7(bytes: Uint8Array | undefined): void {
  expect(bytes).toBeDefined();
  expect(bytes!.length).toBe(16);
  expect(bytes![6]! >> 4).toBe(7);
  expect(bytes![8]! >> 6).toBe(0b10);
  expect(bytes!.some((b) => b !== 0)).toBe(true);
}
