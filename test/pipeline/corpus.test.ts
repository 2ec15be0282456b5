/**
 * The workflows pipeline_ex ships (its 58 YAML files and the Markdown `yaml` blocks that are
 * whole workflows), read in place from `../shared/pipeline_ex/corpus` beside the repository or
 * from $PIPELINE_EX_CORPUS; nothing of it is committed. For each workflow:
 * - it loads for optimization exactly when pipeline_ex's loader would load it (the expectation
 *   is computed here, from config.ex's rules, independently of src/pipeline/acceptance.ts);
 * - its optimizable prompts are exactly the prompts pipeline_ex sends (again computed here, by
 *   a plain walk of the steps);
 * - dump/load round trips are byte-stable, and rendering a candidate changes only the
 *   optimized parts: putting the original prompts back gives the source bytes.
 * The counts are printed; when the corpus is absent the suite says so and skips.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  dumpPipeline,
  loadPipeline,
  PipelineProgram,
  promptSites,
  WorkflowRefusedError,
  type ExecuteResult,
  type PipelineConfig,
} from '../../src/pipeline/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const corpusDir = process.env['PIPELINE_EX_CORPUS'] ?? resolve(repoRoot, '../shared/pipeline_ex/corpus');
const present = existsSync(corpusDir);
if (!present) {
  console.warn(`corpus suite skipped: no pipeline_ex corpus at ${corpusDir} (set PIPELINE_EX_CORPUS to its folder)`);
}

type Dict = Record<string, unknown>;
const isMap = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);
const nil = (v: unknown) => v === undefined || v === null;

interface Workflow {
  label: string;
  text: string;
  doc: unknown;
}

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) files(p, out);
    else out.push(p);
  }
  return out;
}

const parse = (text: string): unknown => {
  try {
    return yaml.load(text, { schema: yaml.CORE_SCHEMA });
  } catch {
    return undefined;
  }
};

function corpus(): { yamlFiles: Workflow[]; mdBlocks: Workflow[]; mdFiles: number } {
  const all = files(corpusDir);
  const yamlFiles = all.filter((f) => /\.ya?ml$/.test(f)).map((f) => {
    const text = readFileSync(f, 'utf8');
    return { label: relative(corpusDir, f), text, doc: parse(text) };
  });
  const mdBlocks: Workflow[] = [];
  const mdWith = new Set<string>();
  for (const f of all.filter((x) => x.endsWith('.md'))) {
    const md = readFileSync(f, 'utf8');
    let n = 0;
    // Fences may be indented (inside list items): their content loses that indentation.
    for (const m of md.matchAll(/^([ \t]*)```yaml[^\n]*\n([\s\S]*?)^[ \t]*```/gm)) {
      n += 1;
      const indent = m[1]!;
      const text = m[2]!
        .split('\n')
        .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
        .join('\n');
      const doc = parse(text);
      if (isMap(doc) && isMap(doc['workflow']) && Array.isArray(doc['workflow']['steps'])) {
        mdBlocks.push({ label: `${relative(corpusDir, f)}#yaml-${n}`, text, doc });
        mdWith.add(f);
      }
    }
  }
  return { yamlFiles, mdBlocks, mdFiles: mdWith.size };
}

// ---- What pipeline_ex's loader does (lib/pipeline/config.ex at ff625ec), written plainly. ----
const TYPES = 'set_variable claude gemini parallel_claude gemini_instructor claude_smart claude_session claude_extract claude_batch claude_robust for_loop while_loop data_transform file_ops pipeline'.split(' ');
const LLM = 'claude gemini gemini_instructor claude_smart claude_session claude_extract claude_robust'.split(' ');
const PART_KEY: Dict = { static: 'content', file: 'path', previous_response: 'step', session_context: 'session_id', claude_continue: 'session_id' };

/** Why pipeline_ex refuses the workflow (a short category), or undefined when it loads it. */
function loaderRefusal(doc: unknown): string | undefined {
  if (!isMap(doc) || !isMap(doc['workflow'])) return 'no workflow root';
  const wf = doc['workflow'];
  if (nil(wf['name'])) return 'no name';
  const steps = wf['steps'];
  if (!Array.isArray(steps) || steps.length === 0) return 'no steps';
  for (const step of steps) {
    if (!isMap(step) || nil(step['name']) || nil(step['type'])) return 'step without name/type';
    if (step['type'] === 'test_echo') return 'test_echo';
    if (!TYPES.includes(step['type'] as string)) return 'unknown type';
    if (step['type'] === 'parallel_claude' && nil(step['parallel_tasks'])) return 'parallel_claude without parallel_tasks';
    if (step['type'] === 'claude_batch' && nil(step['prompt']) && nil(step['tasks'])) return 'claude_batch without prompt or tasks';
    if (!LLM.includes(step['type'] as string)) continue;
    if (nil(step['prompt'])) return `${String(step['type'])} without prompt`;
    if (typeof step['prompt'] === 'string') return 'plain string prompt';
    if (!Array.isArray(step['prompt'])) return 'prompt not a list';
    for (const part of step['prompt']) {
      if (!isMap(part) || typeof part['type'] !== 'string' || !(part['type'] in PART_KEY)) return 'bad prompt part';
      // Our one deviation: the seed design document's `name` alias of `step` is accepted, since
      // every rendered candidate says `step` (docs/pipelines.md). Counted as `aliasAccepted`.
      const alias = part['type'] === 'previous_response' && nil(part['step']) && !nil(part['name']);
      if (nil(part[PART_KEY[part['type']] as string]) && !alias) return `${part['type']} part without ${String(PART_KEY[part['type']])}`;
    }
  }
  const names = steps.map((s) => (s as Dict)['name']);
  for (const step of steps as Dict[]) {
    for (const part of Array.isArray(step['prompt']) ? (step['prompt'] as Dict[]) : []) {
      if (part['type'] === 'previous_response' && !names.includes(part['step'] ?? part['name'])) return 'previous_response to a missing step';
    }
  }
  return undefined;
}

