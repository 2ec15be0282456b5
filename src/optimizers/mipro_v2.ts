/**
 * MIPROv2-style optimization (DSPy's `MIPROv2.compile`), in three stages:
 *
 *  1. Demo-set candidates, built like random search's candidates: seed -3 zero-shot (no
 *     demos), -2 labeled only, -1 BootstrapFewShot in trainset order, then seeded shuffles with
 *     a random bootstrap count; `numCandidates` sets in all. Each predictor's demos from each
 *     set are one candidate for that predictor.
 *  2. Instruction candidates, per predictor: candidate 0 is the original instruction; the
 *     others are proposed by the prompt model (`promptModel`, default settings.lm), grounded in
 *     an LM-written dataset summary, the program's structure, one demo set and a random tip
 *     (see proposer.ts). A failed proposal counts as an error and falls back to the original.
 *  3. A seeded TPE search (tpe.ts) over (instruction index, demo-set index) per predictor.
 *     The default program (instruction 0, demo set 0) is scored on the full valset first and
 *     told to the sampler. Each trial scores a suggestion on a seeded minibatch
 *     (`minibatchSize`, default 35, capped at the valset size); every
 *     `minibatchFullEvalSteps` (default 5, as DSPy) trials and after the last one, the combination
 *     with the best mean minibatch score not yet fully evaluated is scored on the full valset;
 *     the best full-valset score wins (ties keep the earlier program).
 *
 * Presets (DSPy's AUTO_RUN_SETTINGS): light / medium / heavy = N = 6 / 12 / 18 demo-set
 * candidates and a valset capped at 100 / 300 / 1000 examples. As in DSPy, a preset gives
 * half as many instruction candidates (3 / 6 / 9) when the program has demos (DSPy found the
 * budget better spent on demos), N when zero-shot; without a preset numCandidates sets both.
 * The trial count is DSPy's formula: floor(max(2 * V * log2(N), 1.5 * N)) with V variables
 * (one instruction and one demo-set choice per predictor; instructions only when zero-shot):
 * one predictor with demos gives 10 / 18 / 27 trials, zero-shot 9 / 18 / 27.
 *
 * Without a valset, the trainset is split as DSPy does: the last 80% (at most 1000) become the
 * valset, the first 20% the trainset.
 *
 * `dryRun: true` spends nothing: it returns the unchanged student and `report.estimate` (LM
 * calls, tokens, and cost when the LM is priced), also sent as a `dry_run` progress event.
 */
import { Example, settings, type ContextOverrides, type Metric, type Module } from '../dspy/index.js';
import type { LM } from '../lm/types.js';
import { BootstrapRun, bootstrapSettings, describeOverrides, type BootstrapSettings } from './bootstrap_fewshot.js';
import { allInOrder, Slots } from '../util/concurrency.js';
import { DEFAULT_MAX_ERRORS, evaluateInRun } from './evaluate.js';
import { applyLabeledDemos } from './labeled_fewshot.js';
import { estimatedCostUsd, meanExampleChars } from './estimate.js';
import { programToJson } from './program_io.js';
import { describeProgram, pickTip, proposeInstruction, summarizeDataset, summaryCallCount } from './proposer.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { runCompile, type RunContext, type RunOptions } from './run.js';
import { CategoricalTPE, type TpeParams } from './tpe.js';
import type { CompileOptions, CompileReport, CompileResult, RunEstimate, Optimizer } from './types.js';

export type AutoPreset = 'light' | 'medium' | 'heavy';

export const AUTO_RUN_SETTINGS: Readonly<Record<AutoPreset, { n: number; valSize: number }>> = Object.freeze({
  light: { n: 6, valSize: 100 },
  medium: { n: 12, valSize: 300 },
  heavy: { n: 18, valSize: 1000 },
});

