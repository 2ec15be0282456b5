/**
 * ReAct: DSPy's `dspy.ReAct` agent loop. Each turn, the `react` predictor sees the inputs and
 * the trajectory so far and writes `next_thought`, `next_tool_name` (one of the tools or
 * `finish`) and `next_tool_args` (JSON); the tool runs and its result (or its error) is
 * appended as the turn's observation. The loop ends at `finish`, after `maxIters` turns, or
 * when the LM's answer does not parse (no valid tool chosen); then `extract`, a
 * ChainOfThought over the original signature plus the trajectory, produces the outputs.
 * The Prediction holds the trajectory, `reasoning` and the output fields, as DSPy's.
 */
import { BaseAdapter, AdapterParseError } from './adapter.js';
import { ChainOfThought } from './chain_of_thought.js';
import { ChatAdapter } from './chat_adapter.js';
import { Module } from './module.js';
import { Predict } from './predict.js';
import { Prediction } from './prediction.js';
import { settings } from './settings.js';
import { Signature } from './signature.js';
import { Tool } from './tool.js';

/** Options of ReAct. */
export interface ReActOptions {
  /** Turns at most (default 20, DSPy's); a call may pass `max_iters` among its inputs instead. */
  maxIters?: number;
}

let chatForTrajectory: ChatAdapter | undefined;

/** The ReAct agent loop (DSPy's `dspy.ReAct`); predictors `react` and `extract.predict`. */
export class ReAct extends Module {
  readonly signature: Signature;
  readonly maxIters: number;
  /** The tools by name, `finish` last. */
  readonly tools: Readonly<Record<string, Tool>>;
  react: Predict;
  extract: ChainOfThought;

  constructor(signature: Signature | string, tools: readonly Tool[], options: ReActOptions = {}) {
    super();
    const sig = typeof signature === 'string' ? Signature.parse(signature) : signature;
    this.signature = sig;
    this.maxIters = options.maxIters ?? 20;
    const byName: Record<string, Tool> = {};
    for (const t of tools) {
      if (!(t instanceof Tool)) throw new TypeError('ReAct: every tool must be a Tool (new Tool({ name, description, args, func }))');
      byName[t.name] = t;
    }
    const inputs = sig.inputNames.map((k) => `\`${k}\``).join(', ');
    const outputs = sig.outputNames.map((k) => `\`${k}\``).join(', ');
    byName['finish'] = new Tool({
      name: 'finish',
      description: `Marks the task as complete. That is, signals that all information for producing the outputs, i.e. ${outputs}, are now available to be extracted.`,
      func: () => 'Completed.',
    });
    this.tools = Object.freeze(byName);
    const instr = sig.instructions ? [`${sig.instructions}\n`] : [];
    instr.push(
      `You are an Agent. In each episode, you will be given the fields ${inputs} as input. And you can see your past trajectory so far.`,
      `Your goal is to use one or more of the supplied tools to collect any necessary information for producing ${outputs}.\n`,
      'To do this, you will interleave next_thought, next_tool_name, and next_tool_args in each turn, and also when finishing the task.',
      'After each tool call, you receive a resulting observation, which gets appended to your trajectory.\n',
      'When writing next_thought, you may reason about the current situation and plan for future steps.',
      'When selecting the next_tool_name and its next_tool_args, the tool must be one of:\n',
    );
    Object.values(byName).forEach((t, i) => instr.push(`(${i + 1}) ${t.toString()}`));
    instr.push('When providing `next_tool_args`, the value inside the field must be in JSON format');
    const names = Object.keys(byName).map((n) => `'${n}'`).join(', ');
    this.react = new Predict(
      new Signature({
        inputs: [...sig.inputFields, { name: 'trajectory', type: 'str' }],
        outputs: [
          { name: 'next_thought', type: 'str' },
          { name: 'next_tool_name', type: `Literal[${names}]` },
          { name: 'next_tool_args', type: 'dict[str, Any]' },
        ],
        instructions: instr.join('\n'),
      }),
    );
    this.extract = new ChainOfThought(
      new Signature({ inputs: [...sig.inputFields, { name: 'trajectory', type: 'str' }], outputs: sig.outputFields, instructions: sig.instructions }),
    );
  }

  /** The trajectory as the adapter in effect shows input fields (DSPy's `_format_trajectory`). */
  formatTrajectory(trajectory: Record<string, unknown>): string {
    const inSettings = settings.adapter;
    const adapter = inSettings instanceof BaseAdapter ? inSettings : (chatForTrajectory ??= new ChatAdapter());
    const keys = Object.keys(trajectory);
    const sig = new Signature({ inputs: keys.map((name) => ({ name })), outputs: [{ name: 'x' }] });
    return adapter.userMessage(sig, trajectory);
  }

  /** Run the agent on the signature's inputs (`max_iters` may be among them). */
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const { max_iters, ...args } = inputs;
    const maxIters = typeof max_iters === 'number' ? max_iters : this.maxIters;
    const trajectory: Record<string, unknown> = {};
    for (let idx = 0; idx < maxIters; idx++) {
      let pred: Prediction;
      try {
        pred = await this.react.call({ ...args, trajectory: this.formatTrajectory(trajectory) });
      } catch (e) {
        // DSPy ends the episode when the agent fails to select a valid tool.
        if (e instanceof AdapterParseError) break;
        throw e;
      }
      const toolName = pred.get<string>('next_tool_name');
      const toolArgs = pred.get<Record<string, unknown>>('next_tool_args');
      trajectory[`thought_${idx}`] = pred.get('next_thought');
      trajectory[`tool_name_${idx}`] = toolName;
      trajectory[`tool_args_${idx}`] = toolArgs;
      try {
        trajectory[`observation_${idx}`] = await this.tools[toolName]!.call(toolArgs);
      } catch (e) {
        settings.current().signal?.throwIfAborted();
        trajectory[`observation_${idx}`] = `Execution error in ${toolName}: ${(e as Error)?.message ?? String(e)}`;
      }
      if (toolName === 'finish') break;
    }
    const extracted = await this.extract.call({ ...args, trajectory: this.formatTrajectory(trajectory) });
    return new Prediction({ trajectory, ...extracted.fields() });
  }
}
