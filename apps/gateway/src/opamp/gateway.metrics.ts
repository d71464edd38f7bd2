import { counter, gauge, histogram } from '@opamp/telemetry';

/** Gateway metrics, created once per process. */
export const gatewayMetrics = {
  connections: gauge('opamp_gateway_ws_connections', 'Open OpAMP WebSocket connections on this pod'),
  messagesIn: counter('opamp_gateway_messages_in_total', 'AgentToServer messages accepted and appended to the bus', [
    'transport',
  ]),
  bytesIn: counter('opamp_gateway_bytes_in_total', 'AgentToServer bytes (after decompression) appended to the bus', [
    'transport',
  ]),
  malformed: counter('opamp_gateway_malformed_total', 'Messages refused as malformed', ['transport', 'reason']),
  messagesOut: counter('opamp_gateway_messages_out_total', 'ServerToAgent messages written to agents', ['transport']),
  outboundDropped: counter('opamp_gateway_outbound_dropped_total', 'Outbound messages not delivered', ['reason']),
  httpResponses: counter('opamp_gateway_http_responses_total', 'HTTP responses on /v1/opamp by status', ['status']),
  upgradesRefused: counter('opamp_gateway_ws_upgrades_refused_total', 'WS upgrades refused before the handshake', [
    'status',
  ]),
  closes: counter('opamp_gateway_ws_closes_total', 'WS connections closed, by close code', ['code']),
  httpRoundTrip: histogram(
    'opamp_gateway_http_round_trip_seconds',
    'HTTP poll: body read to fleet reply',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ),
  agentAuth: counter(
    'opamp_gateway_agent_auth_total',
    'Agent authentication of HTTP requests and WS upgrades: open, secret, token (admitted), refused (401), unavailable (503)',
    ['result'],
  ),
  tokenLookups: counter(
    'opamp_gateway_enrollment_token_lookups_total',
    'Enrollment token lookups answered from the in-process cache or from Redis',
    ['source'],
  ),
  uidHeaderMismatch: counter(
    'opamp_gateway_uid_header_mismatch_total',
    'HTTP requests whose OpAMP-Instance-UID header differs from the body uid',
  ),
};
