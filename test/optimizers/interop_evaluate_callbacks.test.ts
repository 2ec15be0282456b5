/**
 * Evaluate is observed as DSPy's `Evaluate.__call__` (decorated `@with_callbacks`,
 * dspy/evaluate/evaluate.py): callbacks in settings see `onEvaluateStart(callId, evaluate,
 * inputs)` and `onEvaluateEnd(callId, result, error)`, paired by call id, with the program's
 * own calls nested under it.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BaseCallback, parentCallId, settings } from '../../src/dspy/index.js';
import { Evaluate, EvaluationError, type EvaluateStartInputs, type EvaluationResult } from '../../src/optimizers/index.js';
import { exact, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

type Event =
  | { kind: 'start'; id: string; instance: unknown; inputs: Record<string, unknown> }
  | { kind: 'end'; id: string; outputs: unknown; error: unknown }
  | { kind: 'module'; parent: string | undefined };

class Recorder extends BaseCallback {
  events: Event[] = [];
  override onEvaluateStart(id: string, instance: unknown, inputs: Record<string, unknown>) {
    this.events.push({ kind: 'start', id, instance, inputs });
  }
  override onEvaluateEnd(id: string, outputs: unknown, error: unknown) {
    this.events.push({ kind: 'end', id, outputs, error });
  }
  override onModuleStart() {
    this.events.push({ kind: 'module', parent: parentCallId() });
  }
}

describe('Evaluate fires evaluate callbacks', () => {
  it('start gets the evaluator and the call inputs, end gets the result; one call id pairs them', async () => {
    const rec = new Recorder();
    settings.configure({ lm: oracle(3).lm, callbacks: [rec] });
    const devset = qa(3);
    const program = new QA();
    const ev = new Evaluate({ devset, metric: exact, concurrency: 2 });
    const result = await ev.run(program, { callbackMetadata: { metric_key: 'eval_full' }, failureScore: 0.5 });

    const start = rec.events[0]!;
    const end = rec.events.at(-1)!;
    expect(start.kind).toBe('start');
    expect(end.kind).toBe('end');
    if (start.kind !== 'start' || end.kind !== 'end') return;
    expect(start.instance).toBe(ev);
    const inputs = start.inputs as unknown as EvaluateStartInputs;
    expect(inputs.program).toBe(program);
    expect(inputs.devset).toBe(devset);
    expect(inputs.metric).toBe(exact);
    expect(inputs).toMatchObject({ concurrency: 2, maxErrors: 10, failureScore: 0.5, callbackMetadata: { metric_key: 'eval_full' } });
    expect(end.id).toBe(start.id);
    expect(end.outputs).toBe(result);
    expect((end.outputs as EvaluationResult).score).toBe(100);
    expect(end.error).toBeUndefined();
  });

  it("the program's module calls run inside the evaluation (their parent call is the evaluation)", async () => {
    const rec = new Recorder();
    settings.configure({ lm: oracle(2).lm, callbacks: [rec] });
    await new Evaluate({ devset: qa(2), metric: exact }).run(new QA());
    const start = rec.events[0] as Extract<Event, { kind: 'start' }>;
    const modules = rec.events.filter((e): e is Extract<Event, { kind: 'module' }> => e.kind === 'module');
    expect(modules).toHaveLength(4); // QA and its Predict, per example
    expect(modules.filter((m) => m.parent === start.id)).toHaveLength(2); // each QA call's parent
    expect(rec.events.at(-1)?.kind).toBe('end');
  });

  it('a failed evaluation ends with the error and no outputs, and the error still reaches the caller', async () => {
    const rec = new Recorder();
    settings.configure({ lm: oracle(3).lm, callbacks: [rec] });
    const boom = () => {
      throw new Error('metric broke');
    };
    await expect(new Evaluate({ devset: qa(3), metric: boom, maxErrors: 2 }).run(new QA())).rejects.toThrow(EvaluationError);
    const end = rec.events.at(-1) as Extract<Event, { kind: 'end' }>;
    expect(end.kind).toBe('end');
    expect(end.outputs).toBeUndefined();
    expect(end.error).toBeInstanceOf(EvaluationError);
  });

  it('the export is part of the observed call: the file exists when the end event fires', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-cb-'));
    const path = join(dir, 'r.json');
    let existedAtEnd: boolean | undefined;
    settings.configure({
      lm: oracle(2).lm,
      callbacks: [{ onEvaluateEnd: () => void (existedAtEnd = existsSync(path)) }],
    });
    await new Evaluate({ devset: qa(2), metric: exact, exportPath: path }).run(new QA());
    expect(existedAtEnd).toBe(true);
  });

  it('a callback that throws does not break the evaluation; a context list replaces the global one', async () => {
    const global = new Recorder();
    const scoped = new Recorder();
    settings.configure({
      lm: oracle(2).lm,
      callbacks: [
        {
          onEvaluateStart: () => {
            throw new Error('observer broke');
          },
        },
        global,
      ],
    });
    const ev = new Evaluate({ devset: qa(2), metric: exact });
    expect((await ev.run(new QA())).score).toBe(100);
    expect(global.events.filter((e) => e.kind === 'start')).toHaveLength(1);
    await settings.context({ callbacks: [scoped] }, () => ev.run(new QA()));
    expect(global.events.filter((e) => e.kind === 'start')).toHaveLength(1);
    expect(scoped.events.filter((e) => e.kind === 'start' || e.kind === 'end')).toHaveLength(2);
  });
});
