/**
 * One error base class (issue #15, item 1): a caller catches the library's failures with
 * `instanceof ElexirionError` and tells them apart by a stable `code`, whatever area threw.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as root from '../../src/index.js';
import * as sidecar from '../../src/sidecar/index.js';
import { DummyLM, ElexirionError, Evaluate, Example, getMetric, loadProgram, ManagedLM, Predict, run, settings, Signature } from '../../src/index.js';
import { loadYaml } from '../../src/pipeline/yaml.js';
import { parsePipeline } from '../../src/pipeline/model.js';

afterEach(() => settings.reset());

async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('every error the library throws is an ElexirionError with a stable code', () => {
  it('dspy: a bad signature, no LM configured', async () => {
    const bad = await thrown(() => Signature.parse('no arrow here'));
    expect(bad).toBeInstanceOf(ElexirionError);
    expect(bad).toMatchObject({ code: 'SIGNATURE_PARSE_ERROR', name: 'SignatureParseError' });
    const noLM = await thrown(() => new Predict('question -> answer').call({ question: 'q' }));
    expect(noLM).toBeInstanceOf(ElexirionError);
    expect((noLM as ElexirionError).code).toBe('NO_LM_CONFIGURED_ERROR');
  });

  it('lm: a budget exceeded, a dummy LM out of answers', async () => {
    const lm = new ManagedLM(DummyLM.ordered(['a', 'b']), { cache: false, budget: { maxCalls: 1 } });
    await lm.generate([{ role: 'user', content: 'one' }]);
    const over = await thrown(() => lm.generate([{ role: 'user', content: 'two' }]));
    expect(over).toBeInstanceOf(ElexirionError);
    expect((over as ElexirionError).code).toBe('BUDGET_EXCEEDED_ERROR');
    const empty = await thrown(() => DummyLM.ordered([]).generate([{ role: 'user', content: 'x' }]));
    expect(empty).toBeInstanceOf(ElexirionError);
    expect((empty as ElexirionError).code).toBe('DUMMY_LM_ERROR');
  });

  it('optimizers: a saved program that does not fit, an evaluation past maxErrors', async () => {
    const load = await thrown(() => loadProgram(new Predict('question -> answer'), { nope: {} }));
    expect(load).toBeInstanceOf(ElexirionError);
    expect((load as ElexirionError).code).toBe('PROGRAM_LOAD_ERROR');
    settings.configure({ lm: DummyLM.bySubstring({ q: { answer: 'a' } }) });
    const devset = [new Example({ question: 'q', answer: 'a' }).withInputs('question')];
    const boom = () => {
      throw new Error('metric broke');
    };
    const evaluation = await thrown(() => new Evaluate({ devset, metric: boom, maxErrors: 1 }).run(new Predict('question -> answer')));
    expect(evaluation).toBeInstanceOf(ElexirionError);
    expect((evaluation as ElexirionError).code).toBe('EVALUATION_ERROR');
  });

  it('run: invalid run params', async () => {
    const err = await thrown(() => run.checkRunId('../escape'));
    expect(err).toBeInstanceOf(run.RunParamsError);
    expect(err).toBeInstanceOf(ElexirionError);
    expect((err as ElexirionError).code).toBe('RUN_PARAMS_ERROR');
  });

  it('pipeline and metrics: bad YAML, an invalid pipeline, an unknown metric', async () => {
    const yaml = await thrown(() => loadYaml('a: [1, 2', 'p.yaml'));
    expect(yaml).toBeInstanceOf(ElexirionError);
    expect((yaml as ElexirionError).code).toBe('PIPELINE_YAML_ERROR');
    const invalid = await thrown(() => parsePipeline({ workflow: { steps: [] } }));
    expect(invalid).toBeInstanceOf(ElexirionError);
    expect((invalid as ElexirionError).code).toBe('WORKFLOW_REFUSED_ERROR'); // a PipelineValidationError pipeline_ex would refuse
    const metric = await thrown(() => getMetric('no_such_metric'));
    expect(metric).toBeInstanceOf(ElexirionError);
    expect((metric as ElexirionError).code).toBe('METRIC_CONFIG_ERROR');
  });

  it('every error class exported by the package and its sidecar entry extends it, with a distinct code', () => {
    // The JSON-RPC errors keep `code` as the protocol's numeric code (see src/errors.ts).
    const protocolErrors = new Set(['RpcError', 'PeerRequestError']);
    const seen = new Map<string, string>();
    const classes = new Map<string, unknown>([...Object.entries(root), ...Object.entries(root.run), ...Object.entries(sidecar)]);
    for (const [name, value] of classes) {
      if (typeof value !== 'function' || !(value.prototype instanceof Error) || value === ElexirionError) continue;
      if (protocolErrors.has(name)) continue;
      expect(value.prototype instanceof ElexirionError, `${name} extends ElexirionError`).toBe(true);
      const code = codeOf(value as new (...a: never[]) => ElexirionError);
      expect(code, `${name}.code`).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(seen.get(code), `${name} and ${seen.get(code)} share ${code}`).toBeUndefined();
      seen.set(code, name);
    }
    expect(seen.size).toBeGreaterThanOrEqual(15);
  });
});

/** The code of an instance: made with the first argument list its constructor accepts. */
function codeOf(cls: new (...a: never[]) => ElexirionError): string {
  const argLists: unknown[][] = [['probe', 'probe', 'probe'], [[{ path: [], message: 'probe' }]], [{ path: 'probe', message: 'probe' }], []];
  for (const args of argLists) {
    try {
      return (Reflect.construct(cls, args) as ElexirionError).code;
    } catch {
      // try the next shape
    }
  }
  return `(no argument list constructs ${cls.name})`;
}
