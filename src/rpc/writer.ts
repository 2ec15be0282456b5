import type { Writable } from 'node:stream';
import type { Message, MessageWriter } from 'vscode-jsonrpc';
// Deep import, as in reader.ts, to keep cold start low.
import { AbstractMessageWriter } from 'vscode-jsonrpc/lib/common/messageWriter.js';
import { encodeFrame, type Framing } from './frame_decoder.js';
import { restoreRawIds } from './raw_id.js';

/**
 * vscode-jsonrpc writer for `packet4` or `content-length` framing. Each frame is one buffer
 * (header and body together); frames produced in the same tick are corked into a single
 * writev, which is what makes pipelined replies cheap.
 */
export class FramedMessageWriter extends AbstractMessageWriter implements MessageWriter {
  private corked = false;
  private ended = false;
  private watch: { maxBufferedBytes: number; pause(): void; resume(): void; paused: boolean } | undefined;

  constructor(
    private readonly writable: Writable,
    private readonly framing: Framing = 'packet4',
  ) {
    super();
    writable.on('error', (err) => {
      this.ended = true;
      this.fireError(err);
    });
    writable.on('close', () => {
      this.ended = true;
      this.fireClose();
    });
  }

  write(msg: Message): Promise<void> {
    try {
      this.writeValue(msg);
      return Promise.resolve();
    } catch (err) {
      this.fireError(err, msg);
      return Promise.reject(err);
    }
  }

  /**
   * Writes any JSON value (a message or a batch array) as one frame. Throws synchronously
   * when the value cannot be serialized, before anything is written.
   */
  writeValue(value: unknown): void {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('value is not serializable to JSON');
    const body = restoreRawIds(json);
    if (this.ended) return;
    if (!this.corked) {
      this.corked = true;
      this.writable.cork();
      process.nextTick(() => this.uncork());
    }
    this.writable.write(encodeFrame(this.framing, body));
    this.checkPressure();
  }

  /**
   * Backpressure: once more than `maxBufferedBytes` of frames wait to leave (the peer is not
   * reading), `pause` is called (the server stops reading its input, so the peer's writes
   * block in turn); `resume` once the buffer has drained. Memory stays bounded by this limit
   * plus what one input chunk can produce, whatever the peer does.
   */
  watchBuffer(maxBufferedBytes: number, pause: () => void, resume: () => void): void {
    this.watch = { maxBufferedBytes, pause, resume, paused: false };
  }

  /** Bytes written but not yet handed to the OS. */
  get bufferedBytes(): number {
    return this.writable.writableLength;
  }

  private checkPressure(): void {
    const w = this.watch;
    if (!w || w.paused || this.writable.writableLength <= w.maxBufferedBytes) return;
    w.paused = true;
    w.pause();
    const release = (): void => {
      this.writable.off('drain', release);
      this.writable.off('close', release);
      w.paused = false;
      w.resume();
    };
    this.writable.on('drain', release);
    this.writable.on('close', release);
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.writable.uncork();
  }

  /** Resolves once everything written so far has left the process (or the stream is gone). */
  flush(): Promise<void> {
    this.uncork();
    if (this.ended || !this.writable.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.writable.off('drain', done);
        this.writable.off('close', done);
        this.writable.off('error', done);
        resolve();
      };
      this.writable.once('drain', done);
      this.writable.once('close', done);
      this.writable.once('error', done);
    });
  }

  end(): void {
    this.uncork();
  }
}
