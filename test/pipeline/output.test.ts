import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPipeline, loadPipelineFile, UnsafePathError, writeOptimized } from '../../src/pipeline/index.js';

const SOURCE = `workflow:
  name: code_analysis
  unknown_key: {kept: true}
  steps:
    - name: analyze_code
      type: claude_smart
      prompt:
        - type: static
          content: PLACEHOLDER_FOR_OPTIMIZATION
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pipeline-out-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeOptimized', () => {
  it('writes the YAML and program under OUT, preserving the config, never touching the source', async () => {
    const src = join(dir, 'source.yaml');
    await writeFile(src, SOURCE);
    const config = await loadPipelineFile(src);
    (config.workflow.steps[0]!.prompt as Array<{ content: string }>)[0]!.content = 'Learned instructions\nwith demos';
    const out = join(dir, 'out');
    const paths = await writeOptimized(out, 'code_analysis', config, { analyze_code: { demos: [] } });
    expect(paths.yamlPath).toBe(join(out, 'pipelines', 'optimized', 'code_analysis.yaml'));
    expect(paths.programPath).toBe(join(out, 'optimized_modules', 'code_analysis.json'));
    const back = loadPipeline(await readFile(paths.yamlPath, 'utf8'));
    expect(back).toEqual(config);
    expect((back.workflow as Record<string, unknown>)['unknown_key']).toEqual({ kept: true });
    expect(JSON.parse(await readFile(paths.programPath, 'utf8'))).toEqual({ analyze_code: { demos: [] } });
    expect(await readFile(src, 'utf8')).toBe(SOURCE);
    // No temp files left behind.
    expect(await readdir(join(out, 'pipelines', 'optimized'))).toEqual(['code_analysis.yaml']);
  });

  it('refuses names that escape the output directory, writing nothing', async () => {
    const config = loadPipeline(SOURCE);
    const out = join(dir, 'out');
    for (const name of ['../x', '..', '.', '', '   ', '/etc/passwd', 'a/b', 'a\\b', '.hidden', 'C:evil', 'nul\u0000byte']) {
      await expect(writeOptimized(out, name, config, {}), `name ${JSON.stringify(name)}`).rejects.toThrow(UnsafePathError);
    }
    await expect(writeOptimized(out, '../x', config, {})).rejects.toThrow(/refusing output name "\.\.\/x": it contains a path separator/);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
    await expect(readdir(dir)).resolves.toEqual([]);
  });

  it('refuses an invalid config before writing anything', async () => {
    const out = join(dir, 'out');
    await expect(writeOptimized(out, 'x', { workflow: { name: 'x', steps: [] } }, {})).rejects.toThrow(/workflow\.steps/);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });
});
