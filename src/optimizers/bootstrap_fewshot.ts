/**
 * BootstrapFewShot, step for step as DSPy's `BootstrapFewShot.compile`:
 *
 *  1. student = reset copy of the student; teacher = deep copy of `teacher` (or of the student);
 *     unless the teacher is already compiled, it first gets LabeledFewShot(maxLabeledDemos) demos.
 *  2. Walk the trainset in order. For each example, for round 0..maxRounds-1 until one passes:
 *     run the teacher on the example's inputs under a trace, with the example itself removed
 *     from the teacher's demos (DSPy filters the predictor demos equal to the example; we run a
 *     copy with the filtered demos, so concurrent examples never see each other's filtering).
 *     Rounds after the first run in `settings.context({rolloutId: round, temperature: 1})`:
 *     a fresh sample on purpose. The teacher and the metric run inside
 *     `settings.context(teacherSettings, ...)` (DSPy: `with dspy.context(**teacher_settings)`),
 *     so a teacher can use a stronger LM than the student without being rebuilt.
 *  3. The metric passes when `score >= metricThreshold` if a threshold is given (0 included:
 *     DSPy's `if self.metric_threshold:` ignores a threshold of 0; we honour it), else when the
 *     metric value is truthy. Then every trace step becomes a demo
 *     `{augmented: true, ...inputs, ...outputs}` of the student predictor with the same path;
 *     when one predictor made several steps, one is kept (DSPy: 50/50 between a random earlier
 *     step and the last, with a generator seeded by the demos).
 *  4. Stop once maxBootstrappedDemos examples succeeded.
 *  5. Each student predictor gets its bootstrapped demos (at most maxBootstrappedDemos), then
 *     is topped up to maxLabeledDemos with a seeded sample of the examples NOT bootstrapped.
 *     (DSPy re-samples the second predictor's top-up from the first's sample; we sample each
 *     predictor from the whole pool.)
 *  6. Every exception counts as an error; the maxErrors-th is rethrown (default 10).
 *
 * Concurrency: examples run up to `concurrency` at a time, but outcomes are committed strictly
 * in trainset order (see concurrency.ts), so the demos are the first successes in trainset
 * order, the same as a sequential run. Only as many examples are launched as the remaining
 * quota can use, counting those in flight as potential successes, plus a slack of 10% of the
 * examples the walk surely needs (launch_policy.ts): at most 1.1x the sequential walk's LM
 * calls. Work in flight when the quota fills is cancelled (and still counted as sent).
 */
import { setMaxListeners } from 'node:events';
import {
  Example,
  isMetricFeedback,
  settings,
  withTrace,
  type ContextOverrides,
  type Metric,
  type Module,
  type Predict,
  type TraceEntry,
} from '../dspy/index.js';
import { runOrdered, type Slots } from '../util/concurrency.js';
import { mayLaunchExample } from './launch_policy.js';
import { DEFAULT_MAX_ERRORS } from './evaluate.js';
import { canonicalJson } from '../util/canonical_json.js';
import { applyLabeledDemos } from './labeled_fewshot.js';
import { programToJson } from './program_io.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { runCompile, type RunContext, type RunOptions } from './run.js';
import type { CompileOptions, CompileResult, Optimizer } from './types.js';

export interface BootstrapFewShotOptions {
  metricThreshold?: number;
  maxBootstrappedDemos?: number;
  maxLabeledDemos?: number;
  maxRounds?: number;
  maxErrors?: number;
  /**
   * Settings the teacher runs under (DSPy's `teacher_settings`), e.g. `{ lm: strongerLM }`:
   * each teacher call and its metric check run inside `settings.context(teacherSettings, ...)`.
   * A predictor with its own LM keeps it, as in DSPy.
   */
  teacherSettings?: ContextOverrides;
}

export interface BootstrapSettings {
  metricThreshold: number | undefined;
  maxBootstrappedDemos: number;
  maxLabeledDemos: number;
  maxRounds: number;
  maxErrors: number;
  /** `{}` when none were given. */
  teacherSettings: ContextOverrides;
}

export function bootstrapSettings(o: BootstrapFewShotOptions = {}): BootstrapSettings {
  return {
    metricThreshold: o.metricThreshold,
    maxBootstrappedDemos: o.maxBootstrappedDemos ?? 4,
    maxLabeledDemos: o.maxLabeledDemos ?? 16,
    maxRounds: o.maxRounds ?? 1,
    maxErrors: o.maxErrors ?? DEFAULT_MAX_ERRORS,
    teacherSettings: o.teacherSettings ?? {},
  };
}

