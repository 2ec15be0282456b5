// The composite modules as DSPy users drive them: BestOfN/Refine attempt rules, Parallel's
// limits and failures, Tool argument checking, ReAct's loop controls, MultiChainComparison's
// attempts.
import { afterEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  AllAttemptsFailedError,
  BestOfN,
  ChainOfThought,
  Completions,
  Example,
  inspectModules,
  JSONAdapter,
  Module,
  MultiChainComparison,
  Parallel,
  ParallelExecutionError,
  Predict,
  Prediction,
  ReAct,
  Refine,
  settings,
  Signature,
  Tool,
  ToolArgsError,
  TwoStepAdapter,
  XMLAdapter,
  withTrace,
} from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

afterEach(() => settings.reset());

/** A module answering `{ answer: script[i] }` for attempt i (its rollout id); a script entry that is an Error is thrown. */
class Scripted extends Module {
  seen: Array<{ rolloutId: unknown; temperature: unknown }> = [];
  constructor(private readonly script: Array<string | Error>) {
    super();
  }
  async forward(): Promise<Prediction> {
    const { rolloutId, temperature } = settings.current();
    this.seen.push({ rolloutId, temperature });
    const s = this.script[Number(rolloutId)]!;
    if (s instanceof Error) throw s;
    return Prediction.from({ answer: s });
  }
}
const len = (_i: Record<string, unknown>, p: Prediction) => String(p.get('answer')).length;

