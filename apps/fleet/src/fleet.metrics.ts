import { counter, gauge, histogram } from '@opamp/telemetry';

/** Prometheus metrics of the fleet service (served at /metrics). */
export const fleetMetrics = {
  messagesProcessed: counter('opamp_fleet_messages_processed_total', 'Inbound envelopes processed, by kind.', ['kind']),
  repliesSent: counter(
    'opamp_fleet_replies_sent_total',
    'ServerToAgent messages appended to gateway outbound streams, by type (reply, push, error).',
    ['type'],
  ),
  fullStateRequests: counter('opamp_fleet_full_state_requests_total', 'Replies that set ReportFullState.'),
  uidAssignments: counter(
    'opamp_fleet_uid_assignments_total',
    'New instance uids handed out, by reason (requested, duplicate).',
    ['reason'],
  ),
  duplicates: counter(
    'opamp_fleet_duplicate_uids_total',
    'Same uid on a second live connection, by action (reconnect, clone).',
    ['action'],
  ),
  commandsRejected: counter('opamp_fleet_commands_rejected_total', 'Control commands refused, by kind.', ['kind']),
  offline: counter('opamp_fleet_agents_offline_total', 'Agents marked offline by the liveness deadline.'),
  flushBatchSize: histogram(
    'opamp_fleet_flush_batch_size',
    'Agents written per write-behind batch.',
    [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
  ),
  flushDuration: histogram(
    'opamp_fleet_flush_duration_seconds',
    'Duration of one write-behind batch (Postgres round trip included).',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  ),
  flushErrors: counter('opamp_fleet_flush_errors_total', 'Write-behind batches that failed (retried with backoff).'),
  rowsWritten: counter(
    'opamp_fleet_postgres_rows_written_total',
    'Rows written to Postgres by the write-behind, by table.',
    ['table'],
  ),
  ownedShards: gauge('opamp_fleet_owned_shards', 'Inbound shards this replica holds a lease for.'),
  agentsInMemory: gauge('opamp_fleet_agents_in_memory', 'Agent states cached in memory for the owned shards.'),
  processingLatency: histogram(
    'opamp_fleet_processing_latency_seconds',
    'From gateway receipt (received_at) to the reply appended to the outbound stream.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ),
  batchErrors: counter('opamp_fleet_batch_errors_total', 'Inbound batches that failed and will be retried.'),
  redelivered: counter(
    'opamp_fleet_redelivered_total',
    'AgentToServer entries delivered again after their batch was committed (lost ack, crashed replica); not answered twice.',
  ),
};
