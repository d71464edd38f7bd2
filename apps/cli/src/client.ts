// The REST client: JSON over fetch with `Authorization: Bearer <key>`, problem+json errors turned
// into ApiError, unreachable servers into NetworkError naming the URL.
import { ApiError, NetworkError, type Problem } from './errors.js';

export type QueryValue = string | number | boolean | undefined | readonly string[];

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

export interface ApiClientOptions {
  /** Server root, e.g. http://localhost:8080 (a trailing /api/v1 is accepted too). */
  url: string;
  key: string | undefined;
  fetch?: FetchFn;
  /** Per request. Default 30 s. */
  timeoutMs?: number;
  userAgent?: string;
}

/** `http://host:8080/`, `http://host:8080/api/v1` → `http://host:8080`. Throws on anything but http(s). */
export function normaliseServerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`"${raw}" is not a URL; give the API's address, e.g. http://localhost:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`"${raw}" is not an http(s) URL; give the API's address, e.g. http://localhost:8080`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new Error(`"${raw}" has a query or fragment; give only the API's address, e.g. http://localhost:8080`);
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return `${url.origin}${path}`;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly fetchFn: FetchFn;
  private readonly timeoutMs: number;

  constructor(private readonly opts: ApiClientOptions) {
    this.baseUrl = normaliseServerUrl(opts.url);
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** `/agents` → `http://host/api/v1/agents?…` */
  urlOf(path: string, query: Record<string, QueryValue> = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v as readonly string[]) params.append(k, item);
      else params.append(k, String(v));
    }
    const qs = params.toString();
    return `${this.baseUrl}/api/v1${path}${qs === '' ? '' : `?${qs}`}`;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const url = this.urlOf(path, opts.query);
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (this.opts.key) headers.authorization = `Bearer ${this.opts.key}`;
    if (this.opts.userAgent) headers['user-agent'] = this.opts.userAgent;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new NetworkError(url, err);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new NetworkError(url, err);
    }
    const type = res.headers.get('content-type') ?? '';
    let parsed: unknown = undefined;
    if (/json/i.test(type) && text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) {
      const problem = isObject(parsed) ? (parsed as Problem) : undefined;
      throw new ApiError(res.status, method, url, problem, text.slice(0, 1000), res.statusText);
    }
    if (parsed === undefined && text !== '') {
      throw new ApiError(res.status, method, url, undefined, `expected JSON, got ${type || 'no content type'}`);
    }
    return { status: res.status, body: parsed as T };
  }

  get<T>(path: string, query?: Record<string, QueryValue>): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path, { query });
  }

  post<T>(path: string, body?: unknown): Promise<ApiResponse<T>> {
    return this.request<T>('POST', path, { body });
  }

  patch<T>(path: string, body?: unknown): Promise<ApiResponse<T>> {
    return this.request<T>('PATCH', path, { body });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Path segment: ids and names are URL-encoded so a stray `/` cannot reach another route. */
export const seg = (s: string | number): string => encodeURIComponent(String(s));
