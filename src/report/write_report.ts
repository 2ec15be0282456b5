/** Reads a run (or learning) directory and writes its HTML report atomically; returns the path. */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic_file.js';
import { renderLearningReport, renderRunReport } from './html.js';
import { readLearningData } from './learning_data.js';
import { readRunDir } from './read_run_dir.js';
import { reportData } from './report_data.js';

export const REPORT_FILE = 'report.html';

/** Options of `writeReport`. */
export interface WriteReportOptions {
  /** Where to write the HTML (default `<runDir>/report.html`). */
  out?: string;
  /** A folder the written file must stay inside once symlinks are resolved. */
  root?: string;
}

/**
 * Writes the run's HTML report and returns its path. A string as the second argument is read
 * as `out` (the earlier positional form).
 */
export async function writeReport(runDir: string, options: WriteReportOptions | string = {}): Promise<string> {
  const opts: WriteReportOptions = typeof options === 'string' ? { out: options } : options;
  const path = opts.out ?? join(runDir, REPORT_FILE);
  const html = renderRunReport(reportData(await readRunDir(runDir)));
  await writeFileAtomic(path, html, opts.root !== undefined ? { root: opts.root } : {});
  return path;
}

export async function writeLearningReport(learningDir: string, out: string): Promise<string> {
  await writeFileAtomic(out, renderLearningReport(await readLearningData(learningDir)));
  return out;
}
