// No written config teaches a wrong answer: the bootstrapped demos of a compiled program are
// scored again against the training example they came from, and a failing one is dropped with
// the demos of earlier steps made in the same trace. What is kept, what is dropped, and what
// the metric is shown are what a user relies on when the config goes to production.
import { describe, expect, it } from 'vitest';
import { Example, Module, Predict, type Metric, type Prediction } from '../../src/dspy/index.js';
import { dropFailingDemos } from '../../src/run/index.js';

const example = (code: string, findings: string[]) => new Example({ code, expected_output: { findings } }).withInputs('code');
const A = example('defmodule A do end', ['unsupervised agent']);
const B = example('defmodule B do end', ['atom leak']);

/** Two steps, as a pipeline has them: notes on the code, then findings from the code and notes. */
class TwoSteps extends Module {
  notes = new Predict('code -> notes');
  findings = new Predict('code, notes -> findings: list[str]');
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const n = await this.notes.call(inputs);
    return this.findings.call({ ...inputs, notes: n.get('notes') });
  }
}

const aug = (fields: Record<string, unknown>) => new Example({ augmented: true, ...fields });

/** Passes when the predicted findings equal the expected ones. */
const sameFindings: Metric = (ex, pred) =>
  JSON.stringify(pred.get('findings')) === JSON.stringify((ex.get('expected_output') as { findings: string[] }).findings);

const codes = (p: Predict) => p.demos.map((d) => d.get('code'));