/**
 * Settings as the run journal's config hash sees them: the teacher's LM by provider and model,
 * its adapter by class, callbacks by count, the signal left out (it does not change results).
 */
export function hashableBootstrapSettings(s: BootstrapSettings): Record<string, unknown> {
  const { teacherSettings: t, ...rest } = s;
  const described = describeOverrides(t);
  // Without teacher settings the hash is the one journals written before them have.
  return Object.keys(described).length === 0 ? rest : { ...rest, teacherSettings: described };
}

/** A JSON-able description of context overrides (see hashableBootstrapSettings). */
export function describeOverrides(t: ContextOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(t)) {
    if (v === undefined || k === 'signal') continue;
    if (k === 'lm') out[k] = `${(v as { provider: string }).provider}:${(v as { model: string }).model}`;
    else if (k === 'adapter') out[k] = (v as object).constructor.name;
    else if (k === 'callbacks') out[k] = (v as readonly unknown[]).length;
    else out[k] = v;
  }
  return out;
}

/** What one example's bootstrap produced (also its journal record). */
export interface ExampleOutcome {
  /** One entry per round tried, in order; stops at the first success. */
  attempts: Array<{ success: boolean; error?: string }>;
  /** Demos per predictor path from the successful attempt. */
  demos?: Record<string, Array<Record<string, unknown>>>;
}

/** Is `value` a pass? (DSPy semantics, with a threshold of 0 honoured.) */
export function metricPasses(value: unknown, threshold: number | undefined): boolean {
  if (isMetricFeedback(value)) return metricPasses(value.score, threshold);
  if (threshold !== undefined && threshold !== null) return Number(value) >= threshold;
  return Boolean(value);
}

/** Identity of an example for demo removal: DSPy compares the field dicts, whatever their key order. */
function exampleKey(e: Example): string {
  return canonicalJson(e.toDict());
}

/**
 * One bootstrap pass over a trainset, inside a run. `scope` namespaces its journal records
 * (random search and MIPRO run several). State is kept on the object, so a run cut short can
 * still build the student from what was committed (`train()`).
 */
export class BootstrapRun<M extends Module> {
  readonly student: M;
  readonly teacher: Module;
  private readonly names: string[];
  readonly name2traces = new Map<string, Example[]>();
  readonly bootstrapped = new Set<number>();
  private errorCount = 0;
  private speculation: AbortController | undefined;

  constructor(
    private readonly ctx: RunContext,
    student: M,
    private readonly trainset: readonly Example[],
    private readonly metric: Metric,
    teacher: Module | undefined,
    private readonly s: BootstrapSettings,
    private readonly scope: string,
    /** Shared with walks built at the same time, so together they keep to the run's concurrency. */
    private readonly slots?: Slots,
  ) {
    this.student = student.resetCopy() as M;
    let t = (teacher ?? student).deepCopy();
    if (s.maxLabeledDemos && !t.compiled) {
      t = applyLabeledDemos(t.resetCopy(), trainset, s.maxLabeledDemos, true, new Rng(deriveSeed(ctx.seed, 'teacher-labeled')));
    }
    this.teacher = t;
    const sNames = this.student.namedPredictors().map(([n]) => n);
    const tNames = t.namedPredictors().map(([n]) => n);
    if (sNames.length !== tNames.length || sNames.some((n, i) => n !== tNames[i])) {
      throw new Error(
        `BootstrapFewShot: the teacher's predictors (${tNames.join(', ')}) do not match the student's (${sNames.join(', ')})`,
      );
    }
    this.names = sNames;
    for (const n of sNames) this.name2traces.set(n, []);
  }

