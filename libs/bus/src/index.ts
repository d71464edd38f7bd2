export * from './keys.js';
export * from './shard.js';
export * from './envelopes.js';
export * from './redis.js';
export * from './publisher.js';
export * from './outbound-reader.js';
export * from './lease.js';
export * from './inbound-consumer.js';
