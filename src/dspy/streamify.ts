/**
 * `streamify` (DSPy's `dspy.streamify`): runs a program so that chosen output fields of its
 * predictors arrive in pieces while the LM writes them. The returned function gives an async
 * iterable of `StreamResponse` pieces (in the order they arrive), ending with the program's
 * `Prediction`. Leaving the loop early (or aborting the signal) cancels the program's LM
 * requests; such a request is still counted and charged like any aborted one (ManagedLM).
 */
import type { Module } from './module.js';
import type { Predict } from './predict.js';
import type { Prediction } from './prediction.js';
import { settings } from './settings.js';
import type { Signature } from './signature.js';
import { StreamListener, type StreamResponse } from './stream_listener.js';
import { runInStream } from './stream_session.js';

/** Options of `streamify`. */
export interface StreamifyOptions {
  /** The fields to stream; none: the program runs and only its Prediction is yielded. */
  streamListeners?: readonly StreamListener[];
  /**
   * Yield the final Prediction after the pieces (default true). When false it is still
   * yielded if no listener received anything (DSPy's rule), so a caller always gets the result.
   */
  includeFinalPrediction?: boolean;
}

/** Options of one streamed call. */
export interface StreamCallOptions {
  /** Cancels the program and its LM requests; the iteration then throws the abort error. */
  signal?: AbortSignal;
}

/** What a streamified program yields. */
export type StreamItem = StreamResponse | Prediction;

/** The function `streamify` returns. */
export type StreamifiedProgram = (inputs: Record<string, unknown>, options?: StreamCallOptions) => AsyncGenerator<StreamItem, void, undefined>;

/**
 * Each listener with its predictor and name (DSPy's `find_predictor_for_stream_listeners`): a
 * listener without a predictor gets the one predictor whose signature has its field; a field in
 * none or in several is an error naming it.
 */
export function resolveStreamListeners(program: Module, listeners: readonly StreamListener[]): StreamListener[] {
  const named = program.namedPredictors({ includeCompiled: true });
  return listeners.map((given) => {
    const l = given.fresh();
    if (l.predict) {
      l.predictName ??= named.find(([, p]) => p === l.predict)?.[0] ?? 'self';
      return l;
    }
    const owners = named.filter(([, p]) => p.signature.outputNames.includes(l.signatureFieldName));
    if (owners.length === 0) {
      throw new Error(
        `streamify: output field \`${l.signatureFieldName}\` is not a field of any predictor in the program; check the name or pass the predictor to listen to`,
      );
    }
    if (owners.length > 1) {
      throw new Error(
        `streamify: output field \`${l.signatureFieldName}\` is not unique in the program (${owners.map(([n]) => n).join(', ')}); pass the predictor to listen to`,
      );
    }
    const [name, predict] = owners[0]!;
    l.predict = predict;
    l.predictName ??= name;
    return l;
  });
}

/**
 * Wrap `program` so its calls stream the listened fields (DSPy's `dspy.streamify`):
 *
 * ```ts
 * const stream = streamify(new Predict('question -> answer'), { streamListeners: [new StreamListener('answer')] });
 * for await (const item of stream({ question: 'Why?' })) {
 *   if (item instanceof Prediction) result = item;
 *   else process.stdout.write(item.chunk);
 * }
 * ```
 *
 * Pieces come from LMs that stream (`capabilities.streaming`: AnthropicLM,
 * OpenAICompatibleLM). An answer served from the cache, or from an LM that does not stream
 * (DummyLM, a cassette replay), arrives as one piece per listened field.
 */
export function streamify(program: Module, options: StreamifyOptions = {}): StreamifiedProgram {
  const configured = options.streamListeners ?? [];
  // Checked now, as DSPy does, so a wrong field name fails before any call.
  resolveStreamListeners(program, configured);
  const includeFinal = options.includeFinalPrediction ?? true;

  return async function* streamed(inputs: Record<string, unknown>, callOptions: StreamCallOptions = {}): AsyncGenerator<StreamItem, void, undefined> {
    // Fresh listener state per call, so two streams of one program do not mix.
    const listeners = resolveStreamListeners(program, configured);
    const byPredict = new Map<Predict, StreamListener[]>();
    for (const l of listeners) {
      const list = byPredict.get(l.predict!) ?? [];
      list.push(l);
      byPredict.set(l.predict!, list);
    }
    const listenersFor = (signature: Signature): readonly StreamListener[] | undefined => {
      for (const [p, ls] of byPredict) if (p.signature === signature) return ls;
      return undefined;
    };

    const queue: StreamResponse[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failed = false;
    let error: unknown;
    let prediction: Prediction | undefined;

    const stop = new AbortController();
    const signals = [stop.signal, callOptions.signal, settings.current().signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : stop.signal;
    const session = {
      listenersFor,
      emit(r: StreamResponse) {
        queue.push(r);
        wake?.();
      },
    };
    const run = runInStream(session, () => settings.context({ signal }, () => program.call(inputs)));
    const settled = run.then(
      (p) => {
        prediction = p;
      },
      (e: unknown) => {
        failed = true;
        error = e;
      },
    );
    void settled.finally(() => {
      finished = true;
      wake?.();
    });

    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (finished) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      if (failed) throw error;
      if (includeFinal || listeners.length === 0 || !listeners.some((l) => l.received)) yield prediction!;
    } finally {
      if (!finished) {
        // The consumer left early: cancel the program's requests and wait until they are settled (and counted).
        stop.abort(new Error('streamify: the stream was closed before the program finished'));
        await settled;
      }
    }
  };
}