export interface MIPROv2Options {
  /** Default `light`, unless numCandidates is given. */
  auto?: AutoPreset | null;
  numCandidates?: number;
  numTrials?: number;
  maxBootstrappedDemos?: number;
  maxLabeledDemos?: number;
  maxRounds?: number;
  metricThreshold?: number;
  maxErrors?: number;
  minibatch?: boolean;
  minibatchSize?: number;
  minibatchFullEvalSteps?: number;
  /** The LM that writes the dataset summary and proposes instructions (default settings.lm). */
  promptModel?: LM;
  /** The LM the program runs with while bootstrapping and evaluating (default: its own / settings.lm). */
  taskModel?: LM;
  /** Temperature of the proposal calls (DSPy's init_temperature). */
  initTemperature?: number;
  viewDataBatchSize?: number;
  dataAware?: boolean;
  programAware?: boolean;
  tipAware?: boolean;
  fewshotAware?: boolean;
  /** Random trials before TPE models the results (Optuna's default 10). */
  nStartupTrials?: number;
  dryRun?: boolean;
  /** LM calls one program run makes, for the dry-run estimate (default: one per predictor). */
  callsPerForward?: number;
  /** Settings the bootstrapping teacher runs under (DSPy's `teacher_settings`; see BootstrapFewShot). */
  teacherSettings?: ContextOverrides;
}

interface Plan {
  /** Demo-set candidates (and the N of the trial formula). */
  n: number;
  /** Instruction candidates per predictor, the original included. */
  numInstructions: number;
  numTrials: number;
  valSize: number | undefined;
  zeroShot: boolean;
  trainset: Example[];
  valset: Example[];
  minibatchSize: number;
  minibatch: boolean;
  fullEvalSteps: number;
  boot: BootstrapSettings;
  predictors: string[];
}

interface TrialJournal {
  params: TpeParams;
  score: number;
}

export class MIPROv2 implements Optimizer {
  readonly name = 'MIPROv2';
  readonly o: Required<Omit<MIPROv2Options, 'auto' | 'numCandidates' | 'numTrials' | 'promptModel' | 'taskModel' | 'metricThreshold' | 'callsPerForward' | 'teacherSettings'>> &
    Pick<MIPROv2Options, 'numCandidates' | 'numTrials' | 'promptModel' | 'taskModel' | 'metricThreshold' | 'callsPerForward' | 'teacherSettings'> & { auto: AutoPreset | null };

  constructor(opts: MIPROv2Options = {}) {
    const auto = opts.auto === undefined ? (opts.numCandidates !== undefined ? null : 'light') : opts.auto;
    if (auto !== null && (opts.numCandidates !== undefined || opts.numTrials !== undefined)) {
      throw new Error('MIPROv2: with auto set, numCandidates and numTrials cannot be given (set auto: null to choose them)');
    }
    if (auto === null && opts.numCandidates === undefined) {
      throw new Error('MIPROv2: with auto: null, numCandidates is required');
    }
    if (auto !== null && !(auto in AUTO_RUN_SETTINGS)) throw new Error(`MIPROv2: auto must be light, medium or heavy, got ${String(auto)}`);
    this.o = {
      auto,
      numCandidates: opts.numCandidates,
      numTrials: opts.numTrials,
      maxBootstrappedDemos: opts.maxBootstrappedDemos ?? 4,
      maxLabeledDemos: opts.maxLabeledDemos ?? 4,
      maxRounds: opts.maxRounds ?? 1,
      metricThreshold: opts.metricThreshold,
      maxErrors: opts.maxErrors ?? DEFAULT_MAX_ERRORS,
      minibatch: opts.minibatch ?? true,
      minibatchSize: opts.minibatchSize ?? 35,
      minibatchFullEvalSteps: opts.minibatchFullEvalSteps ?? 5,
      promptModel: opts.promptModel,
      taskModel: opts.taskModel,
      initTemperature: opts.initTemperature ?? 1.0,
      viewDataBatchSize: opts.viewDataBatchSize ?? 10,
      dataAware: opts.dataAware ?? true,
      programAware: opts.programAware ?? true,
      tipAware: opts.tipAware ?? true,
      fewshotAware: opts.fewshotAware ?? true,
      nStartupTrials: opts.nStartupTrials ?? 10,
      dryRun: opts.dryRun ?? false,
      callsPerForward: opts.callsPerForward,
      teacherSettings: opts.teacherSettings,
    };
  }

