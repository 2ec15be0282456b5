import { openSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { createLogger, type LogLevel } from '../../src/sidecar/logger.js';
import { methods as defaultMethods } from '../../src/sidecar/methods/index.js';
import type { AnyMethodDefinition } from '../../src/sidecar/registry.js';
import { startSidecar, type Sidecar, type SidecarOptions } from '../../src/sidecar/server.js';
import { frame, StrictFrameReader } from './frames.js';

/** A sidecar running inside the test process over in-memory streams (real framing, real endpoint). */
export class InProcessSidecar {
  readonly input = new PassThrough();
  readonly output = new PassThrough();
  readonly exits: number[] = [];
  readonly sidecar: Sidecar;
  readonly reader: StrictFrameReader;
  private queue: unknown[] = [];
  private waiters: Array<(v: unknown) => void> = [];

  constructor(extra: AnyMethodDefinition[], opts: Partial<SidecarOptions> & { level?: LogLevel } = {}) {
    const logger = createLogger(opts.level ?? 'silent', openSync('/dev/null', 'w'));
    this.sidecar = startSidecar({
      input: this.input,
      output: this.output,
      methods: [...defaultMethods, ...extra],
      exit: (code) => this.exits.push(code),
      installProcessHandlers: false,
      logger,
      ...opts,
    });
    this.reader = new StrictFrameReader('packet4', (v) => {
      const w = this.waiters.shift();
      if (w) w(v);
      else this.queue.push(v);
    });
    this.output.on('data', (d: Buffer) => this.reader.push(d));
  }

  send(value: unknown): void {
    this.input.write(frame('packet4', JSON.stringify(value)));
  }

  next(timeoutMs = 2000): Promise<unknown> {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((v) => {
        clearTimeout(t);
        resolve(v);
      });
    });
  }

  get queued(): number {
    return this.queue.length;
  }

  async initialize(): Promise<void> {
    this.send({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '1.0' } });
    const r = (await this.next()) as { result?: unknown };
    if (!r.result) throw new Error(JSON.stringify(r));
  }
}
