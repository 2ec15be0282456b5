// Evaluate a program on a devset with a metric: the mean score (0-100) and per-example results.
import { Evaluate, Example, Predict, createLM, settings } from 'elexirion';

settings.configure({ lm: createLM(process.env.LM || 'offline') });
const data = [
  ['2 + 2', '4'],
  ['3 + 5', '8'],
  ['10 - 7', '3'],
].map(([question, answer]) => new Example({ question, answer }).withInputs('question'));

const program = new Predict('question -> answer', { demos: data });
const evaluate = new Evaluate({ devset: data, metric: (ex, pred) => pred.get('answer') === ex.get('answer'), concurrency: 4 });
const result = await evaluate.run(program);
console.log(`score: ${result.score} on ${result.results.length} examples`);
