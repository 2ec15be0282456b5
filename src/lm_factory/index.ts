/**
 * An LM from a spec string (`anthropic:MODEL`, `openai:BASEURL#MODEL`, `offline`, `dummy`,
 * `cassette:PATH`): the one place that knows every kind, the test LMs included. It sits above
 * both `lm/` (providers) and `dspy/` (DummyLM answers in the adapters' formats), so neither
 * of those imports the other's runtime in a circle.
 */
export { createLM, type CreateLMOptions } from './create.js';
export { LMRegistry } from './registry.js';