  async run(): Promise<M> {
    const { ctx, s, trainset } = this;
    const quota = s.maxBootstrappedDemos;
    let launched = 0;
    let committed = 0;
    let committedFailures = 0;
    // Examples started speculatively past the point where the quota fills are cancelled, not
    // awaited: their LM calls see this signal (with the run's own) and stop at once.
    this.speculation = new AbortController();
    setMaxListeners(0, this.speculation.signal); // one listener per LM call in flight
    // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: at quota 0 the launch policy refuses every launch, and a walk of 0 examples launches none
    if (quota > 0 && trainset.length > 0) {
      await runOrdered<ExampleOutcome>(
        trainset.length,
        (i) => {
          launched += 1;
          return this.slots ? this.slots.run(() => this.outcomeFor(i)) : this.outcomeFor(i);
        },
        (i, settled) => {
          committed += 1;
          if (!settled.ok) throw settled.error;
          const outcome = settled.value;
          for (const a of outcome.attempts) {
            if (a.error !== undefined) {
              this.errorCount += 1;
              this.ctx.errors += 1;
              if (this.errorCount >= s.maxErrors) throw rebuildError(a, a.error, i);
            }
          }
          if (!outcome.demos) committedFailures += 1;
          if (outcome.demos) {
            this.bootstrapped.add(i);
            for (const [name, demos] of Object.entries(outcome.demos)) {
              // Stryker disable next-line OptionalChaining: the constructor files every predictor name, and demos only come under those names
              this.name2traces.get(name)?.push(...demos.map((d) => new Example(d)));
            }
          }
          ctx.progress({
            phase: 'bootstrap',
            trial: committed,
            totalTrials: trainset.length,
            message: `${this.scope}: ${this.bootstrapped.size}/${quota} bootstrapped`,
          });
          if (this.bootstrapped.size >= quota) {
            // Stryker disable next-line OptionalChaining: run() sets `speculation` before the walk starts
            this.speculation?.abort(new Error('bootstrap quota reached'));
            return 'stop';
          }
          // Stryker disable next-line StringLiteral: runOrdered only tells 'stop' apart from anything else
          return 'continue';
        },
        {
          limit: ctx.concurrency,
          // Examples in flight count as potential successes (launch_policy.ts): a walk sends at
          // most 10% more LM calls than the sequential walk.
          mayLaunch: () =>
            mayLaunchExample({ quota, committedSuccesses: this.bootstrapped.size, uncommitted: launched - committed, committedFailures }),
          isFatal: (e) => ctx.isStop(e),
        },
      );
    }
    return this.train();
  }

  /** Step 5: bootstrapped demos, then the labeled top-up from the examples not bootstrapped. */
  train(): M {
    const validation = this.trainset.filter((_, i) => !this.bootstrapped.has(i));
    const rng = new Rng(deriveSeed(this.ctx.seed, 'bootstrap-train'));
    rng.shuffle(validation); // DSPy shuffles the unbootstrapped examples (Random(0)) before sampling
    for (const [name, p] of this.student.namedPredictors()) {
      // Stryker disable next-line MethodExpression: one demo per predictor per committed success, and commits stop at the quota: never more to cut
      const augmented = (this.name2traces.get(name) ?? []).slice(0, this.s.maxBootstrappedDemos);
      const size = Math.max(0, Math.min(this.s.maxLabeledDemos - augmented.length, validation.length));
      p.demos = [...augmented, ...rng.sample(validation, size)];
    }
    return this.student;
  }

  private async outcomeFor(i: number): Promise<ExampleOutcome> {
    const key = `${this.scope}/example/${i}`;
    const journal = this.ctx.journal;
    const saved = journal?.get<ExampleOutcome>(key);
    if (saved) return saved;
    this.ctx.checkStop();
    const outcome = await this.bootstrapOne(this.trainset[i] as Example);
    journal?.append(key, outcome);
    return outcome;
  }