/**
 * Loaded, but a step would crash when run: a plain string prompt of an LLM step inside a loop or
 * inline pipeline body, or of a parallel_claude task (PromptBuilder.build/2 takes only a list).
 */
function crashesWhenRun(steps: unknown, nested: boolean): boolean {
  return (Array.isArray(steps) ? steps : []).some((step) => {
    if (!isMap(step)) return false;
    if (nested && LLM.includes(String(step['type'])) && typeof step['prompt'] === 'string') return true;
    if (step['type'] === 'parallel_claude' && Array.isArray(step['parallel_tasks'])) {
      if ((step['parallel_tasks'] as unknown[]).some((t) => isMap(t) && typeof t['prompt'] === 'string')) return true;
    }
    const p = step['pipeline'];
    const body = step['type'] === 'pipeline' ? (isMap(p) && nil(step['pipeline_file']) ? (isMap(p['workflow']) ? p['workflow']['steps'] : p['steps']) : undefined) : step['steps'];
    return ['for_loop', 'while_loop', 'pipeline'].includes(String(step['type'])) && crashesWhenRun(body, true);
  });
}

// ---- The prompts pipeline_ex sends, by a plain walk of the steps. ----
const LOOP_RUNS = [...LLM, 'parallel_claude', 'claude_batch', 'set_variable', 'for_loop', 'while_loop'];

