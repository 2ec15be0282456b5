// A Predict program: a signature, an LM, one call. Runs offline (the deterministic offline LM
// answers by following the demos); set LM=anthropic:claude-haiku-4-5 (with ANTHROPIC_API_KEY)
// or LM=openai:http://127.0.0.1:11434/v1#llama3 to use a real model.
import { Example, Predict, createLM, settings } from 'elexirion';

settings.configure({ lm: createLM(process.env.LM || 'offline') });

const qa = new Predict('question -> answer', {
  demos: [new Example({ question: 'What is the capital of France?', answer: 'Paris' }).withInputs('question')],
});
const prediction = await qa.call({ question: 'What is the capital of France?' });
console.log(`answer: ${prediction.get('answer')}`);