  private plan(student: Module, opts: CompileOptions): Plan {
    const o = this.o;
    let trainset = [...opts.trainset];
    let valset: Example[];
    if (opts.valset) valset = [...opts.valset];
    else {
      if (trainset.length < 2) throw new Error('MIPROv2: needs a valset, or a trainset of at least 2 examples to split');
      const size = Math.min(1000, Math.max(1, Math.floor(trainset.length * 0.8)));
      const cutoff = trainset.length - size;
      valset = trainset.slice(cutoff);
      trainset = trainset.slice(0, cutoff);
    }
    const valSize = o.auto ? AUTO_RUN_SETTINGS[o.auto].valSize : undefined;
    if (valSize !== undefined && valset.length > valSize) valset = new Rng(deriveSeed(opts.seed ?? 0, 'mipro-valset')).sample(valset, valSize);
    if (valset.length === 0) throw new Error('MIPROv2: the valset is empty');
    const n = o.auto ? AUTO_RUN_SETTINGS[o.auto].n : (o.numCandidates as number);
    if (!Number.isInteger(n) || n < 1) throw new Error(`MIPROv2: numCandidates must be a positive integer, got ${n}`);
    const zeroShot = o.maxBootstrappedDemos === 0 && o.maxLabeledDemos === 0;
    const predictors = student.namedPredictors().map(([p]) => p);
    if (predictors.length === 0) throw new Error('MIPROv2: the program has no predictors to optimize');
    const numVars = predictors.length * (zeroShot ? 1 : 2);
    const numTrials = o.numTrials ?? Math.floor(Math.max(2 * numVars * Math.log2(Math.max(n, 2)), 1.5 * n));
    // DSPy's _set_hyperparams_from_run_mode: int(n * 0.5) instructions with demos.
    const numInstructions = o.auto && !zeroShot ? Math.floor(n * 0.5) : n;
    return {
      n,
      numInstructions,
      numTrials,
      valSize,
      zeroShot,
      trainset,
      valset,
      minibatch: o.minibatch,
      minibatchSize: Math.max(1, Math.min(o.minibatchSize, valset.length)),
      fullEvalSteps: Math.max(1, o.minibatchFullEvalSteps),
      boot: bootstrapSettings({
        maxBootstrappedDemos: o.maxBootstrappedDemos,
        maxLabeledDemos: o.maxLabeledDemos,
        maxRounds: o.maxRounds,
        maxErrors: o.maxErrors,
        ...(o.metricThreshold !== undefined ? { metricThreshold: o.metricThreshold } : {}),
        ...(o.teacherSettings !== undefined ? { teacherSettings: o.teacherSettings } : {}),
      }),
      predictors,
    };
  }

  /** The demo-set seeds (-3 .. n-4, as DSPy's create_n_fewshot_demo_sets). */
  private demoSeeds(p: Plan): number[] {
    if (p.zeroShot) return [-3];
    const out: number[] = [];
    for (let s = -3; s < p.n - 3; s++) out.push(s);
    return out;
  }

  private sizeForSeed(seed: number, runSeed: number, boot: BootstrapSettings): number {
    return new Rng(deriveSeed(runSeed, 'size', seed)).randint(Math.min(1, boot.maxBootstrappedDemos), boot.maxBootstrappedDemos);
  }

