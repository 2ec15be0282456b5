import { stat, readFile } from 'node:fs/promises';
import { PipelineLoadParams, type PipelineLoadResult } from '../../protocol/pipeline_load.js';
import { RpcError, ErrorCode } from '../../rpc/errors.js';
import { defineMethod } from '../registry.js';

/** A workflow file bigger than this is refused before it is read (every input has a limit). */
export const MAX_WORKFLOW_BYTES = 4 * 1024 * 1024;

/**
 * `pipeline/load {path}`: the workflow map an Elixir app without a YAML library hands to
 * `Pipeline.execute/2` or an executor, and whether pipeline_ex would load it at all
 * (`accepted`, else `refusal {path, type, reason}`: the first problem pipeline_ex's
 * `Config.validate_workflow/1` reports, or the first one our model reports). An unreadable
 * file or invalid YAML is a -32012 error, not a refusal: there is no config to speak of.
 */
export default defineMethod({
  method: 'pipeline/load',
  kind: 'request',
  params: PipelineLoadParams,
  async handler(params): Promise<PipelineLoadResult> {
    const [{ loadYaml }, { parsePipeline }, { checkWorkflowAcceptance, nestedWarnings }, { PipelineValidationError }] = await Promise.all([
      import('../../pipeline/yaml.js'),
      import('../../pipeline/model.js'),
      import('../../pipeline/acceptance.js'),
      import('../../pipeline/errors.js'),
    ]);
    const text = await readWorkflow(params.path);
    const raw = loadYaml(text, params.path);
    const config = isObj(raw) ? raw : null;
    const wf = config && isObj(config.workflow) ? config.workflow : undefined;
    const name = wf && typeof wf.name === 'string' ? wf.name : null;
    const warnings = nestedWarnings(raw);
    const verdict = checkWorkflowAcceptance(raw);
    if (!verdict.accepted) {
      const { path, type, reason } = verdict.refusal;
      return { config, name, warnings, accepted: false, refusal: { path, type: type ?? 'workflow', reason } };
    }
    try {
      parsePipeline(raw, params.path);
    } catch (err) {
      if (!(err instanceof PipelineValidationError)) throw err;
      const first = err.issues[0];
      const type = stepTypeAt(raw, first?.path ?? '');
      return {
        config,
        name,
        warnings,
        accepted: false,
        refusal: { path: first?.path ?? '(root)', type, reason: `${first?.message ?? err.message} (pipeline_ex loads it; this project's model does not)` },
      };
    }
    return { config, name, warnings, accepted: true };
  },
});

async function readWorkflow(path: string): Promise<string> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new RpcError(ErrorCode.InvalidInput, `${path} is not a file`, { path });
    size = st.size;
  } catch (err) {
    if (err instanceof RpcError) throw err;
    throw new RpcError(ErrorCode.InvalidInput, `cannot read workflow ${path}: ${(err as Error).message}`, { path });
  }
  if (size > MAX_WORKFLOW_BYTES) {
    throw new RpcError(ErrorCode.InvalidInput, `workflow ${path} is ${size} bytes; the limit is ${MAX_WORKFLOW_BYTES}`, { path });
  }
  return readFile(path, 'utf8');
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The type of the innermost step a validation path points into
 * (`workflow.steps[0].steps[2].prompt` -> the type of that loop body's step 2).
 */
function stepTypeAt(raw: unknown, path: string): string {
  const tokens = path.match(/[^.[\]]+/g) ?? [];
  let node: unknown = raw;
  let type = 'workflow';
  for (let i = 0; i < tokens.length; i++) {
    const key = tokens[i] as string;
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObj(node)) node = node[key];
    else break;
    if (tokens[i - 1] === 'steps' && /^\d+$/.test(key)) type = isObj(node) && typeof node.type === 'string' ? node.type : 'unknown';
  }
  return type;
}