function sentPrompts(steps: unknown, prefix: string, inLoop: boolean): string[] {
  const out: string[] = [];
  for (const step of Array.isArray(steps) ? steps : []) {
    if (!isMap(step)) continue;
    const type = String(step['type']);
    if (inLoop && !LOOP_RUNS.includes(type)) continue; // loop.ex dispatches only these
    const path = prefix + String(step['name']);
    const tasks = (key: string) => (Array.isArray(step[key]) ? (step[key] as unknown[]).filter(isMap) : []);
    const id = (t: Dict, i: number) => (typeof t['id'] === 'string' || typeof t['id'] === 'number' ? String(t['id']) : String(i));
    if (LLM.includes(type)) {
      if (Array.isArray(step['prompt'])) out.push(path);
    } else if (type === 'claude_batch') {
      const ts = tasks('tasks');
      ts.forEach((t, i) => {
        if (Array.isArray(t['prompt']) || typeof t['prompt'] === 'string') out.push(`${path}.tasks[${id(t, i)}]`);
      });
      const usesStepPrompt = ts.length === 0 || ts.some((t) => t['prompt'] === undefined && typeof t['file'] !== 'string');
      if (usesStepPrompt && Array.isArray(step['prompt'])) out.push(path);
    } else if (type === 'parallel_claude') {
      tasks('parallel_tasks').forEach((t, i) => {
        if (Array.isArray(t['prompt'])) out.push(`${path}.parallel_tasks[${id(t, i)}]`);
      });
    } else if (type === 'for_loop' || type === 'while_loop') {
      out.push(...sentPrompts(step['steps'], `${path}.steps.`, true));
    } else if (type === 'pipeline' && nil(step['pipeline_file']) && isMap(step['pipeline'])) {
      const p = step['pipeline'];
      out.push(...sentPrompts(isMap(p['workflow']) ? p['workflow']['steps'] : p['steps'], `${path}.steps.`, false));
    }
  }
  return out;
}

/** The refusal names the right place and reason for the categories the corpus has most. */
function refusalMatches(expected: string, r: WorkflowRefusedError['refusal']): boolean {
  if (r.reason === '') return false;
  if (expected === 'plain string prompt') return /\.prompt$/.test(r.path) && LLM.includes(String(r.type)) && /plain string/.test(r.reason);
  if (expected === 'test_echo') return r.type === 'test_echo' && /\.type$/.test(r.path);
  if (expected === 'no workflow root') return r.path === 'workflow' && r.type === null;
  if (expected === 'crashes when run') return /prompt_builder\.ex/.test(r.reason);
  if (expected.endsWith('without prompt')) return /\.prompt$/.test(r.path) && expected.startsWith(String(r.type));
  return true;
}

const noRun = async (): Promise<ExecuteResult> => ({ status: 'ok', steps: {}, output: null, durationMs: 0 });

function optimizedPaths(config: PipelineConfig): string[] {
  try {
    return new PipelineProgram(config, { executor: noRun, inputKeys: ['input'], outputKeys: ['answer'] }).stepPaths().map((x) => x.step);
  } catch (err) {
    if (/nothing to optimize/.test(String(err))) return [];
    throw err;
  }
}

/** The rendered candidate with each site's original prompt put back. */
function restored(candidate: PipelineConfig, source: PipelineConfig): PipelineConfig {
  const out = structuredClone(candidate);
  const originals = new Map(promptSites(source).map((s) => [s.path, s.prompt]));
  for (const site of promptSites(out)) {
    const holder = site.at.reduce<Dict>((cur, k) => cur[k] as Dict, out as unknown as Dict);
    holder['prompt'] = structuredClone(originals.get(site.path));
  }
  return out;
}

