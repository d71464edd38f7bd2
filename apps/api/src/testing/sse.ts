// A small Server-Sent Events client for tests (medium and e2e): connects with fetch, parses the
// stream into events, waits for them with a deadline.

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export interface SseConnectResult {
  status: number;
  type: string;
  /** Present when the stream opened (200 text/event-stream). */
  stream: SseStream | undefined;
  /** The body of a refused request (problem+json). */
  body: unknown;
}

export class SseStream {
  private buffer = '';
  private readonly events: SseEvent[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private readonly decoder = new TextDecoder();
  private pumping = false;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly abort: AbortController,
    /** Start reading at once (false: the client reads nothing until read() is called: a slow consumer). */
    start = true,
  ) {
    if (start) this.read();
  }

  /** Starts (or keeps) pulling the body. */
  read(): void {
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const { value, done } = await this.reader.read();
        if (done) break;
        this.buffer += this.decoder.decode(value, { stream: true });
        let i: number;
        while ((i = this.buffer.indexOf('\n\n')) >= 0) {
          const block = this.buffer.slice(0, i);
          this.buffer = this.buffer.slice(i + 2);
          const e = parseBlock(block);
          if (e) this.events.push(e);
        }
        this.wake();
      }
    } catch {
      // aborted
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** True once the server ended the stream (or it was closed). */
  get isEnded(): boolean {
    return this.ended;
  }

  /** Resolves when the stream has ended (rejects after timeoutMs). */
  async waitEnded(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('the event stream did not end in time');
      await this.waitChange(deadline);
    }
  }

  /** The next event (rejects after timeoutMs, or when the stream ends first). */
  async next(timeoutMs = 10_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.shift();
      if (e) return e;
      if (this.ended) throw new Error('the event stream ended');
      if (Date.now() > deadline) throw new Error(`no event within ${timeoutMs} ms`);
      await this.waitChange(deadline);
    }
  }

  /** Events until `until` holds for one (included), skipping nothing. */
  async until(until: (e: SseEvent) => boolean, timeoutMs = 10_000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    const out: SseEvent[] = [];
    for (;;) {
      const e = await this.next(Math.max(1, deadline - Date.now()));
      out.push(e);
      if (until(e)) return out;
    }
  }

  private waitChange(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
      this.waiter = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  close(): void {
    this.abort.abort();
  }
}

function parseBlock(block: string): SseEvent | undefined {
  let id: string | undefined;
  let event = 'message';
  const data: string[] = [];
  let any = false;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else continue;
    any = true;
  }
  if (!any || (data.length === 0 && id === undefined)) return undefined;
  return { id, event, data: data.join('\n') };
}

/** Opens an event stream; a refused request resolves with its status and body instead. */
export async function connectSse(
  url: string,
  headers: Record<string, string> = {},
  opts: { read?: boolean } = {},
): Promise<SseConnectResult> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const type = res.headers.get('content-type') ?? '';
  if (res.status !== 200 || !type.startsWith('text/event-stream') || !res.body) {
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, type, stream: undefined, body };
  }
  return { status: 200, type, stream: new SseStream(res.body.getReader(), abort, opts.read ?? true), body: undefined };
}
