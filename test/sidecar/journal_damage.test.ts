import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';
import { FakeElixir, serveReferenceExecutions } from '../support/fake_elixir.js';

// Issue #12, break 7: a journal line whose bytes changed but stayed valid JSON was replayed.
// Through the real sidecar: resuming a run whose journal has a damaged line logs a warning,
// sets the damaged tail aside, redoes that work, and still ends with the program an
// undamaged run produced.
const started: FakeElixir[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.close()));
});

async function peer(): Promise<FakeElixir> {
  const e = serveReferenceExecutions(new FakeElixir());
  started.push(e);
  await e.initialize();
  return e;
}

const params = (outDir: string) => ({
  pipeline: { path: join(ROOT, 'examples/refactoring/pipeline.yaml') },
  trainingData: { dir: join(ROOT, 'examples/refactoring/training_data') },
  lm: 'offline',
  optimizer: { name: 'BootstrapFewShotWithRandomSearch', options: { numCandidatePrograms: 2, maxBootstrappedDemos: 2, maxLabeledDemos: 2 } },
  seed: 5,
  concurrency: 1,
  outDir,
  runId: 'run-d',
});

it('a damaged journal line ends replay there, visibly, and the run still ends with the same program', async () => {
  const out = mkdtempSync(join(tmpdir(), 'elexirion-damage-'));
  const first = await (await peer()).request('optimize', params(out));
  expect(first.error).toBeUndefined();
  const program = readFileSync(first.result.programPath, 'utf8');
  const runDir = join(out, '.elexirion/runs/run-d');
  const journal = join(runDir, 'journal.jsonl');
  const lines = readFileSync(journal, 'utf8').split('\n');
  expect(lines.length).toBeGreaterThan(4);
  // Change one digit of the third record: still valid JSON, no longer what was recorded.
  const victim = lines[2]!;
  const at = victim.search(/[0-9]/);
  const flipped = victim.slice(0, at) + String((Number(victim[at]) + 1) % 10) + victim.slice(at + 1);
  expect(() => JSON.parse(flipped)).not.toThrow();
  lines[2] = flipped;
  writeFileSync(journal, lines.join('\n'));

  const again = await peer();
  const resumed = await again.request('optimize', params(out));
  expect(resumed.error).toBeUndefined();
  expect(readFileSync(resumed.result.programPath, 'utf8')).toBe(program);
  const warnings = again.stderr.split('\n').filter((l) => l.includes('run journal damaged'));
  expect(warnings).toHaveLength(1);
  expect(JSON.parse(warnings[0]!)).toMatchObject({ journalDamage: { line: 3, reason: 'checksum mismatch' } });
  const aside = readdirSync(runDir).filter((n) => n.startsWith('journal.jsonl.damaged-'));
  expect(aside).toHaveLength(1);
  expect(existsSync(join(runDir, aside[0]!))).toBe(true);
  expect(readFileSync(join(runDir, aside[0]!), 'utf8').startsWith(flipped)).toBe(true);
}, 120_000);
