/**
 * The Elixir side of the wire, faked in TypeScript for sidecar tests that need callbacks:
 * spawns the built sidecar, speaks raw frames (the test-side codec, not src/rpc), answers
 * `pipeline/execute` with a handler of the test's choosing, and sends requests of its own.
 * The real BEAM is exercised by elixir_client's tests; this keeps Node-side suites self-contained.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { frame, StrictFrameReader } from '../support/frames.js';
import { CLI, ROOT, ensureBuilt } from '../support/build.js';
import type { LM } from '../../src/lm/types.js';
import { referenceExecutor } from '../pipeline/helpers.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface RpcReply {
  result?: Json;
  error?: { code: number; message: string; data?: Json };
}

export type CallbackHandler = (params: Json, id: number | string) => Promise<Json>;

export class FakeElixir {
  readonly child: ChildProcessWithoutNullStreams;
  readonly notifications: Array<{ method: string; params: Json }> = [];
  readonly cancelled: Array<number | string> = [];
  readonly callbacks: Array<{ method: string; params: Json }> = [];
  stderr = '';
  private nextId = 1;
  private readonly pending = new Map<number | string, (r: RpcReply) => void>();
  private readonly handlers = new Map<string, CallbackHandler>();
  private readonly reader: StrictFrameReader;

  constructor(env: NodeJS.ProcessEnv = {}) {
    ensureBuilt();
    this.child = spawn(process.execPath, [CLI, 'serve'], {
      cwd: ROOT,
      env: { ...process.env, ELEXIRION_LOG_LEVEL: 'warn', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.reader = new StrictFrameReader('packet4', (v) => this.onMessage(v as Json));
    this.child.stdout.on('data', (d: Buffer) => this.reader.push(d));
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    this.child.stdin.on('error', () => {});
  }

  get problems(): string[] {
    return this.reader.problems;
  }

  /** Serve a Node -> Elixir request method. */
  on(method: string, handler: CallbackHandler): this {
    this.handlers.set(method, handler);
    return this;
  }

  send(value: Json): void {
    this.child.stdin.write(frame('packet4', JSON.stringify(value)));
  }

  request(method: string, params: Json, id: number | string = this.nextId++): Promise<RpcReply> {
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  async initialize(): Promise<void> {
    const r = await this.request('initialize', { protocolVersion: '1.0', clientInfo: { name: 'fake-elixir' } });
    if (!r.result) throw new Error(`initialize failed: ${JSON.stringify(r.error)}`);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  private onMessage(msg: Json): void {
    if (Array.isArray(msg)) return msg.forEach((m) => this.onMessage(m));
    if (msg.method === undefined) {
      this.pending.get(msg.id)?.(msg);
      this.pending.delete(msg.id);
      return;
    }
    if (msg.id === undefined) {
      if (msg.method === '$/cancelRequest') this.cancelled.push(msg.params.id);
      else this.notifications.push({ method: msg.method, params: msg.params });
      return;
    }
    this.callbacks.push({ method: msg.method, params: msg.params });
    const handler = this.handlers.get(msg.method);
    if (!handler) {
      this.send({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: `no handler for ${msg.method}` } });
      return;
    }
    handler(msg.params, msg.id).then(
      (result) => this.send({ jsonrpc: '2.0', id: msg.id, result }),
      (err: Error) => this.send({ jsonrpc: '2.0', id: msg.id, error: { code: -32603, message: err.message } }),
    );
  }
}

/**
 * Answers `pipeline/execute` the way elixir_client's Reference executor does: each LLM step is
 * one `lm/generate` back to the sidecar, tagged with the run id and carrying the fresh-sample
 * hints (rolloutId, temperature) of the execution context. `delayMs` slows every execution.
 */
export function serveReferenceExecutions(e: FakeElixir, opts: { delayMs?: number } = {}): FakeElixir {
  e.on('pipeline/execute', async (params) => {
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    const { context } = params;
    const options: Record<string, unknown> = {};
    if (context.rolloutId !== undefined) options.rolloutId = context.rolloutId;
    if (context.temperature !== undefined) options.temperature = context.temperature;
    const lm: LM = {
      provider: 'sidecar',
      model: context.lm,
      generate: async (messages) => {
        const r = await e.request('lm/generate', {
          messages,
          lm: context.lm,
          runId: context.runId,
          ...(Object.keys(options).length ? { options } : {}),
        });
        if (r.error) throw new Error(r.error.message);
        return r.result;
      },
    };
    return referenceExecutor(lm)(params.config, params.inputs, context);
  });
  return e;
}