describe('BestOfN', () => {
  it('checks its options', () => {
    const m = new Scripted([]);
    expect(() => new BestOfN({} as never, { n: 1, rewardFn: len, threshold: 1 })).toThrow(TypeError);
    expect(() => new BestOfN(m, { n: 0, rewardFn: len, threshold: 1 })).toThrow(RangeError);
    expect(() => new BestOfN(m, { n: 1.5, rewardFn: len, threshold: 1 })).toThrow(RangeError);
    expect(() => new BestOfN(m, { n: 1, rewardFn: 'len' as never, threshold: 1 })).toThrow(TypeError);
    expect(() => new Refine(m, { n: -1, rewardFn: len, threshold: 1 })).toThrow(/^Refine: n must be a positive integer/);
    const b = new BestOfN(m, { n: 4, rewardFn: len, threshold: 2 });
    expect([b.n, b.threshold, b.failCount, b.module]).toEqual([4, 2, 4, m]);
  });

  it('a reward equal to the threshold stops; ties keep the earlier attempt; rewards are read as numbers', async () => {
    const m = new Scripted(['aa', 'bb', 'cc']);
    expect((await new BestOfN(m, { n: 3, rewardFn: len, threshold: 2 }).call({})).get('answer')).toBe('aa');
    expect(m.seen).toEqual([{ rolloutId: 0, temperature: 1 }]);
    const tie = new Scripted(['x', 'y', 'zz']);
    expect((await new BestOfN(tie, { n: 2, rewardFn: len, threshold: 5 }).call({})).get('answer')).toBe('x');
    expect(tie.seen).toHaveLength(2);
    const bools = new Scripted(['no', 'yes']);
    const judge = (_i: Record<string, unknown>, p: Prediction) => (p.get('answer') === 'yes') as unknown as number;
    expect((await new BestOfN(bools, { n: 2, rewardFn: judge, threshold: 1 }).call({})).get('answer')).toBe('yes');
  });

  it('failCount: that many failures are tolerated, one more rethrows the error', async () => {
    const boom = new Error('boom');
    const script = [boom, boom, 'ok'];
    expect((await new BestOfN(new Scripted(script), { n: 3, rewardFn: len, threshold: 1, failCount: 2 }).call({})).get('answer')).toBe('ok');
    await expect(new BestOfN(new Scripted(script), { n: 3, rewardFn: len, threshold: 1, failCount: 1 }).call({})).rejects.toBe(boom);
    const err = await new BestOfN(new Scripted([new Error('first'), new Error('last')]), { n: 2, rewardFn: len, threshold: 1 }).call({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllAttemptsFailedError);
    expect((err as Error).cause).toMatchObject({ message: 'last' });
    expect((err as Error).name).toBe('AllAttemptsFailedError');
  });

  it('a cancelled run stops at the failing attempt instead of trying again', async () => {
    const ctl = new AbortController();
    ctl.abort(new Error('cancelled'));
    const m = new Scripted([new Error('aborted call'), 'ok']);
    await expect(settings.context({ signal: ctl.signal }, () => new BestOfN(m, { n: 2, rewardFn: len, threshold: 1 }).call({}))).rejects.toThrow('cancelled');
    expect(m.seen).toHaveLength(1);
  });
});

describe('Refine', () => {
  it('asks for feedback between attempts only (never after the last one)', async () => {
    const lm = new DummyLM([{ answer: 'a' }, { discussion: 'd', advice: { self: 'longer' } }, { answer: 'bb' }]);
    settings.configure({ lm });
    const r = new Refine(new Predict('q -> answer'), { n: 2, rewardFn: len, threshold: 10 });
    expect((await r.call({ q: 'x' })).get('answer')).toBe('bb');
    expect(lm.calls).toBe(3);
    const feedbackPrompt = lm.history[1]!.messages.at(-1)!.content;
    expect(feedbackPrompt).toContain('[[ ## target_threshold ## ]]\n10');
    expect(feedbackPrompt).toContain('[[ ## reward_value ## ]]\n1');
    expect(feedbackPrompt).toContain('[[ ## program_inputs ## ]]\n{\n  "q": "x"\n}');
    expect(feedbackPrompt).toContain('[[ ## program_outputs ## ]]\n{\n  "answer": "a"\n}');
    expect(feedbackPrompt).toContain('[[ ## reward_code ## ]]\n(_i, p) => String(p.get("answer")).length');
  });

  it('a predictor the advice does not name gets "N/A"; the settings adapter is wrapped', async () => {
    const lm = new DummyLM(['{"answer": "a"}', '{"discussion": "d", "advice": {"other": "x"}}', '{"answer": "bb"}']);
    settings.configure({ lm, adapter: new JSONAdapter() });
    await new Refine(new Predict('q -> answer'), { n: 2, rewardFn: len, threshold: 10 }).call({ q: 'x' });
    const retry = lm.history[2]!.messages;
    expect(retry[0]!.content).toContain('Outputs will be a JSON object');
    expect(retry.at(-1)!.content).toContain('[[ ## hint_ ## ]]\nN/A');
  });

  it('during a retry the adapter in effect adds the hint to whatever it formats, and parses as the adapter it wraps', async () => {
    const lm = new DummyLM([{ discussion: 'd', advice: { inner: 'be brief' } }]);
    settings.configure({ lm });
    const seen: Array<{ name: string; messages: string; parsed: unknown }> = [];
    const sig = Signature.parse('q -> a');
    class Probe extends Module {
      inner = new Predict(sig);
      async forward(): Promise<Prediction> {
        const adapter = settings.adapter;
        if (adapter) {
          const messages = adapter.format(sig, [], { q: 'x' });
          seen.push({ name: adapter.name, messages: messages.at(-1)!.content, parsed: await adapter.parse(sig, '[[ ## a ## ]]\nparsed') });
        }
        return Prediction.from({ a: String(seen.length) });
      }
    }
    await new Refine(new Probe(), { n: 2, rewardFn: () => 0, threshold: 1 }).call({ q: 'x' });
    expect(seen).toEqual([{ name: 'chat', messages: expect.stringContaining('[[ ## hint_ ## ]]\nbe brief'), parsed: { a: 'parsed' } }]);
  });

  it("inspectModules lists each predictor's fields and instructions between separators (DSPy's layout)", () => {
    class Two extends Module {
      first = new Predict(Signature.parse('q -> a', 'Line one.\nLine two.', { descriptions: { q: 'the q' } }));
      second = new ChainOfThought('a -> b');
      async forward() {
        return Prediction.from({});
      }
    }
    const sep = '-'.repeat(80);
    expect(inspectModules(new Two())).toBe(
      [
        sep,
        'Module first',
        '\tInput Fields:',
        '\t\t1. `q` (str): the q',
        '\tOutput Fields:',
        '\t\t1. `a` (str):',
        '\tOriginal Instructions: \n\t\tLine one.\n\t\tLine two.',
        sep,
        'Module second.predict',
        '\tInput Fields:',
        '\t\t1. `a` (str):',
        '\tOutput Fields:',
        '\t\t1. `reasoning` (str): \n\t\t2. `b` (str):',
        '\tOriginal Instructions: \n\t\tGiven the fields `a`, produce the fields `b`.',
        sep,
      ].join('\n'),
    );
  });
});

describe('Parallel', () => {
  const echo = new (class Echo extends Module {
    async forward(inputs: Record<string, unknown>) {
      if (inputs['fail']) throw new Error(`fail ${String(inputs['i'])}`);
      return Prediction.from({ got: inputs });
    }
  })();

  it('options are floored and at least 1; defaults as DSPy', () => {
    const d = new Parallel();
    expect([d.concurrency, d.maxErrors, d.accessExamples, d.returnFailedExamples, d.signal]).toEqual([8, 10, true, false, undefined]);
    const p = new Parallel({ concurrency: 0, maxErrors: 0.5 });
    expect([p.concurrency, p.maxErrors]).toEqual([1, 1]);
    expect(new Parallel({ concurrency: 2.9, maxErrors: 3.9 }).concurrency).toBe(2);
    expect(new Parallel({ concurrency: 2.9, maxErrors: 3.9 }).maxErrors).toBe(3);
  });

  it('no pairs: no results; an Example without input keys fails its pair (its inputs are unknown)', async () => {
    expect(await new Parallel().forward([])).toEqual([]);
    const out = await new Parallel().run([[echo, new Example({ i: 1 })]]);
    expect(out.results).toEqual([undefined]);
    expect((out.errors[0] as Error).message).toMatch(/withInputs/);
  });

  it('failed examples and errors come back in pair order, whatever order they failed in', async () => {
    const pairs = [3, 0, 2, 1].map((i) => [echo, { i, fail: i !== 0 }] as const);
    const out = await new Parallel({ concurrency: 4 }).run(pairs);
    expect(out.failedExamples).toEqual([pairs[0]![1], pairs[2]![1], pairs[3]![1]]);
    expect(out.errors.map((e) => (e as Error).message)).toEqual(['fail 3', 'fail 2', 'fail 1']);
    expect(out.results.map((r) => r?.get('got'))).toEqual([undefined, { i: 0, fail: false }, undefined, undefined]);
  });

  it('maxErrors failures stop the run: no new pair starts; the error lists them, the first as cause', async () => {
    const started: number[] = [];
    const counting = new (class extends Module {
      async forward(inputs: Record<string, unknown>): Promise<Prediction> {
        started.push(inputs['i'] as number);
        throw new Error(`fail ${String(inputs['i'])}`);
      }
    })();
    const pairs = Array.from({ length: 6 }, (_, i) => [counting, { i }] as const);
    const err = (await new Parallel({ maxErrors: 3, concurrency: 1 }).forward(pairs).catch((e: unknown) => e)) as ParallelExecutionError;
    expect(err).toBeInstanceOf(ParallelExecutionError);
    expect(started).toEqual([0, 1, 2]);
    expect(err.errors.map((e) => (e as Error).message)).toEqual(['fail 0', 'fail 1', 'fail 2']);
    expect((err.cause as Error).message).toBe('fail 0');
    expect(err.name).toBe('ParallelExecutionError');
    // Fewer failures than maxErrors: the run completes.
    await expect(new Parallel({ maxErrors: 7, concurrency: 1 }).forward(pairs)).resolves.toHaveLength(6);
  });

  it('a per-call concurrency overrides the default', async () => {
    let inFlight = 0;
    let peak = 0;
    const slow = new (class extends Module {
      async forward() {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
        return Prediction.from({});
      }
    })();
    await new Parallel({ concurrency: 1 }).forward(Array.from({ length: 4 }, () => [slow, {}] as const), { concurrency: 2 });
    expect(peak).toBe(2);
    // A per-call concurrency below 1 still runs every pair, one at a time.
    peak = 0;
    const out = await new Parallel().forward(Array.from({ length: 3 }, () => [slow, {}] as const), { concurrency: 0 });
    expect(out).toHaveLength(3);
    expect((out as Array<Prediction | undefined>).every((r) => r instanceof Prediction)).toBe(true);
    expect(peak).toBe(1);
  });

  it('a signal reaches the LM calls; an aborted run rejects instead of counting failures', async () => {
    const lm = new DummyLM([{ a: '1' }]);
    const ctl = new AbortController();
    await new Parallel({ signal: ctl.signal }).forward([[new Predict('q -> a', { lm }), { q: 'x' }]]);
    expect(lm.history[0]!.options?.signal).toBe(ctl.signal);
    ctl.abort(new Error('stop'));
    await expect(new Parallel({ signal: ctl.signal }).forward([[echo, { i: 1 }]])).rejects.toThrow('stop');
    const mid = new AbortController();
    const aborting = new (class extends Module {
      async forward(): Promise<Prediction> {
        mid.abort(new Error('mid-run'));
        throw new Error('call failed');
      }
    })();
    await expect(new Parallel({ signal: mid.signal, maxErrors: 5 }).forward([[aborting, {}]])).rejects.toThrow('call failed');
  });
});

describe('Tool', () => {
  it('checks its name and function; no args means an empty object schema', async () => {
    expect(() => new Tool({ name: '9lives', func: () => 1 })).toThrow(/invalid name/);
    expect(() => new Tool({ name: 'x y', func: () => 1 })).toThrow(/invalid name/);
    expect(() => new Tool({ name: 42 as never, func: () => 1 })).toThrow(/invalid name/);
    expect(() => new Tool({ name: 'ok', func: 'no' as never })).toThrow(TypeError);
    const t = new Tool({ name: 'now', func: async () => 'noon' });
    expect(t.args).toEqual({});
    expect(t.description).toBeUndefined();
    expect(t.toString()).toBe('now. It takes arguments {}.');
    expect(await t.call(undefined)).toBe('noon');
    expect(await t.call(null)).toBe('noon');
  });

  it('names the argument at fault (nested path), or (args) when the whole value is wrong', async () => {
    const t = new Tool({ name: 'f', args: z.object({ opts: z.object({ k: z.number() }) }), func: ({ opts }) => opts.k * 2 });
    expect(await t.call({ opts: { k: 2 } })).toBe(4);
    await expect(t.call({ opts: { k: 'x' } })).rejects.toThrow(/opts\.k: /);
    await expect(t.call('text')).rejects.toThrow(/\(args\): /);
    await expect(t.call([])).rejects.toBeInstanceOf(ToolArgsError);
    expect(new ToolArgsError('m').name).toBe('ToolArgsError');
  });

  it('reports its calls to tool callbacks with the arguments and the result', async () => {
    const events: unknown[] = [];
    settings.configure({ callbacks: [{ onToolStart: (_id, inst, inputs) => events.push((inst as Tool).name, inputs), onToolEnd: (_id, out) => events.push(out) }] });
    await new Tool({ name: 'double', args: z.object({ n: z.number() }), func: ({ n }) => n * 2 }).call({ n: 4 });
    expect(events).toEqual(['double', { args: { n: 4 } }, 8]);
  });
});

describe('ReAct loop controls', () => {
  const lookup = () => new Tool({ name: 'lookup', args: z.object({ q: z.string() }), func: ({ q }) => `found ${q}` });

  it('only Tools; default 20 turns; the tools in order with finish last', () => {
    expect(() => new ReAct('q -> a', [{ name: 'x' } as never])).toThrow(TypeError);
    const agent = new ReAct('q -> a', [lookup()]);
    expect(agent.maxIters).toBe(20);
    expect(Object.keys(agent.tools)).toEqual(['lookup', 'finish']);
    expect(agent.react.signature.toString()).toBe("q, trajectory -> next_thought, next_tool_name: Literal['lookup', 'finish'], next_tool_args: dict[str, Any]");
    expect(agent.extract.signature.toString()).toBe('q, trajectory -> reasoning, a');
    expect(agent.react.signature.instructions.startsWith('Given the fields `q`, produce the fields `a`.\n\nYou are an Agent.')).toBe(true);
    expect(agent.react.signature.instructions).toContain("producing `a`.\n\nTo do this, you will interleave next_thought, next_tool_name, and next_tool_args in each turn, and also when finishing the task.\nAfter each tool call, you receive a resulting observation, which gets appended to your trajectory.\n\nWhen writing next_thought, you may reason about the current situation and plan for future steps.\nWhen selecting the next_tool_name and its next_tool_args, the tool must be one of:\n\n(1) lookup. It takes arguments {'q': {'type': 'string'}}.\n(2) finish");
  });

  it('max_iters among the inputs overrides the default and is not passed on', async () => {
    const lm = new DummyLM([
      { next_thought: 't', next_tool_name: 'lookup', next_tool_args: { q: 'a' } },
      { next_thought: 't', next_tool_name: 'lookup', next_tool_args: { q: 'b' } },
      { reasoning: 'r', a: 'done' },
    ]);
    const agent = new ReAct('q -> a', [lookup()]);
    agent.setLM(lm);
    const out = await agent.call({ q: 'x', max_iters: 2 });
    expect(Object.keys(out.get<object>('trajectory'))).toHaveLength(8);
    expect(out.toDict()).toMatchObject({ reasoning: 'r', a: 'done' });
    expect(lm.history[0]!.messages.at(-1)!.content).not.toContain('max_iters');
    const none = new ReAct('q -> a', [lookup()], { maxIters: 0 });
    none.setLM(new DummyLM([{ reasoning: 'r', a: 'z' }]));
    expect((await none.call({ q: 'x', max_iters: 'many' })).get('trajectory')).toEqual({});
  });

  it('a tool error that is not an Error is shown as text; an abort stops the agent; LM failures propagate', async () => {
    const thrower = new Tool({
      name: 'flaky',
      func: () => {
        throw 'plain string';
      },
    });
    const lm = new DummyLM([{ next_thought: 't', next_tool_name: 'flaky', next_tool_args: {} }, { next_thought: 't', next_tool_name: 'finish', next_tool_args: {} }, { reasoning: 'r', a: 'x' }]);
    const agent = new ReAct('q -> a', [thrower]);
    agent.setLM(lm);
    const traj = (await agent.call({ q: 'x' })).get<Record<string, unknown>>('trajectory');
    expect(traj['observation_0']).toBe('Execution error in flaky: plain string');

    const ctl = new AbortController();
    const stopper = new Tool({
      name: 'stopper',
      func: () => {
        ctl.abort(new Error('user cancelled'));
        throw new Error('interrupted');
      },
    });
    const a2 = new ReAct('q -> a', [stopper]);
    a2.setLM(new DummyLM([{ next_thought: 't', next_tool_name: 'stopper', next_tool_args: {} }]));
    await expect(settings.context({ signal: ctl.signal }, () => a2.call({ q: 'x' }))).rejects.toThrow('user cancelled');

    const a3 = new ReAct('q -> a', []);
    a3.setLM(new DummyLM([]));
    await expect(a3.call({ q: 'x' })).rejects.toThrow(/no more answers/);
  });

  it('the trajectory is shown the way the adapter in effect shows inputs', () => {
    const agent = new ReAct('q -> a', []);
    const traj = { thought_0: 'hm', observation_0: 'ok' };
    expect(agent.formatTrajectory(traj)).toBe('[[ ## thought_0 ## ]]\nhm\n\n[[ ## observation_0 ## ]]\nok');
    settings.configure({ adapter: new XMLAdapter() });
    expect(agent.formatTrajectory(traj)).toBe('<thought_0>\nhm\n</thought_0>\n\n<observation_0>\nok\n</observation_0>');
    settings.configure({ adapter: new TwoStepAdapter({ extractionLM: new DummyLM([]) }) });
    expect(agent.formatTrajectory(traj)).toBe('[[ ## thought_0 ## ]]\nhm\n\n[[ ## observation_0 ## ]]\nok');
    expect(agent.formatTrajectory({})).toBe('');
  });
});

describe('MultiChainComparison', () => {
  it('checks M; temperature: the option, unless the config sets one', () => {
    expect(() => new MultiChainComparison('q -> a', { m: 0 })).toThrow(RangeError);
    expect(() => new MultiChainComparison('q -> a', { m: 1.5 })).toThrow(RangeError);
    expect(new MultiChainComparison('q -> a').m).toBe(3);
    expect(new MultiChainComparison('q -> a', { temperature: 0.2 }).predict.config.temperature).toBe(0.2);
    expect(new MultiChainComparison('q -> a', { temperature: 0.2, config: { temperature: 0.9, maxTokens: 5 } }).predict.config).toEqual({ temperature: 0.9, maxTokens: 5 });
    const mcc = new MultiChainComparison(Signature.parse('q -> first, last'), { m: 1 });
    expect(mcc.lastKey).toBe('last');
    expect(mcc.predict.signature.field('reasoning_attempt_1')!.description).toBe('${reasoning attempt}');
    expect(mcc.predict.signature.toJSON().fields.map((f) => f.description)).toEqual([
      '${q}',
      '${reasoning attempt}',
      '${corrected reasoning}',
      '${first}',
      '${last}',
    ]);
  });

  it('attempts: Examples or records; the first line of the rationale (or reasoning) and of the last output', async () => {
    const lm = new DummyLM([{ rationale: 'r', a: 'x' }]);
    const mcc = new MultiChainComparison('q -> a', { lm, m: 3 });
    await mcc.call({
      q: 'Q',
      completions: [new Example({ rationale: '  use rationale\nnot this', reasoning: 'not reasoning', a: 42 }), { a: '  y\nz' }, { reasoning: 'r3', a: null }],
    });
    const user = lm.history[0]!.messages.at(-1)!.content;
    expect(user).toContain("[[ ## reasoning_attempt_1 ## ]]\n«I'm trying to use rationale I'm not sure but my prediction is 42»");
    expect(user).toContain("[[ ## reasoning_attempt_2 ## ]]\n«I'm trying to  I'm not sure but my prediction is y»");
    expect(user).toContain("[[ ## reasoning_attempt_3 ## ]]\n«I'm trying to r3 I'm not sure but my prediction is None»");
    expect(user).toContain('[[ ## q ## ]]\nQ');
    await expect(mcc.call({ q: 'Q', completions: 'not a list' })).rejects.toThrow(TypeError);
    await expect(mcc.call({ q: 'Q', completions: new Completions([{ a: '1' }]) })).rejects.toThrow(RangeError);
  });

  it('the winning trace of BestOfN over MultiChainComparison holds one call', async () => {
    const lm = new DummyLM([{ rationale: 'r', a: 'x' }]);
    const mcc = new MultiChainComparison('q -> a', { lm, m: 1 });
    const { trace } = await withTrace(() => new BestOfN(mcc, { n: 1, rewardFn: () => 1, threshold: 1 }).call({ q: 'Q', completions: [{ a: 'y' }] }));
    expect(trace).toHaveLength(1);
  });
});
