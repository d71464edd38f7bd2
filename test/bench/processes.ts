// Child processes of the benchmark: the real apps (from the compiled build), the baseline server
// and the client workers. Every child is registered here, so that a normal end, an error and
// SIGINT all stop them, and an exit hook SIGKILLs whatever is still alive if the benchmark itself
// dies. Reading a child's RSS and CPU time comes from /proc (Linux only, like the rest of the
// harness).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, readdirSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { REPO_ROOT } from '../../scripts/infra.js';
import type { WorkerEnvelope, WorkerRequest, WorkerResponse } from './client-protocol.js';

const SWC_REGISTER = ['--import', '@swc-node/register/esm-register'];
const TAIL_LINES = 40;

export function nodeBinary(): string {
  const local = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
  return existsSync(local) ? local : process.execPath;
}

/** The open-files limit (soft, hard) of this process: children inherit it, and one socket is one fd. */
export function fileLimits(): { soft: number; hard: number } {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '').trim().split(/\s+/).slice(3, 5);
    const parse = (v: string | undefined): number => (v === 'unlimited' ? Infinity : Number(v));
    return { soft: parse(soft), hard: parse(hard) };
  } catch {
    return { soft: NaN, hard: NaN };
  }
}

const children = new Set<BenchChild>();
let exitHook = false;

/** SIGTERM to every child still alive, SIGKILL after timeoutMs. */
export async function stopAllChildren(timeoutMs = 10_000): Promise<void> {
  await Promise.all([...children].map((c) => c.stop('SIGTERM', timeoutMs)));
}

/** SIGKILL to every child still alive (last resort: exit hook, second Ctrl-C). */
export function killAllChildren(): void {
  for (const c of children) c.kill9Sync();
}

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', killAllChildren);
}

export interface SpawnOptions {
  name: string;
  /** Arguments after the node binary. */
  args: string[];
  env?: NodeJS.ProcessEnv;
  logFile: string;
  /** Adds an IPC channel (client workers). */
  ipc?: boolean;
  /** Raise the soft open-files limit to this value first (`ulimit -n`; only up to the hard limit). */
  openFiles?: number;
  /** Copy output lines to the console. */
  echo?: boolean;
}

/** A child process started through `bash -c 'ulimit -n N; exec node ...'` (same pid as the node process). */
export class BenchChild {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private done = false;
  private readonly tail: string[] = [];
  private readonly log: WriteStream;

  constructor(opts: SpawnOptions) {
    installExitHook();
    this.name = opts.name;
    this.log = createWriteStream(opts.logFile, { flags: 'a' });
    const limit = opts.openFiles ?? fileLimits().hard;
    const script = Number.isFinite(limit) ? `ulimit -n ${limit} 2>/dev/null; exec "$0" "$@"` : 'exec "$0" "$@"';
    this.child = spawn('bash', ['-c', script, nodeBinary(), ...opts.args], {
      cwd: REPO_ROOT,
      env: opts.env ?? process.env,
      // Own process group: a Ctrl-C reaches the harness only, which then stops children in order.
      detached: true,
      stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) throw new Error(`${opts.name}: spawn failed`);
    this.pid = this.child.pid;
    children.add(this);
    const onData = (chunk: Buffer): void => {
      this.log.write(chunk);
      const lines = chunk.toString().split('\n').filter(Boolean);
      if (opts.echo) for (const l of lines) console.log(`[${this.name}] ${l}`);
      this.tail.push(...lines);
      if (this.tail.length > TAIL_LINES) this.tail.splice(0, this.tail.length - TAIL_LINES);
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.done = true;
        children.delete(this);
        this.log.end();
        resolve({ code, signal });
      });
      this.child.once('error', () => {
        this.done = true;
        children.delete(this);
        resolve({ code: 1, signal: null });
      });
    });
  }

  get alive(): boolean {
    return !this.done;
  }

  /** The last lines of output (for error messages). */
  lastOutput(): string {
    return this.tail.join('\n');
  }

  /** Signal (default SIGTERM), wait up to timeoutMs, then SIGKILL. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<void> {
    if (this.done) return;
    this.signal(signal);
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    if ((await Promise.race([this.exited, timer])) === 'timeout') await this.kill9();
  }

  async kill9(): Promise<void> {
    this.kill9Sync();
    await this.exited;
  }

  kill9Sync(): void {
    if (!this.done) this.signal('SIGKILL');
  }

  private signal(signal: NodeJS.Signals): void {
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Resident set size in bytes (/proc/<pid>/status VmRSS); NaN once the process is gone. */
  rssBytes(): number {
    return rssOf(this.pid);
  }

  /** User + system CPU seconds used so far. */
  cpuSeconds(): number {
    return cpuSecondsOf(this.pid);
  }
}

