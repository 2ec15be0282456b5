/**
 * The link between `streamify` and the adapters: while a streamified program runs, an
 * adapter's LM call for a listened predictor streams (`GenerateOptions.onChunk`) into that
 * predictor's listeners. The session is scoped to the program's async call tree
 * (AsyncLocalStorage), so concurrent streams and ordinary calls do not see each other.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { LM, LMResponse } from '../lm/types.js';
import type { Signature } from './signature.js';
import type { StreamFormat, StreamListener, StreamResponse } from './stream_listener.js';

/** One streamified call in progress. */
export interface StreamSession {
  /** The listeners of the predictor whose signature this is, if it is listened to. */
  listenersFor(signature: Signature): readonly StreamListener[] | undefined;
  /** A field's piece for the consumer. */
  emit(response: StreamResponse): void;
}

const sessions = new AsyncLocalStorage<StreamSession>();

/** Run `fn` with `session` receiving the pieces of listened fields. */
export function runInStream<T>(session: StreamSession, fn: () => T): T {
  return sessions.run(session, fn);
}

/** What an adapter's call does for a listened predictor. */
export interface StreamTap {
  /** For GenerateOptions.onChunk (absent when the LM does not stream). */
  onChunk?: (text: string) => void;
  /** The call answered and parsed: end the listeners' fields (whole, when nothing streamed). */
  done(response: LMResponse, outputs: Record<string, unknown>): void;
}

const FORMATS: Record<string, StreamFormat> = { chat: 'chat', json: 'json', xml: 'xml' };

/** The tap for one adapter call, or undefined when no stream listens to it (the common case: one lookup). */
export function streamTap(signature: Signature, adapterName: string, lm: LM): StreamTap | undefined {
  const session = sessions.getStore();
  if (!session) return undefined;
  const format = FORMATS[adapterName];
  if (!format) return undefined; // an adapter whose text the listeners cannot read (TwoStepAdapter)
  const listeners = session.listenersFor(signature)?.filter((l) => l.begin(format));
  if (!listeners?.length) return undefined;
  let streamed = false;
  const tap: StreamTap = {
    done(response, outputs) {
      for (const l of listeners) {
        // A cache hit, a shared in-flight answer or an LM that does not stream: one piece per field.
        const r = streamed && !response.cached ? l.finalize() : l.replay(outputs[l.signatureFieldName]);
        if (r) session.emit(r);
      }
    },
  };
  if (lm.capabilities?.streaming) {
    tap.onChunk = (text) => {
      streamed = true;
      const out: Array<[number, StreamResponse]> = [];
      for (const l of listeners) {
        const r = l.receive(text);
        if (r) out.push([l.valueStart, r]);
      }
      // One piece may end a field and start the next: pieces go out in the order the fields were written.
      if (out.length > 1) out.sort((a, b) => a[0] - b[0]);
      for (const [, r] of out) session.emit(r);
    };
  }
  return tap;
}
