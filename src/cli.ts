#!/usr/bin/env node
/**
 * The `elexirion` bin. Subcommands are a table of lazily imported modules, each exporting a
 * `command: CliCommand`: add one with a line here and a file (e.g. `src/cli/optimize.ts`).
 */
import type { CliCommand } from './sidecar/cli_command.js';
import { serverVersion } from './sidecar/server_info.js';

interface CommandEntry {
  summary: string;
  load(): Promise<{ command: CliCommand }>;
}

const commands: Record<string, CommandEntry> = {
  serve: { summary: 'run the sidecar: JSON-RPC 2.0 on stdin/stdout', load: () => import('./sidecar/serve_command.js') },
  report: { summary: 'write the HTML report of a run (or of continuous learning)', load: () => import('./report/report_command.js') },
};

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `elexirion ${serverVersion()}: learn pipeline_ex prompts, DSPy-style

Usage: elexirion <command> [options]

Commands:
${lines.join('\n')}

  elexirion <command> --help   options of a command
  elexirion --version          print the version`;
}

async function main(argv: string[]): Promise<number | void> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${serverVersion()}\n`);
    return 0;
  }
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(`${help()}\n`);
    return first === undefined ? 1 : 0;
  }
  const entry = Object.prototype.hasOwnProperty.call(commands, first) ? commands[first] : undefined;
  if (!entry) {
    process.stderr.write(`elexirion: unknown command ${JSON.stringify(first)}\n\n${help()}\n`);
    return 2;
  }
  const { command } = await entry.load();
  try {
    return await command.run(rest);
  } catch (err) {
    // Argument errors (node:util parseArgs or a command's own) are usage errors, not crashes.
    const e = err as { code?: string; name?: string; message?: string };
    if (e.code?.startsWith('ERR_PARSE_ARGS') || e.name === 'UsageError') {
      process.stderr.write(`elexirion ${first}: ${e.message}\n\n${command.usage}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`elexirion: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