export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of one process (seconds); NaN if it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine so far, all cores (/proc/stat: everything but idle and iowait). */
export function machineCpuSeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - ticks[3]! - ticks[4]!) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** CPU seconds of a process and its direct children (Postgres: postmaster + backends). */
export function cpuSecondsOfTree(pid: number): number {
  let total = cpuSecondsOf(pid);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) total += (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** Redis INFO field `used_memory` (bytes), NaN when Redis does not answer. */
export function redisUsedMemory(port: number, timeoutMs = 5_000): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let text = '';
    const done = (v: number): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(NaN), timeoutMs);
    socket.on('connect', () => socket.write('INFO memory\r\n'));
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /\r\nused_memory:(\d+)\r\n/.exec(text);
      if (m) done(Number(m[1]));
    });
    socket.on('error', () => done(NaN));
  });
}

/** Throws when something already listens on 127.0.0.1:port. */
export function assertPortFree(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', () =>
      reject(new Error(`${what}: port ${port} on 127.0.0.1 is in use; stop that process or pass --base-port`)),
    );
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve()));
  });
}

/** Polls GET url until 200; throws with the child's output when it exits or the deadline passes. */
export async function waitReady(child: BenchChild, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!child.alive) throw new Error(`${child.name} exited before it was ready:\n${child.lastOutput()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${child.name} not ready at ${url} within ${timeoutMs / 1000} s (${last}):\n${child.lastOutput()}`);
}

/** Sum of each Prometheus sample of `name` (any labels) in a /metrics text. */
export function metricValue(text: string, name: string): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) {
      sum += value;
      found = true;
    }
  }
  return found ? sum : NaN;
}

/** Cumulative bucket counts (le → count, summed over label sets) of a Prometheus histogram. */
export function histogramBuckets(text: string, name: string): Map<number, number> {
  const out = new Map<number, number>();
  const re = new RegExp(`^${name}_bucket\\{(?:[^}]*,)?le="([^"]+)"[^}]*\\} (\\S+)$`);
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    out.set(le, (out.get(le) ?? 0) + Number(m[2]));
  }
  return out;
}

export async function scrape(baseUrl: string): Promise<string> {
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    return await res.text();
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Client workers

/** A client-worker.ts process and its request/response channel. */
export class ClientWorker {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly ready: Promise<void>;

  constructor(readonly proc: BenchChild) {
    let onReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (onReady = resolve));
    proc.child.on('message', (msg: WorkerResponse) => {
      if (msg.id === 0) return onReady();
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.ok) w.resolve(msg.result);
      else w.reject(new Error(`${proc.name}: ${msg.error}`));
    });
    void proc.exited.then(({ code, signal }) => {
      for (const w of this.waiting.values())
        w.reject(new Error(`${proc.name} exited (${signal ?? code}):\n${proc.lastOutput()}`));
      this.waiting.clear();
    });
  }

  static async start(name: string, logFile: string): Promise<ClientWorker> {
    const proc = new BenchChild({
      name,
      args: [...SWC_REGISTER, path.join('test', 'bench', 'client-worker.ts')],
      logFile,
      ipc: true,
    });
    const worker = new ClientWorker(proc);
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${name} did not start:\n${proc.lastOutput()}`)), 60_000).unref(),
    );
    await Promise.race([worker.ready, timeout, proc.exited.then(() => Promise.reject(new Error(proc.lastOutput())))]);
    return worker;
  }

  request<T>(req: WorkerRequest, timeoutMs = 600_000): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.proc.name}: ${req.cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (!this.proc.child.connected) {
        this.waiting.delete(id);
        clearTimeout(timer);
        reject(new Error(`${this.proc.name} is gone`));
        return;
      }
      this.proc.child.send({ ...req, id } satisfies WorkerEnvelope);
    });
  }
}

export function tsProcessArgs(file: string, ...args: string[]): string[] {
  return [...SWC_REGISTER, file, ...args];
}