  /** What a run would spend; makes no LM call. */
  estimate(student: Module, opts: CompileOptions): RunEstimate {
    const p = this.plan(student, opts);
    const P = p.predictors.length;
    const cpf = this.o.callsPerForward ?? P;
    const seed = opts.seed ?? 0;
    let bootExpected = 0;
    let bootMax = 0;
    if (!p.zeroShot && p.boot.maxBootstrappedDemos > 0) {
      for (const s of this.demoSeeds(p)) {
        if (s < -1) continue;
        const size = s === -1 ? p.boot.maxBootstrappedDemos : this.sizeForSeed(s, seed, p.boot);
        bootExpected += Math.min(size, p.trainset.length) * cpf;
        bootMax += p.trainset.length * p.boot.maxRounds * cpf;
      }
    }
    const summaryCalls = this.o.dataAware && p.numInstructions > 1 ? summaryCallCount(p.trainset.length, this.o.viewDataBatchSize) : 0;
    const proposal = summaryCalls + P * (p.numInstructions - 1);
    const fullEvals = p.minibatch ? Math.floor(p.numTrials / p.fullEvalSteps) + (p.numTrials % p.fullEvalSteps ? 1 : 0) : 0;
    const perTrial = p.minibatch ? p.minibatchSize : p.valset.length;
    const evaluation = cpf * (p.valset.length + p.numTrials * perTrial + fullEvals * p.valset.length);
    const exChars = meanExampleChars([...p.trainset, ...p.valset]);
    const demosPerCall = p.zeroShot ? 0 : Math.min(p.boot.maxLabeledDemos + p.boot.maxBootstrappedDemos, p.trainset.length);
    const taskIn = Math.ceil((800 + (demosPerCall + 1) * exChars) / 4);
    const taskOut = Math.ceil(exChars / 8) + 10;
    const propIn = Math.ceil((2500 + 5 * exChars) / 4);
    const propOut = 120;
    const taskCallsExpected = bootExpected + evaluation;
    const taskCallsMax = bootMax + evaluation;
    const tokens = { input: taskCallsExpected * taskIn + proposal * propIn, output: taskCallsExpected * taskOut + proposal * propOut };
    const taskLM = this.o.taskModel ?? settings.lm;
    const promptLM = this.o.promptModel ?? settings.lm;
    const taskExp = estimatedCostUsd(taskLM, taskCallsExpected, taskIn, taskOut);
    const taskMax = estimatedCostUsd(taskLM, taskCallsMax, taskIn, taskOut);
    const prop = estimatedCostUsd(promptLM, proposal, propIn, propOut);
    const calls = {
      bootstrap: { expected: bootExpected, max: bootMax },
      proposal,
      evaluation,
      total: { expected: bootExpected + proposal + evaluation, max: bootMax + proposal + evaluation },
    };
    const costUsd = taskExp !== undefined && taskMax !== undefined && prop !== undefined ? { expected: taskExp + prop, max: taskMax + prop } : undefined;
    const summary =
      `MIPROv2 dry run: ${p.n} candidates, ${p.numTrials} trials (+${fullEvals} full evals) on ${p.valset.length} val / ${p.trainset.length} train examples; ` +
      `LM calls ~${calls.total.expected} (at most ${calls.total.max}: bootstrap ${bootExpected}-${bootMax}, proposals ${proposal}, evaluation ${evaluation}); ` +
      `~${tokens.input} input + ${tokens.output} output tokens` +
      (costUsd ? `; ~$${costUsd.expected.toFixed(4)} (at most $${costUsd.max.toFixed(4)})` : '; cost unknown (LM not priced)');
    const est: RunEstimate = {
      calls,
      tokens,
      numCandidates: p.n,
      numTrials: p.numTrials,
      fullEvals,
      valsetSize: p.valset.length,
      trainsetSize: p.trainset.length,
      minibatchSize: p.minibatch ? p.minibatchSize : p.valset.length,
      predictors: P,
      callsPerForward: cpf,
      summary,
      ...(costUsd ? { costUsd } : {}),
    };
    return est;
  }

