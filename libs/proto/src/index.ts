// Public entry of @opamp/proto: the protobuf-es types generated from proto/ (see buf.gen.yaml).
// Everything under ./gen is generated: regenerate with `buf generate`, never edit by hand
// (scripts/check-generated.sh fails CI when the committed output is stale).
export * from './gen/opamp/v1/anyvalue_pb.js';
export * from './gen/opamp/v1/opamp_pb.js';
export * from './gen/opampcp/bus/v1/bus_pb.js';
export * from './gen/opampcp/fleet/v1/state_pb.js';
