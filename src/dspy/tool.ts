/**
 * Tool: a function an agent (ReAct) may call, with its arguments typed by a zod object schema
 * (DSPy's `dspy.Tool`, whose args come from Python type hints). The LM sees the name, the
 * description and the arguments' JSON schema; the arguments it writes are validated by the
 * schema before the function runs, and a mismatch is an error naming the argument.
 */
import { ElexirionError } from '../errors.js';
import * as z from 'zod';
import { observed } from './callbacks.js';
import { pyRepr } from './json_text.js';
import { settings } from './settings.js';

/** What a Tool is made of. */
export interface ToolInit<A extends z.ZodObject = z.ZodObject> {
  /** A name the LM writes to call it: letters, digits and _ (not starting with a digit). */
  name: string;
  description?: string;
  /** The arguments: a zod object; its properties' `.describe()` texts become the argument descriptions. */
  args?: A;
  /** The function the tool runs with the validated arguments (may be async). */
  func: (args: z.output<A>) => unknown;
}

/** The LM called a tool with arguments its schema refuses. */
export class ToolArgsError extends ElexirionError {
  override readonly code: string = 'TOOL_ARGS_ERROR';
  override name = 'ToolArgsError';
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A function an agent may call, with zod-typed arguments (DSPy's `dspy.Tool`). */
export class Tool<A extends z.ZodObject = z.ZodObject> {
  readonly name: string;
  readonly description: string | undefined;
  readonly schema: A;
  /** Each argument's JSON schema (DSPy's `Tool.args`). */
  readonly args: Record<string, unknown>;
  private readonly func: (args: z.output<A>) => unknown;

  constructor(init: ToolInit<A>) {
    if (typeof init.name !== 'string' || !NAME_RE.test(init.name)) {
      throw new Error(`Tool: invalid name ${JSON.stringify(init.name)} (use letters, digits and _, not starting with a digit)`);
    }
    if (typeof init.func !== 'function') throw new TypeError(`Tool ${init.name}: func must be a function`);
    this.name = init.name;
    this.description = init.description;
    this.schema = (init.args ?? z.object({})) as A;
    const json = z.toJSONSchema(this.schema, { unrepresentable: 'any' }) as { properties?: Record<string, unknown> };
    this.args = json.properties ?? {};
    this.func = init.func;
  }

  /** Validate `args` with the schema, then run the function (reported to onToolStart/onToolEnd callbacks). */
  async call(args: unknown): Promise<unknown> {
    const callbacks = settings.callbacks;
    const run = async () => {
      const parsed = this.schema.safeParse(args ?? {});
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(args)'}: ${i.message}`).join('; ');
        throw new ToolArgsError(`Tool ${this.name}: invalid arguments: ${issues}`);
      }
      return this.func(parsed.data);
    };
    if (callbacks.length === 0) return run();
    return observed(callbacks, 'Tool', this, { args }, run);
  }

  /** DSPy's `str(tool)`: `name, whose description is <desc>...</desc>. It takes arguments {...}.` */
  toString(): string {
    const desc = this.description ? `, whose description is <desc>${this.description}</desc>.`.replace(/\n/g, '  ') : '.';
    return `${this.name}${desc} It takes arguments ${pyRepr(this.args)}.`;
  }
}