  async compile<M extends Module>(student: M, opts: CompileOptions & RunOptions): Promise<CompileResult<M>> {
    const p = this.plan(student, opts);
    if (this.o.dryRun) {
      const estimate = this.estimate(student, opts);
      const usage = { calls: 0, cacheHits: 0, sent: 0, aborted: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, byModel: {} };
      opts.onProgress?.({ phase: 'dry_run', calls: 0, costUsd: 0, message: estimate.summary });
      const report: CompileReport = { optimizer: this.name, trials: [], usage, cutShort: false, seed: opts.seed ?? 0, estimate };
      return { program: student.deepCopy(), report };
    }
    const { promptModel: _pm, taskModel: _tm, dryRun: _dr, teacherSettings: ts, ...hashable } = this.o;
    return runCompile(
      {
        optimizer: this.name,
        opts,
        config: {
          options: hashable,
          promptModel: this.o.promptModel ? `${this.o.promptModel.provider}:${this.o.promptModel.model}` : null,
          taskModel: this.o.taskModel ? `${this.o.taskModel.provider}:${this.o.taskModel.model}` : null,
          ...(ts && Object.keys(describeOverrides(ts)).length > 0 ? { teacherSettings: describeOverrides(ts) } : {}),
          trainset: p.trainset,
          valset: p.valset,
          numTrials: p.numTrials,
          student: programToJson(student),
          teacher: opts.teacher ? programToJson(opts.teacher) : null,
        },
      },
      (ctx) => this.run(ctx, student, opts, p),
      (ctx) => (ctx.bestProgram as M | undefined) ?? (student.deepCopy() as M),
    );
  }

  private inTask<T>(fn: () => Promise<T>): Promise<T> {
    return this.o.taskModel ? settings.context({ lm: this.o.taskModel }, fn) : fn();
  }

