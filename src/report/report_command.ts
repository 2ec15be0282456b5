/**
 * `elexirion report RUN_DIR [--out FILE]`: writes the run's self-contained HTML report
 * (default `RUN_DIR/report.html`), atomically, and prints its path.
 * `elexirion report --learning DIR [--out FILE]`: the continuous-learning view of a data dir
 * (`DIR` is the sidecar's data dir or its `learning/` folder).
 */
import { ElexirionError } from '../errors.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../sidecar/cli_command.js';
import { writeReport, writeLearningReport } from './write_report.js';

const usage = `Usage: elexirion report RUN_DIR [--out FILE]
       elexirion report --learning DATA_DIR [--out FILE]

Writes one self-contained HTML file (no network access when opened): the run's scores per
trial, spend by phase, quality/cost front, flipped examples, prompt diffs and settings; or,
with --learning, the learning ledger's decisions and success rate per pipeline.
Default output: RUN_DIR/report.html (DATA_DIR/learning-report.html).`;

class UsageError extends ElexirionError {
  override readonly code: string = 'USAGE_ERROR';
  override readonly name = 'UsageError';
}

export const command: CliCommand = {
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { out: { type: 'string', short: 'o' }, learning: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    if (values.learning !== undefined) {
      if (positionals.length) throw new UsageError('give either RUN_DIR or --learning DATA_DIR');
      const base = resolve(values.learning);
      const dir = existsSync(join(base, 'learning', 'ledger.jsonl')) || existsSync(join(base, 'learning', 'executions')) ? join(base, 'learning') : base;
      const out = await writeLearningReport(dir, values.out ? resolve(values.out) : join(base, 'learning-report.html'));
      process.stdout.write(`${out}\n`);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('expected one RUN_DIR');
    const runDir = resolve(positionals[0] as string);
    const out = await writeReport(runDir, values.out ? { out: resolve(values.out) } : {});
    process.stdout.write(`${out}\n`);
    return 0;
  },
};
