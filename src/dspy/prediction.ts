/** Prediction: the outputs of a module call, an Example of output fields (as in DSPy). */
import { Example } from './example.js';

export class Prediction extends Example {
  static from(outputs: Record<string, unknown>): Prediction {
    return new Prediction(outputs);
  }
}