  private async run<M extends Module>(ctx: RunContext, student: M, opts: CompileOptions, p: Plan): Promise<M> {
    const metric: Metric = opts.metric;
    // 1. demo-set candidates: demoSets[predictorIndex][setIndex]
    const demoSets: Example[][][] = p.predictors.map(() => []);
    const seeds = this.demoSeeds(p);
    // The demo-set walks do not depend on each other and all are needed: they run side by side
    // (together within the run's concurrency) and are taken in seed order, as DSPy's loop does.
    const slots = new Slots(ctx.concurrency);
    // The dataset summary (stage 2) needs no demo set: at concurrency > 1 it is written while
    // the walks run, on one of their slots.
    const summaryJob = ctx.concurrency > 1 ? slots.run(() => this.datasetSummary(ctx, p)) : undefined;
    summaryJob?.catch(() => {}); // awaited below, or after a failed stage 1
    try {
      await allInOrder(
        seeds.length,
        ctx.concurrency,
        async (k) => {
          const seed = seeds[k] as number;
          const saved = ctx.journal?.get<Array<Array<Record<string, unknown>>>>(`demos/${seed}`);
          if (saved) return { sets: saved.map((ds) => ds.map((d) => new Example(d))), fresh: false };
          ctx.checkStop();
          const program = await this.inTask(() => this.demoCandidate(ctx, student, seed, opts, p, slots));
          return { sets: program.namedPredictors().map(([, pred]) => pred.demos), fresh: true };
        },
        (k, { sets, fresh }) => {
          const seed = seeds[k] as number;
          if (fresh) ctx.journal?.append(`demos/${seed}`, sets.map((ds) => ds.map((d) => d.toDict())));
          sets.forEach((ds, i) => demoSets[i]?.push(ds));
          ctx.progress({ phase: 'demos', trial: k + 1, totalTrials: seeds.length, message: `demo set for seed ${seed}` });
        },
        (e) => ctx.isStop(e),
      );
    } catch (err) {
      await summaryJob?.catch(() => {}); // no work outlives the run
      throw err;
    }

    // 2. instruction candidates: instructions[predictorIndex][candidateIndex]
    const named = student.namedPredictors();
    const proposeRng = new Rng(deriveSeed(ctx.seed, 'mipro-propose'));
    const summary = await (summaryJob ?? this.datasetSummary(ctx, p));
    const structure = describeProgram(student);
    const instructions: string[][] = named.map(([, pred]) => [pred.signature.instructions]);
    for (const [i, [path, pred]] of named.entries()) {
      for (let j = 1; j < p.numInstructions; j++) {
        const tipKey = this.o.tipAware ? pickTip(proposeRng) : 'none';
        const key = `propose/instruction/${i}/${j}`;
        const saved = ctx.journal?.get<{ instruction: string }>(key);
        let instruction: string;
        if (saved) instruction = saved.instruction;
        else {
          ctx.checkStop();
          const sets = demoSets[i] ?? [];
          try {
            instruction = await proposeInstruction({
              lm: this.o.promptModel,
              datasetSummary: summary,
              programStructure: structure,
              path,
              signature: pred.signature,
              demos: sets.length ? (sets[j % sets.length] as Example[]) : [],
              previous: (instructions[i] as string[]).slice(1),
              tipKey,
              rolloutId: `mipro-propose-${path}-${j}`,
              temperature: this.o.initTemperature,
              dataAware: this.o.dataAware,
              programAware: this.o.programAware,
              fewshotAware: this.o.fewshotAware,
            });
          } catch (err) {
            if (ctx.isStop(err)) throw err;
            ctx.errors += 1;
            instruction = '';
          }
          if (!instruction) instruction = pred.signature.instructions;
          ctx.journal?.append(key, { instruction, tip: tipKey });
        }
        (instructions[i] as string[]).push(instruction);
        ctx.progress({ phase: 'propose', trial: i * (p.numInstructions - 1) + j, totalTrials: named.length * (p.numInstructions - 1), message: `${path}: tip ${tipKey}` });
      }
    }

    // 3. the search
    const build = (params: TpeParams): M => {
      const prog = student.resetCopy() as M;
      prog.namedPredictors().forEach(([, pred], i) => {
        pred.signature = pred.signature.withInstructions((instructions[i] as string[])[params[`${i}_instruction`] ?? 0] as string);
        pred.demos = [...((demoSets[i] as Example[][])[params[`${i}_demos`] ?? 0] ?? [])];
      });
      return prog;
    };
    const space: Record<string, number> = {};
    named.forEach((_, i) => {
      space[`${i}_instruction`] = (instructions[i] as string[]).length;
      if (!p.zeroShot) space[`${i}_demos`] = (demoSets[i] as Example[][]).length;
    });
    const tpe = new CategoricalTPE(space, { seed: deriveSeed(ctx.seed, 'mipro-tpe'), nStartupTrials: this.o.nStartupTrials });
    const batchRng = new Rng(deriveSeed(ctx.seed, 'mipro-minibatch'));
    const paramsKey = (params: TpeParams) => JSON.stringify(Object.keys(params).sort().map((k) => [k, params[k]]));
    const paramsReport = (params: TpeParams) => {
      const out: Record<string, { instruction: number; demos: number }> = {};
      named.forEach(([path], i) => (out[path] = { instruction: params[`${i}_instruction`] ?? 0, demos: params[`${i}_demos`] ?? 0 }));
      return out;
    };
    const evalCached = async (key: string, params: TpeParams, devset: Example[], label: string): Promise<{ score: number; resumed: boolean }> => {
      const saved = ctx.journal?.get<TrialJournal>(key);
      if (saved) {
        if (paramsKey(saved.params) !== paramsKey(params)) {
          throw new Error(`MIPROv2: the run journal's ${key} was run with other parameters; the journal does not belong to this run`);
        }
        return { score: saved.score, resumed: true };
      }
      ctx.checkStop();
      const res = await this.inTask(() => evaluateInRun(ctx, build(params), devset, metric, { maxErrors: p.boot.maxErrors, label }));
      ctx.journal?.append(key, { params, score: res.score } satisfies TrialJournal);
      return { score: res.score, resumed: false };
    };

    const defaults: TpeParams = {};
    for (const k of Object.keys(space)) defaults[k] = 0;
    const base = await evalCached('baseline', defaults, p.valset, 'baseline');
    ctx.baselineScore = base.score;
    ctx.offer(build(defaults), base.score);
    tpe.tell(defaults, base.score);
    let trialNo = 0;
    ctx.trials.push({ trial: trialNo++, kind: 'baseline', score: base.score, params: paramsReport(defaults), size: p.valset.length, ...(base.resumed ? { resumed: true } : {}) });

    const seen = new Map<string, { params: TpeParams; scores: number[] }>();
    const fullyEvaluated = new Set<string>([paramsKey(defaults)]);
    for (let t = 1; t <= p.numTrials; t++) {
      const params = tpe.suggest();
      const devset = p.minibatch ? batchRng.sample(p.valset, p.minibatchSize) : p.valset;
      const r = await evalCached(`trial/${t}`, params, devset, p.minibatch ? 'minibatch' : 'trial');
      tpe.tell(params, r.score);
      const k = paramsKey(params);
      const entry = seen.get(k) ?? { params, scores: [] };
      entry.scores.push(r.score);
      seen.set(k, entry);
      ctx.trials.push({ trial: trialNo++, kind: p.minibatch ? 'minibatch' : 'full', score: r.score, params: paramsReport(params), size: devset.length, ...(r.resumed ? { resumed: true } : {}) });
      if (!p.minibatch) {
        fullyEvaluated.add(k);
        ctx.offer(build(params), r.score);
      }
      ctx.progress({ phase: 'trial', trial: t, totalTrials: p.numTrials, score: r.score, bestScore: ctx.bestScore as number });
      if (p.minibatch && (t % p.fullEvalSteps === 0 || t === p.numTrials)) {
        let best: { key: string; params: TpeParams; mean: number } | undefined;
        for (const [key, e] of seen) {
          if (fullyEvaluated.has(key)) continue;
          const mean = e.scores.reduce((a, b) => a + b, 0) / e.scores.length;
          if (!best || mean > best.mean) best = { key, params: e.params, mean };
        }
        if (best) {
          fullyEvaluated.add(best.key);
          const f = await evalCached(`full/${t}`, best.params, p.valset, 'full_eval');
          ctx.trials.push({ trial: trialNo++, kind: 'full', score: f.score, params: paramsReport(best.params), size: p.valset.length, ...(f.resumed ? { resumed: true } : {}) });
          ctx.offer(build(best.params), f.score);
          ctx.progress({ phase: 'full_eval', trial: t, totalTrials: p.numTrials, score: f.score, bestScore: ctx.bestScore as number });
        }
      }
    }
    return ctx.bestProgram as M;
  }

