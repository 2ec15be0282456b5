import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { CLI, ROOT } from './build.js';
import { frame, StrictFrameReader, type Framing } from './frames.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

/** The built sidecar as a child process, spoken to in raw bytes. */
export class SidecarProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly reader: StrictFrameReader;
  readonly received: unknown[] = [];
  stderr = '';
  private queue: unknown[] = [];
  private waiters: Array<(v: unknown) => void> = [];
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | undefined;

  constructor(
    readonly framing: Framing = 'packet4',
    extraArgs: string[] = [],
    env: NodeJS.ProcessEnv = {},
  ) {
    const args = [CLI, 'serve', ...(framing === 'packet4' ? [] : ['--framing', framing]), ...extraArgs];
    this.child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ELEXIRION_LOG_LEVEL: 'warn', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.reader = new StrictFrameReader(framing, (v) => {
      this.received.push(v);
      const w = this.waiters.shift();
      if (w) w(v);
      else this.queue.push(v);
    });
    this.child.stdout.on('data', (d: Buffer) => this.reader.push(d));
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    this.child.stdin.on('error', () => {}); // EPIPE after the child exits is expected in some tests
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal, at: performance.now() };
        resolve(this.exitInfo);
      });
    });
  }

  send(value: unknown): void {
    this.sendBody(Buffer.from(JSON.stringify(value), 'utf8'));
  }

  sendBody(body: Buffer | string): void {
    this.child.stdin.write(frame(this.framing, body));
  }

  sendBytes(bytes: Buffer): void {
    this.child.stdin.write(bytes);
  }

  /** Next frame from stdout (rejects after timeoutMs). */
  next(timeoutMs = 5000): Promise<unknown> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no frame within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      const w = (v: unknown): void => {
        clearTimeout(timer);
        resolve(v);
      };
      this.waiters.push(w);
    });
  }

  get pendingFrames(): number {
    return this.queue.length;
  }

  async request(value: Record<string, unknown>): Promise<unknown> {
    this.send(value);
    return this.next();
  }

  async initialize(protocolVersion: string): Promise<unknown> {
    const reply = (await this.request({
      jsonrpc: '2.0',
      id: '__init__',
      method: 'initialize',
      params: { protocolVersion, clientInfo: { name: 'wire-tests' } },
    })) as { result?: unknown };
    if (!reply.result) throw new Error(`initialize failed: ${JSON.stringify(reply)}`);
    return reply.result;
  }

  /** Closes stdin and waits for exit (kills after timeoutMs). */
  async close(timeoutMs = 3000): Promise<ExitInfo> {
    if (!this.exitInfo) this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }

  /** Well-formedness of everything the sidecar wrote to stdout. */
  stdoutProblems(): string[] {
    const p = [...this.reader.problems];
    if (this.reader.leftover) p.push(`${this.reader.leftover} bytes of an incomplete frame`);
    return p;
  }
}
