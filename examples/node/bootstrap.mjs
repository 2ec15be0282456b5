// BootstrapFewShot: demos bootstrapped from the program's own successful runs.
import { BootstrapFewShot, Example, Module, Predict, createLM, saveProgram, settings } from 'elexirion';

settings.configure({ lm: createLM(process.env.LM || 'offline') });

class QA extends Module {
  answer = new Predict('question -> answer');
  forward(inputs) {
    return this.answer.call(inputs);
  }
}

const trainset = Array.from({ length: 8 }, (_, i) => new Example({ question: `What is ${i} + ${i}?`, answer: String(2 * i) }).withInputs('question'));
const optimizer = new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 2 });
const { program, report } = await optimizer.compile(new QA(), {
  trainset,
  metric: (ex, pred) => pred.get('answer') === ex.get('answer'),
  seed: 1,
});
console.log(`demos: ${program.answer.demos.length}; LM calls: ${report.usage.calls}`);
console.log(JSON.stringify(saveProgram(program)).slice(0, 80) + '...');
