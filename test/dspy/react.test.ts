import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { BaseCallback, ReAct, settings, Tool, ToolArgsError } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

function weatherTool(calls: unknown[]) {
  return new Tool({
    name: 'get_weather',
    description: 'Look up the weather.\nReturns a sentence.',
    args: z.object({ city: z.string().describe('The city'), days: z.number().int().optional() }),
    func: ({ city, days }) => {
      calls.push({ city, days });
      return `The weather in ${city} is sunny.`;
    },
  });
}

describe('Tool', () => {
  it("validates arguments with its zod schema and shows itself as DSPy's str(tool)", async () => {
    const calls: unknown[] = [];
    const t = weatherTool(calls);
    expect(t.toString()).toBe(
      "get_weather, whose description is <desc>Look up the weather.  Returns a sentence.</desc>. It takes arguments {'city': {'type': 'string', 'description': 'The city'}, 'days': {'type': 'integer', 'minimum': -9007199254740991, 'maximum': 9007199254740991}}.",
    );
    expect(await t.call({ city: 'Paris' })).toBe('The weather in Paris is sunny.');
    await expect(t.call({ city: 3 })).rejects.toBeInstanceOf(ToolArgsError);
    await expect(t.call({ city: 3 })).rejects.toThrow(/city/);
    expect(calls).toEqual([{ city: 'Paris', days: undefined }]);
    expect(() => new Tool({ name: 'bad name', func: () => 1 })).toThrow(/invalid name/);
  });
});

describe('ReAct', () => {
  it('loops thought -> tool -> observation until finish, then extracts the outputs with ChainOfThought', async () => {
    const calls: unknown[] = [];
    const lm = new DummyLM([
      { next_thought: 'I need the weather.', next_tool_name: 'get_weather', next_tool_args: { city: 'Tokyo' } },
      { next_thought: 'Wrong args on purpose.', next_tool_name: 'get_weather', next_tool_args: { town: 'Tokyo' } },
      { next_thought: 'Done.', next_tool_name: 'finish', next_tool_args: {} },
      { reasoning: 'The tool said sunny.', answer: 'Sunny' },
    ]);
    const agent = new ReAct('question -> answer', [weatherTool(calls)]);
    agent.setLM(lm);
    const events: string[] = [];
    class Spy extends BaseCallback {
      override onToolStart(_id: string, instance: unknown): void {
        events.push(`tool:${(instance as Tool).name}`);
      }
    }
    const out = await settings.context({ callbacks: [new Spy()] }, () => agent.call({ question: 'Weather in Tokyo?' }));
    expect(out.get('answer')).toBe('Sunny');
    expect(out.get('reasoning')).toBe('The tool said sunny.');
    const trajectory = out.get<Record<string, unknown>>('trajectory');
    expect(Object.keys(trajectory)).toEqual([
      'thought_0', 'tool_name_0', 'tool_args_0', 'observation_0',
      'thought_1', 'tool_name_1', 'tool_args_1', 'observation_1',
      'thought_2', 'tool_name_2', 'tool_args_2', 'observation_2',
    ]);
    expect(trajectory['observation_0']).toBe('The weather in Tokyo is sunny.');
    expect(trajectory['observation_1']).toMatch(/^Execution error in get_weather: Tool get_weather: invalid arguments: city/);
    expect(trajectory['observation_2']).toBe('Completed.');
    expect(calls).toEqual([{ city: 'Tokyo', days: undefined }]);
    expect(events).toEqual(['tool:get_weather', 'tool:get_weather', 'tool:finish']);
    // The react prompt: DSPy's instructions with the tools listed, the trajectory as input fields.
    const system = lm.history[0]!.messages[0]!.content;
    expect(system).toContain('You are an Agent. In each episode, you will be given the fields `question` as input.');
    expect(system).toContain("(1) get_weather, whose description is <desc>Look up the weather.  Returns a sentence.</desc>.");
    expect(system).toContain(
      "(2) finish, whose description is <desc>Marks the task as complete. That is, signals that all information for producing the outputs, i.e. `answer`, are now available to be extracted.</desc>. It takes arguments {}.",
    );
    expect(system).toContain('When providing `next_tool_args`, the value inside the field must be in JSON format');
    expect(system).toContain("2. `next_tool_name` (Literal['get_weather', 'finish']):");
    expect(system).toContain('3. `next_tool_args` (dict[str, Any]):');
    const secondUser = lm.history[1]!.messages.at(-1)!.content;
    expect(secondUser).toContain('[[ ## trajectory ## ]]\n[[ ## thought_0 ## ]]\nI need the weather.\n\n[[ ## tool_name_0 ## ]]\nget_weather\n\n[[ ## tool_args_0 ## ]]\n{"city": "Tokyo"}\n\n[[ ## observation_0 ## ]]\nThe weather in Tokyo is sunny.');
    expect(agent.namedPredictors().map(([n]) => n)).toEqual(['react', 'extract.predict']);
  });

  it('stops after max_iters turns, or when no valid tool is chosen', async () => {
    const lm = new DummyLM([
      { next_thought: 't', next_tool_name: 'get_weather', next_tool_args: { city: 'A' } },
      { reasoning: 'r', answer: 'x' },
    ]);
    const agent = new ReAct('question -> answer', [weatherTool([])], { maxIters: 1 });
    agent.setLM(lm);
    expect(Object.keys((await agent.call({ question: 'q' })).get<object>('trajectory'))).toHaveLength(4);
    const lm2 = new DummyLM([
      { next_thought: 't', next_tool_name: 'launch_rockets', next_tool_args: {} },
      '{"next_thought": "t", "next_tool_name": "launch_rockets", "next_tool_args": {}}',
      { reasoning: 'r', answer: 'y' },
    ]);
    const agent2 = new ReAct('question -> answer', [weatherTool([])]);
    agent2.setLM(lm2);
    const out = await agent2.call({ question: 'q' });
    expect(out.get('trajectory')).toEqual({});
    expect(out.get('answer')).toBe('y');
  });
});