describe.skipIf(!present)('pipeline_ex corpus', () => {
  it('every workflow loads or is refused where pipeline_ex refuses it; optimizes exactly what it sends; round-trips byte-stable', () => {
    const { yamlFiles, mdBlocks, mdFiles } = corpus();
    const problems: string[] = [];
    const refusedYaml = new Map<string, number>();
    const refusedMd = new Map<string, number>();
    let accepted = 0;
    let refused = 0;
    let refusedAtRunTime = 0;
    let aliasAccepted = 0;
    let yamlAccepted = 0;
    const sites = { total: 0, nested: 0, tasks: 0, workflowsWithNested: 0 };
    for (const w of [...yamlFiles, ...mdBlocks]) {
      const byLoader = loaderRefusal(w.doc);
      const expected = byLoader ?? (crashesWhenRun(((w.doc as Dict)['workflow'] as Dict)['steps'], false) ? 'crashes when run' : undefined);
      let config: PipelineConfig | undefined;
      let error: unknown;
      try {
        config = loadPipeline(w.text, w.label);
      } catch (err) {
        error = err;
      }
      if (expected !== undefined) {
        refused += 1;
        const tally = w.label.includes('#') ? refusedMd : refusedYaml;
        tally.set(expected, (tally.get(expected) ?? 0) + 1);
        if (byLoader === undefined) refusedAtRunTime += 1;
        if (config !== undefined) problems.push(`${w.label}: pipeline_ex refuses it (${expected}) but it loaded`);
        else if (!(error instanceof WorkflowRefusedError)) problems.push(`${w.label}: refused, but not as pipeline_ex refuses it: ${String(error)}`);
        else if (!refusalMatches(expected, error.refusal)) problems.push(`${w.label}: refused for ${JSON.stringify(error.refusal)}, expected ${expected}`);
        continue;
      }
      if (config === undefined) {
        problems.push(`${w.label}: pipeline_ex loads it but we refused it: ${String((error as Error)?.message ?? error)}`);
        continue;
      }
      accepted += 1;
      if (/type: "?previous_response"?\s*\n\s*name:/.test(w.text)) aliasAccepted += 1;
      if (!w.label.includes('#')) yamlAccepted += 1;
      const wf = (w.doc as Dict)['workflow'] as Dict;
      const sent = sentPrompts(wf['steps'], '', false);
      const optimized = optimizedPaths(config);
      if (JSON.stringify(optimized) !== JSON.stringify(sent)) {
        problems.push(`${w.label}: optimizes ${JSON.stringify(optimized)} but pipeline_ex sends ${JSON.stringify(sent)}`);
      }
      sites.total += sent.length;
      const nested = sent.filter((p) => p.includes('.steps.')).length;
      sites.nested += nested;
      if (nested > 0) sites.workflowsWithNested += 1;
      sites.tasks += sent.filter((p) => /\.(parallel_)?tasks\[/.test(p)).length;
      // Round trips.
      const dumped = dumpPipeline(config);
      if (dumpPipeline(loadPipeline(dumped)) !== dumped) problems.push(`${w.label}: dump/load is not byte-stable`);
      if (optimized.length > 0) {
        const program = new PipelineProgram(config, { executor: noRun, inputKeys: ['input'], outputKeys: ['answer'] });
        const candidate = program.renderConfig();
        if (dumpPipeline(program.renderConfig()) !== dumpPipeline(candidate)) problems.push(`${w.label}: rendering is not deterministic`);
        if (dumpPipeline(restored(candidate, config)) !== dumped) problems.push(`${w.label}: rendering changed more than the optimized prompts`);
        if (dumpPipeline(loadPipeline(dumpPipeline(candidate))) !== dumpPipeline(candidate)) problems.push(`${w.label}: the candidate does not round-trip`);
      }
    }
    const counts = {
      yamlFiles: yamlFiles.length,
      markdownFiles: mdFiles,
      markdownBlocks: mdBlocks.length,
      accepted,
      yamlAccepted,
      refused,
      refusedAtRunTime,
      aliasAccepted,
      yamlRefusedBy: Object.fromEntries([...refusedYaml].sort()),
      markdownRefusedBy: Object.fromEntries([...refusedMd].sort()),
      promptSites: sites,
    };
    console.info(`pipeline_ex corpus: ${JSON.stringify(counts)}`);
    expect(problems).toEqual([]);
    // shared/NOTES.md: 58 YAML files; 12 refused by pipeline_ex (5 without a workflow root,
    // 6 test_echo, 1 claude_session without prompt), 6 more with plain string prompts.
    expect(counts.yamlFiles).toBe(58);
    expect(counts.yamlRefusedBy).toEqual({ 'claude_session without prompt': 1, 'no workflow root': 5, 'plain string prompt': 6, test_echo: 6 });
    expect(counts.yamlAccepted).toBe(40);
    expect(counts.markdownFiles).toBe(44);
    expect(counts.markdownBlocks).toBe(145);
    expect(accepted + refused).toBe(203);
  });
});
