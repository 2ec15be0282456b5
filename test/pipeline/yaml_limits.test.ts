import { afterEach, describe, expect, it } from 'vitest';
import yaml from 'js-yaml';
import { expandedJsonBytes, loadYaml } from '../../src/pipeline/yaml.js';
import { aliasBombYaml } from '../support/hostile_files.js';

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

describe('pipeline YAML limits', () => {
  it('refuses an alias bomb (9 anchors, 9^8 expansion) by its expanded size, without expanding it', () => {
    const text = aliasBombYaml();
    expect(text.length).toBeLessThan(1100);
    let err: unknown;
    try {
      loadYaml(text, 'bomb.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      name: 'InputRefusedError',
      data: { path: 'bomb.yaml', limit: 'ELEXIRION_MAX_YAML_EXPANDED_BYTES', kind: 'yaml-expansion' },
    });
    expect((err as Error).message).toMatch(/bomb\.yaml expands .* more than 16777216 bytes/);
  });

  it('measures the expanded size as JSON would write it (aliases counted in full)', () => {
    const small = yaml.load(aliasBombYaml(4, 5));
    const json = JSON.stringify(small).length;
    const measured = expandedJsonBytes(small);
    // Never under the real size (it is the bound), and close to it.
    expect(measured).toBeGreaterThanOrEqual(json);
    expect(measured).toBeLessThan(json * 1.1);
    // A small expansion is loaded; the limit is the user's to raise or lower.
    expect(loadYaml(aliasBombYaml(4, 5), 'ok.yaml')).toEqual(small);
    process.env.ELEXIRION_MAX_YAML_EXPANDED_BYTES = String(json - 100);
    expect(() => loadYaml(aliasBombYaml(4, 5), 'ok.yaml')).toThrow(/ELEXIRION_MAX_YAML_EXPANDED_BYTES/);
  });

  it('refuses YAML text over ELEXIRION_MAX_YAML_BYTES before parsing it', () => {
    process.env.ELEXIRION_MAX_YAML_BYTES = '1000';
    const text = `workflow:\n  name: w\n  description: "${'x'.repeat(2000)}"\n  steps: []\n`;
    expect(() => loadYaml(text, 'big.yaml')).toThrow(expect.objectContaining({ name: 'InputRefusedError', data: expect.objectContaining({ limit: 'ELEXIRION_MAX_YAML_BYTES', path: 'big.yaml' }) }));
  });

  it('answers absurd nesting with a YAML error, not a stack overflow', () => {
    const depth = 200_000;
    const text = `a: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
    expect(() => loadYaml(text, 'deep.yaml')).toThrow(expect.objectContaining({ name: 'PipelineYamlError' }));
  });

  it('rejects a bad limit setting by naming the variable', () => {
    process.env.ELEXIRION_MAX_YAML_BYTES = 'lots';
    expect(() => loadYaml('a: 1', 'x.yaml')).toThrow(/ELEXIRION_MAX_YAML_BYTES must be a positive integer/);
  });
});