  private async bootstrapOne(example: Example): Promise<ExampleOutcome> {
    const attempts: ExampleOutcome['attempts'] = [];
    // The teacher without this example among its demos (a copy only when it is there).
    const exKey = exampleKey(example);
    // Stryker disable next-line ConditionalExpression,EqualityOperator,MethodExpression: `contains` only saves a copy; the filter below is exact either way
    const contains = this.teacher.predictors().some((p) => p.demos.some((d) => exampleKey(d) === exKey));
    const teacher = contains ? this.teacher.deepCopy() : this.teacher;
    // Stryker disable next-line ConditionalExpression: filtering a teacher without the example removes nothing
    if (contains) for (const p of teacher.predictors()) p.demos = p.demos.filter((d) => exampleKey(d) !== exKey);
    const pathOf = new Map<Predict, string>(teacher.namedPredictors().map(([n, p]) => [p, n] as [Predict, string]));

    for (let round = 0; round < this.s.maxRounds; round++) {
      // Stryker disable next-line ConditionalExpression,EqualityOperator: round 0 follows outcomeFor's own checkStop(); a stop skipped between rounds meets the next round's LM call
      if (round > 0) this.ctx.checkStop();
      // Stryker disable next-line OptionalChaining: run() sets `speculation` before any example runs
      this.speculation?.signal.throwIfAborted();
      try {
        const call = () => withTrace(() => teacher.call(example.inputs().toDict()));
        const overrides = round > 0 ? { rolloutId: round, temperature: 1.0 } : {};
        const teacherSettings = this.s.teacherSettings;
        // Stryker disable next-line OptionalChaining: run() sets `speculation` before any example runs
        const signals = [this.ctx.signal, teacherSettings.signal, this.speculation?.signal].filter((x): x is AbortSignal => x !== undefined);
        const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
        // DSPy: `with dspy.context(trace=[], **teacher_settings)` around the teacher call and the
        // metric; the fresh-sample overrides of later rounds only around the teacher call.
        const value = await settings.context({ ...teacherSettings, ...(signal ? { signal } : {}) }, async () => {
          const { result: prediction, trace } = await settings.context(overrides, call);
          return { trace, score: await this.metric(example, prediction, trace) };
        });
        const trace = value.trace;
        const success = metricPasses(value.score, this.s.metricThreshold);
        attempts.push({ success });
        if (success) return { attempts, demos: this.demosFromTrace(trace, pathOf) };
      } catch (err) {
        // A stop (budget, abort) or a cancelled speculative example: no outcome, nothing journaled.
        // Stryker disable next-line OptionalChaining: run() sets `speculation` before any example runs
        if (this.ctx.isStop(err) || this.speculation?.signal.aborted) throw err;
        const attempt = { success: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
        errorObjects.set(attempt, err);
        attempts.push(attempt);
      }
    }
    return { attempts };
  }

  private demosFromTrace(trace: readonly TraceEntry[], pathOf: Map<Predict, string>): Record<string, Array<Record<string, unknown>>> {
    const byName = new Map<string, Array<Record<string, unknown>>>();
    for (const step of trace) {
      const name = pathOf.get(step.predictor);
      // Stryker disable next-line ConditionalExpression: a step of an outside predictor would be filed under `undefined`, which the loop below never reads
      if (name === undefined) continue; // a predictor outside the program (DSPy skips these too)
      const demo = JSON.parse(JSON.stringify({ augmented: true, ...step.inputs, ...step.outputs })) as Record<string, unknown>;
      const list = byName.get(name) ?? [];
      list.push(demo);
      byName.set(name, list);
    }
    const out: Record<string, Array<Record<string, unknown>>> = {};
    for (const name of this.names) {
      const demos = byName.get(name);
      if (!demos) continue;
      if (demos.length > 1) {
        // DSPy: sample 50/50 from the first N-1 traces or the last, seeded by the demos.
        const rng = new Rng(deriveSeed('trace-choice', canonicalJson(demos)));
        out[name] = [rng.random() < 0.5 ? rng.choice(demos.slice(0, -1)) : (demos[demos.length - 1] as Record<string, unknown>)];
      } else {
        out[name] = demos;
      }
    }
    return out;
  }
}

/** The original error objects of fresh attempts (journal records only hold their text). */
const errorObjects = new WeakMap<object, unknown>();

function rebuildError(attempt: object, text: string, index: number): unknown {
  const original = errorObjects.get(attempt);
  if (original !== undefined) return original;
  return new Error(`${text} (bootstrapping trainset example ${index}, from the run journal)`);
}

export class BootstrapFewShot implements Optimizer {
  readonly name = 'BootstrapFewShot';
  readonly settings: BootstrapSettings;

  constructor(opts: BootstrapFewShotOptions = {}) {
    this.settings = bootstrapSettings(opts);
  }

  async compile<M extends Module>(student: M, opts: CompileOptions & RunOptions): Promise<CompileResult<M>> {
    let runner: BootstrapRun<M> | undefined;
    return runCompile(
      {
        optimizer: this.name,
        opts,
        config: {
          settings: hashableBootstrapSettings(this.settings),
          trainset: opts.trainset,
          student: programToJson(student),
          teacher: opts.teacher ? programToJson(opts.teacher) : null,
        },
      },
      async (ctx) => {
        runner = new BootstrapRun(ctx, student, opts.trainset, opts.metric, opts.teacher, this.settings, 'bootstrap');
        const program = await runner.run();
        ctx.bootstrapped = runner.bootstrapped.size;
        return program;
      },
      (ctx) => {
        // Cut short: the demos committed so far, topped up with labeled ones.
        // Stryker disable next-line ConditionalExpression,BooleanLiteral: the runner exists before the body can meet a stop (its constructor throws no stop error)
        if (!runner) return student.resetCopy() as M;
        ctx.bootstrapped = runner.bootstrapped.size;
        return runner.train();
      },
    );
  }
}