  /** DSPy's dataset summary for the proposer ('' when not data-aware or on a failure). */
  private async datasetSummary(ctx: RunContext, p: Plan): Promise<string> {
    if (!this.o.dataAware || p.numInstructions <= 1) return '';
    const saved = ctx.journal?.get<{ summary: string }>('propose/summary');
    if (saved) return saved.summary;
    ctx.checkStop();
    let summary = '';
    try {
      summary = await summarizeDataset(p.trainset, { lm: this.o.promptModel, batchSize: this.o.viewDataBatchSize });
    } catch (err) {
      if (ctx.isStop(err)) throw err;
      ctx.errors += 1;
    }
    ctx.journal?.append('propose/summary', { summary });
    return summary;
  }

  private async demoCandidate<M extends Module>(ctx: RunContext, student: M, seed: number, opts: CompileOptions, p: Plan, slots: Slots): Promise<M> {
    if (seed === -3) return student.resetCopy() as M;
    if (seed === -2) {
      return applyLabeledDemos(student.resetCopy() as M, p.trainset, p.boot.maxLabeledDemos, true, new Rng(deriveSeed(ctx.seed, 'labeled')));
    }
    let trainset = p.trainset;
    let s = p.boot;
    if (seed >= 0) {
      trainset = new Rng(deriveSeed(ctx.seed, 'shuffle', seed)).shuffle([...p.trainset]);
      s = { ...p.boot, maxBootstrappedDemos: this.sizeForSeed(seed, ctx.seed, p.boot) };
    }
    return new BootstrapRun(ctx, student, trainset, opts.metric, opts.teacher, s, `demos/${seed}/bootstrap`, slots).run();
  }
}
