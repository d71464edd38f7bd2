import { describe, expect, it } from 'vitest';
import { isProtobufContentType, PROTOBUF_CONTENT_TYPE } from './media.js';

describe('isProtobufContentType', () => {
  it.each([
    [PROTOBUF_CONTENT_TYPE, true],
    ['Application/X-Protobuf', true],
    ['application/x-protobuf; charset=binary', true],
    ['  application/x-protobuf  ;foo=bar', true],
    ['application/json', false],
    ['application/protobuf', false],
    ['application/x-protobuf2', false],
    ['text/plain; application/x-protobuf', false],
    ['', false],
    [undefined, false],
    [null, false],
  ])('%j -> %s', (header, expected) => {
    expect(isProtobufContentType(header)).toBe(expected);
  });
});
