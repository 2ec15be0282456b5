// Streaming a field with streamify: pieces of `answer` as the LM writes them, then the
// Prediction. Runs offline (the offline LM answers at once, so the field comes as one piece);
// with LM=anthropic:claude-haiku-4-5 or an OpenAI-compatible server it comes in many.
import { Example, Predict, Prediction, StreamListener, createLM, settings, streamify } from 'elexirion';

settings.configure({ lm: createLM(process.env.LM || 'offline') });

const qa = new Predict('question -> answer', {
  demos: [new Example({ question: 'What is the capital of France?', answer: 'Paris' }).withInputs('question')],
});
const stream = streamify(qa, { streamListeners: [new StreamListener('answer')] });

let streamed = '';
let pieces = 0;
let prediction;
for await (const item of stream({ question: 'What is the capital of France?' })) {
  if (item instanceof Prediction) prediction = item;
  else {
    streamed += item.chunk;
    pieces += 1;
  }
}
console.log(`streamed: ${streamed} in ${pieces} piece(s); prediction: ${prediction.get('answer')}`);
