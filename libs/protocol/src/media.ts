// Transport discrimination (checklist §1.1): a request with a protobuf Content-Type is plain HTTP.
// Unlike the reference server's exact string compare, we parse the media type, so
// `Application/X-Protobuf; charset=binary` is still protobuf.

export const PROTOBUF_CONTENT_TYPE = 'application/x-protobuf';

/** True when the media type (before any `;` parameters) is application/x-protobuf, case-insensitive. */
export function isProtobufContentType(header: string | undefined | null): boolean {
  if (!header) return false;
  const semi = header.indexOf(';');
  const mediaType = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  return mediaType === PROTOBUF_CONTENT_TYPE;
}
