/** Reads a run (or learning) directory and writes its HTML report atomically; returns the path. */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic_file.js';
import { renderLearningReport, renderRunReport } from './html.js';
import { readLearningData } from './learning_data.js';
import { readRunDir } from './read_run_dir.js';
import { reportData } from './report_data.js';

export const REPORT_FILE = 'report.html';

export async function writeReport(runDir: string, out?: string, opts: { root?: string } = {}): Promise<string> {
  const path = out ?? join(runDir, REPORT_FILE);
  const html = renderRunReport(reportData(await readRunDir(runDir)));
  await writeFileAtomic(path, html, opts.root !== undefined ? { root: opts.root } : {});
  return path;
}

export async function writeLearningReport(learningDir: string, out: string): Promise<string> {
  await writeFileAtomic(out, renderLearningReport(await readLearningData(learningDir)));
  return out;
}