describe('dropFailingDemos', () => {
  it("drops a failing final-step demo together with the earlier step's demo of the same trace; keeps a passing trace whole", async () => {
    const program = new TwoSteps();
    program.notes.demos = [aug({ code: A.get('code'), notes: 'n-A' }), aug({ code: B.get('code'), notes: 'n-B' })];
    program.findings.demos = [
      aug({ code: A.get('code'), notes: 'n-A', findings: ['atom leak'] }), // B's answer for A
      aug({ code: B.get('code'), notes: 'n-B', findings: ['atom leak'] }),
    ];
    const check = await dropFailingDemos(program, [A, B], sameFindings, undefined);
    // Only the demo of the step that produces the expected output is scored; both of A's go.
    expect(check).toEqual({ checked: 2, dropped: 2 });
    expect(codes(program.notes)).toEqual([B.get('code')]);
    expect(codes(program.findings)).toEqual([B.get('code')]);
  });

  it('a trace with one failing final demo loses all its demos, even when another of its demos passes', async () => {
    const p1 = new Predict('code -> findings: list[str]');
    const p2 = new Predict('code -> findings: list[str]');
    p1.demos = [aug({ code: A.get('code'), findings: ['unsupervised agent'] })];
    p2.demos = [aug({ code: A.get('code'), findings: ['wrong'] })];
    class Both extends Module {
      a = p1;
      b = p2;
      forward(inputs: Record<string, unknown>) {
        return this.a.call(inputs);
      }
    }
    const check = await dropFailingDemos(new Both(), [A], sameFindings, undefined);
    expect(check).toEqual({ checked: 2, dropped: 2 });
    expect(p1.demos).toEqual([]);
    expect(p2.demos).toEqual([]);
  });

  it('keeps labeled demos, demos made from no training example, and demos of examples without an expected output', async () => {
    const noLabel = new Example({ code: 'defmodule C do end' }).withInputs('code');
    const p = new Predict('code -> findings: list[str]');
    p.demos = [
      new Example({ code: A.get('code'), findings: ['wrong'] }), // labeled: a training example itself
      aug({ code: 'defmodule Elsewhere do end', findings: ['wrong'] }), // no source in the trainset
      aug({ findings: ['wrong'] }), // carries none of the inputs: matches no example
      aug({ code: 'defmodule C do end', findings: ['wrong'] }), // its example has nothing to compare with
    ];
    const seen: unknown[] = [];
    const check = await dropFailingDemos(p, [A, noLabel], (ex, pred) => {
      seen.push(ex.get('code'));
      return false;
    }, undefined);
    expect(check).toEqual({ checked: 0, dropped: 0 });
    expect(seen).toEqual([]);
    expect(p.demos).toHaveLength(4);
  });

  it('finds the source example whatever the key order of structured inputs', async () => {
    const ex = new Example({ ctx: { file: 'a.ex', line: 3 }, expected_output: { findings: ['x'] } }).withInputs('ctx');
    const p = new Predict('ctx -> findings: list[str]');
    p.demos = [aug({ ctx: { line: 3, file: 'a.ex' }, findings: ['y'] })];
    expect(await dropFailingDemos(p, [ex], sameFindings, undefined)).toEqual({ checked: 1, dropped: 1 });
    expect(p.demos).toEqual([]);
  });

  it('judges a numeric metric against the threshold when one is given, else by truthiness', async () => {
    const run = async (threshold: number | undefined) => {
      const p = new Predict('code -> findings: list[str]');
      p.demos = [aug({ code: A.get('code'), findings: ['partly right'] })];
      const check = await dropFailingDemos(p, [A], () => 0.6, threshold);
      return { check, kept: p.demos.length };
    };
    expect(await run(undefined)).toEqual({ check: { checked: 1, dropped: 0 }, kept: 1 });
    expect(await run(0.6)).toEqual({ check: { checked: 1, dropped: 0 }, kept: 1 });
    expect(await run(0.7)).toEqual({ check: { checked: 1, dropped: 1 }, kept: 0 });
  });

  it("shows the metric the program's own prediction shape, the training example, and the demo's trace", async () => {
    const p = new Predict('code -> findings: list[str]');
    p.demos = [aug({ code: A.get('code'), findings: ['unsupervised agent'] })];
    const calls: Array<{ ex: Example; pred: Prediction; trace: unknown }> = [];
    await dropFailingDemos(p, [B, A], (ex, pred, trace) => {
      calls.push({ ex, pred, trace });
      return true;
    }, undefined);
    expect(calls).toHaveLength(1);
    const { ex, pred, trace } = calls[0]!;
    expect(ex).toBe(A);
    expect(pred.get('findings')).toEqual(['unsupervised agent']);
    expect(pred.get('pipeline_result')).toEqual({ status: 'ok', steps: {}, output: { findings: ['unsupervised agent'] } });
    expect(trace).toEqual([{ predictor: p, inputs: { code: A.get('code') }, outputs: { findings: ['unsupervised agent'] } }]);
  });

  it('keeps the labeled demo of an example whose bootstrapped demo failed', async () => {
    const p = new Predict('code -> findings: list[str]');
    p.demos = [aug({ code: A.get('code'), findings: ['wrong'] }), new Example({ code: A.get('code'), findings: ['unsupervised agent'] })];
    expect(await dropFailingDemos(p, [A], sameFindings, undefined)).toEqual({ checked: 1, dropped: 1 });
    expect(p.demos.map((d) => d.get('augmented'))).toEqual([undefined]);
  });

  it('a step that reads only some of the inputs still finds its example; every input it carries must match', async () => {
    const two = (code: string, goal: string, findings: string[]) => new Example({ code, goal, expected_output: { findings } }).withInputs('code', 'goal');
    const X = two('defmodule X do end', 'speed', ['slow loop']);
    const Y = two('defmodule X do end', 'safety', ['atom leak']);
    // Reads only the code: matched to X (the first with that code) and right for it.
    const codeOnly = new Predict('code -> findings: list[str]');
    codeOnly.demos = [aug({ code: 'defmodule X do end', findings: ['slow loop'] })];
    // Carries both inputs: it is Y's demo, right for X but wrong for Y.
    const both = new Predict('code, goal -> findings: list[str]');
    both.demos = [aug({ code: 'defmodule X do end', goal: 'safety', findings: ['slow loop'] })];
    class P extends Module {
      a = codeOnly;
      b = both;
      forward(inputs: Record<string, unknown>) {
        return this.a.call(inputs);
      }
    }
    const check = await dropFailingDemos(new P(), [X, Y], sameFindings, undefined);
    expect(check).toEqual({ checked: 2, dropped: 1 });
    expect(codeOnly.demos).toHaveLength(1);
    expect(both.demos).toEqual([]);
  });

  it("a demo that carries only part of the expected output is an earlier step's: not scored on its own", async () => {
    const ex = new Example({ code: 'c', expected_output: { findings: ['x'], severity: 'high' } }).withInputs('code');
    const p = new Predict('code -> findings: list[str]');
    p.demos = [aug({ code: 'c', findings: ['x'] })];
    let called = 0;
    const check = await dropFailingDemos(p, [ex], () => {
      called += 1;
      return false;
    }, undefined);
    expect(check).toEqual({ checked: 0, dropped: 0 });
    expect(called).toBe(0);
    expect(p.demos).toHaveLength(1);
  });
});
