// MIPROv2 (light): instructions proposed by a prompt model and demo sets, searched with TPE.
// Offline here; over a local OpenAI-compatible server: LM=openai:http://127.0.0.1:11434/v1#llama3
import { Example, MIPROv2, Module, Predict, createLM, settings } from 'elexirion';

const lm = createLM(process.env.LM || 'offline');
settings.configure({ lm });

class QA extends Module {
  answer = new Predict('question -> answer');
  forward(inputs) {
    return this.answer.call(inputs);
  }
}

const data = Array.from({ length: 12 }, (_, i) => new Example({ question: `Capital of country #${i}?`, answer: `City ${i}` }).withInputs('question'));
const optimizer = new MIPROv2({ auto: 'light', promptModel: lm, taskModel: lm, maxBootstrappedDemos: 1, maxLabeledDemos: 1 });
const { report } = await optimizer.compile(new QA(), {
  trainset: data,
  metric: (ex, pred) => pred.get('answer') === ex.get('answer'),
  seed: 7,
  concurrency: 4,
});
console.log(`baseline ${report.baselineScore} -> best ${report.bestScore} in ${report.trials.length} trials`);
