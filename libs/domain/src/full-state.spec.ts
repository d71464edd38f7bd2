import { create } from '@bufbuild/protobuf';
import { AgentReportStateSchema } from '@opamp/proto';
import { decodeAgentToServer } from '@opamp/protocol';
import { describe, expect, it } from 'vitest';
import { isBarePoll, isCompleteMessage, isSequenceGap, needsFullState } from './full-state.js';
import { mergeAgentToServer } from './merge.js';
import { CAPS, a2s, fullReport, hex } from './spec-helpers.js';
import type { AgentToServer } from '@opamp/proto';

/** Feeds messages through merge + needsFullState like the fleet does; returns the flag per message. */
function run(msgs: AgentToServer[], known = false, lastSeq?: bigint): boolean[] {
  let stored = create(AgentReportStateSchema);
  let isKnown = known;
  let seq = lastSeq;
  return msgs.map((msg) => {
    const flag = needsFullState({ known: isKnown, lastSeq: seq, msg, stored });
    stored = mergeAgentToServer(stored, msg).report;
    isKnown = true;
    seq = msg.sequenceNum;
    return flag;
  });
}

const CAPS_ALL = CAPS.ReportsStatus | CAPS.ReportsEffectiveConfig | CAPS.ReportsRemoteConfig | CAPS.ReportsHealth;

describe('needsFullState (§3.3 [REC])', () => {
  it('case 33: gap on a compressed message sets the flag, a full one does not', () => {
    const flags = run([
      fullReport(0n, CAPS_ALL),
      a2s({ sequenceNum: 1n, capabilities: CAPS_ALL }),
      a2s({ sequenceNum: 3n, capabilities: CAPS_ALL }),
      fullReport(4n, CAPS_ALL),
    ]);
    expect(flags).toEqual([false, false, true, false]);
  });

  it('case 33: state lost (agent unknown), compressed seq 5 → flag', () => {
    expect(
      needsFullState({
        known: false,
        lastSeq: undefined,
        msg: a2s({ sequenceNum: 5n, capabilities: CAPS_ALL }),
        stored: create(AgentReportStateSchema),
      }),
    ).toBe(true);
  });

  it('case 34: no loop: after the flag a full contiguous report, then compressed contiguous ones → no flag', () => {
    const flags = run(
      [
        a2s({ sequenceNum: 7n, capabilities: CAPS_ALL }),
        fullReport(8n, CAPS_ALL),
        a2s({ sequenceNum: 9n }),
        a2s({ sequenceNum: 10n, capabilities: CAPS_ALL }),
      ],
      true,
      2n,
    );
    expect(flags).toEqual([true, false, false, false]);
  });

  it('a gap on a complete message does not set the flag (§3.20 item 6)', () => {
    expect(run([fullReport(0n, CAPS_ALL), fullReport(5n, CAPS_ALL)])).toEqual([false, false]);
  });

  it('a duplicate (same seq) compressed message is a gap', () => {
    expect(run([fullReport(0n, CAPS_ALL), a2s({ sequenceNum: 1n }), a2s({ sequenceNum: 1n })])).toEqual([
      false,
      false,
      true,
    ]);
  });

  it('case 36 / §3.20 item 3: a bare poll from a complete known agent is not a gap', () => {
    const flags = run([fullReport(0n, CAPS_ALL), a2s({}), a2s({}), a2s({})]);
    expect(flags).toEqual([false, false, false, false]);
  });

  it('a bare poll from a known but incomplete agent still asks for the full state', () => {
    const flags = run([a2s({ sequenceNum: 0n, capabilities: CAPS_ALL }), a2s({})]);
    expect(flags).toEqual([true, true]);
  });

  it('case 37: seq compare in bigint: 2^53+1 then 2^53+2 is contiguous; 2^64-1 decodes', () => {
    const big = 2n ** 53n;
    expect(isSequenceGap(true, big + 1n, big + 2n)).toBe(false);
    expect(isSequenceGap(true, big + 1n, big + 3n)).toBe(true);
    expect(run([fullReport(big + 1n, CAPS_ALL), a2s({ sequenceNum: big + 2n })], true, big)).toEqual([false, false]);
    const r = decodeAgentToServer(hex('0a10 0192e3a45b6c7d8e9f0123456789abcd 10 ff ff ff ff ff ff ff ff ff 01'));
    expect(r.ok && r.message.sequenceNum).toBe(2n ** 64n - 1n);
    if (r.ok)
      expect(
        needsFullState({
          known: true,
          lastSeq: 2n ** 64n - 2n,
          msg: r.message,
          stored: create(AgentReportStateSchema),
        }),
      ).toBe(false);
  });

  it('case 37: caps with bit 40 set are accepted; unknown bits do not change completeness', () => {
    const caps = (1n << 40n) | CAPS.ReportsStatus;
    expect(isCompleteMessage(fullReport(0n, caps), caps)).toBe(true);
  });

  it('completeness follows the capabilities (message caps, else stored caps)', () => {
    const caps = CAPS.ReportsStatus | CAPS.ReportsHealth;
    expect(isCompleteMessage(a2s({ agentDescription: {} }), caps)).toBe(false);
    expect(isCompleteMessage(a2s({ agentDescription: {}, health: {} }), caps)).toBe(true);
    expect(isCompleteMessage(a2s({ health: {} }), caps)).toBe(false); // description is always expected
    for (const [bit, part] of [
      [CAPS.ReportsEffectiveConfig, 'effectiveConfig'],
      [CAPS.ReportsRemoteConfig, 'remoteConfigStatus'],
      [CAPS.ReportsPackageStatuses, 'packageStatuses'],
      [CAPS.ReportsAvailableComponents, 'availableComponents'],
      [CAPS.ReportsConnectionSettingsStatus, 'connectionSettingsStatus'],
    ] as const) {
      const c = CAPS.ReportsStatus | bit;
      expect(isCompleteMessage(a2s({ agentDescription: {} }), c), part).toBe(false);
      expect(isCompleteMessage(a2s({ agentDescription: {}, [part]: {} }), c), part).toBe(true);
    }
    // stored caps used when the message says 0
    const stored = create(AgentReportStateSchema, { capabilities: CAPS.ReportsStatus | CAPS.ReportsHealth });
    expect(
      needsFullState({ known: true, lastSeq: 0n, msg: a2s({ sequenceNum: 5n, agentDescription: {} }), stored }),
    ).toBe(true);
    expect(
      needsFullState({
        known: true,
        lastSeq: 0n,
        msg: a2s({ sequenceNum: 5n, agentDescription: {}, health: {} }),
        stored,
      }),
    ).toBe(false);
  });

  it('isBarePoll recognises {uid} only', () => {
    expect(isBarePoll(a2s({}))).toBe(true);
    expect(isBarePoll(a2s({ sequenceNum: 1n }))).toBe(false);
    expect(isBarePoll(a2s({ capabilities: 1n }))).toBe(false);
    expect(isBarePoll(a2s({ agentDisconnect: {} }))).toBe(false);
  });
});
