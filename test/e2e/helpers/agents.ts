// Small builders for AgentToServer messages used across the e2e files.
import { expect } from 'vitest';
import { uuidv7 } from '@opamp/protocol';
import { description, postOpamp, uidText, type AgentToServerInit } from '../../support/opamp-raw-client.js';
import { sleep } from '../../support/wait.js';
import { expectAck } from './opamp-assert.js';
import type { Api } from './stack.js';

export const newUid = (): Uint8Array => uuidv7();

/** A full status report for an agent with only ReportsStatus (0x1): description is all it owes. */
export function fullReport(
  uid: Uint8Array,
  seq: bigint,
  extra: Partial<AgentToServerInit> = {},
  name = 'e2e-agent',
): AgentToServerInit {
  return {
    instanceUid: uid,
    sequenceNum: seq,
    capabilities: 0x1n,
    agentDescription: description(
      { 'service.name': name, 'service.instance.id': uidText(uid), 'service.version': '1.2.3' },
      { 'host.name': 'e2e-host', 'os.type': 'linux' },
    ),
    ...extra,
  };
}

/** A "compressed" message: uid, seq and caps only. */
export function poll(
  uid: Uint8Array,
  seq: bigint,
  caps = 0x1n,
  extra: Partial<AgentToServerInit> = {},
): AgentToServerInit {
  return { instanceUid: uid, sequenceNum: seq, capabilities: caps, ...extra };
}

/**
 * Proves that `uid` never got an agent record: registers a fresh barrier agent over HTTP, waits
 * until the API shows it (so the write-behind has flushed past the suspicious input), then checks
 * that `uid` stays absent for a few more flush intervals.
 */
export async function expectNeverStored(api: Api, opampHttp: string, uid: Uint8Array): Promise<void> {
  const barrier = newUid();
  const res = await postOpamp(opampHttp, fullReport(barrier, 0n, {}, 'e2e-barrier'));
  expect(res.status).toBe(200);
  expectAck(res.serverToAgent, barrier);
  await api.waitAgent(barrier, () => undefined);
  for (let i = 0; i < 4; i++) {
    expect(await api.agent(uid), `agent ${uidText(uid)} must not have been created`).toBeUndefined();
    await sleep(100);
  }
}
