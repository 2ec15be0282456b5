import { ElexirionError } from '../errors.js';
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import type { DataCallback, Disposable, Message } from 'vscode-jsonrpc';
// Deep import: the package entry loads the whole connection stack (~20 ms of cold start);
// the abstract reader needs none of it.
import { AbstractMessageReader } from 'vscode-jsonrpc/lib/common/messageReader.js';
import { keepRawIds } from './raw_id.js';
import { createFrameDecoder, DEFAULT_MAX_FRAME_BYTES, type FrameDecoder, type Framing } from './frame_decoder.js';

export type FrameErrorKind = 'parse' | 'too-large' | 'framing';

/**
 * A frame that could not become a JSON value. Raised through the reader's `onError`; the
 * conformance layer answers it (-32700 for parse/framing, -32600 for too-large) with id null.
 */
export class FrameError extends ElexirionError {
  override readonly code: string = 'FRAME_ERROR';
  constructor(
    readonly kind: FrameErrorKind,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

export interface FramedReaderOptions {
  framing?: Framing;
  maxFrameBytes?: number;
}

/**
 * vscode-jsonrpc reader for length-prefixed (`packet4`) or LSP (`content-length`) framing.
 * It delivers every frame that is valid UTF-8 JSON as-is — objects, arrays (batches) and
 * even scalars — because judging whether a value is a valid request is the conformance
 * layer's job, not the transport's. Everything else is reported through `onError` as a
 * `FrameError`, and reading goes on.
 */
export class FramedMessageReader extends AbstractMessageReader {
  private decoder: FrameDecoder | undefined;
  private callback: ((value: unknown) => void) | undefined;
  private readonly framing: Framing;
  private readonly maxFrameBytes: number;
  private closed = false;
  private frameBytes = 0;

  constructor(
    private readonly readable: Readable,
    options: FramedReaderOptions = {},
  ) {
    super();
    this.framing = options.framing ?? 'packet4';
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Size of the frame being delivered (valid during the listen callback). */
  get lastFrameBytes(): number {
    return this.frameBytes;
  }

  /** True when the input ended in the middle of a frame. */
  get truncated(): boolean {
    return this.decoder?.midFrame ?? false;
  }

  listen(callback: DataCallback): Disposable {
    this.callback = callback as (value: unknown) => void;
    this.decoder = createFrameDecoder(this.framing, this.maxFrameBytes, {
      frame: (body) => this.onFrame(body),
      oversize: (bytes, maxBytes) =>
        this.fireError(
          new FrameError('too-large', `Frame of ${bytes} bytes exceeds the limit of ${maxBytes} bytes`, {
            frameBytes: bytes,
            maxFrameBytes: maxBytes,
          }),
        ),
      malformed: (reason) => this.fireError(new FrameError('framing', `Parse error: ${reason}`)),
    });
    const decoder = this.decoder;
    const onData = (chunk: Buffer | string): void => {
      decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    };
    const onEnd = (): void => this.close();
    const onError = (err: Error): void => {
      this.fireError(err);
      this.close();
    };
    this.readable.on('data', onData);
    this.readable.on('end', onEnd);
    this.readable.on('close', onEnd);
    this.readable.on('error', onError);
    return {
      dispose: () => {
        this.readable.off('data', onData);
        this.readable.off('end', onEnd);
        this.readable.off('close', onEnd);
        this.readable.off('error', onError);
        this.callback = undefined;
      },
    };
  }

  /** Stops reading the input (the peer's writes then block once the pipe is full). */
  pause(): void {
    this.readable.pause();
  }

  resume(): void {
    if (!this.closed) this.readable.resume();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fireClose();
  }

  private onFrame(body: Buffer): void {
    this.frameBytes = body.length;
    if (!isUtf8(body)) {
      this.fireError(new FrameError('parse', 'Parse error: frame is not valid UTF-8'));
      return;
    }
    let value: unknown;
    const text = body.toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.fireError(new FrameError('parse', `Parse error: ${(err as Error).message}`));
      return;
    }
    // Ids a double cannot hold (above 2^53) are kept as written, to be echoed exactly.
    keepRawIds(value, text);
    this.callback?.(value as Message);
  }
}
