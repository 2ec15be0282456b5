import { ElexirionError } from '../errors.js';
import { parseArgs } from 'node:util';
import { FRAMINGS, type Framing } from '../rpc/frame_decoder.js';
import { LIMIT_SPECS, readLimits } from '../util/limits.js';
import type { CliCommand } from './cli_command.js';
import { LOG_LEVEL_ENV, LOG_LEVELS, resolveLogLevel } from './logger.js';
import { startSidecar } from './server.js';
import { DATA_DIR_ENV, resolveDataDir } from './data_dir.js';

export const usage = `elexirion serve [options]

Speak JSON-RPC 2.0 on stdin/stdout (protocol/PROTOCOL.md). Logs go to stderr as pino JSON.

  --framing packet4|content-length   frame format (default packet4: Erlang {:packet, 4})
  --max-frame-bytes N                 discard and refuse longer frames (default $${LIMIT_SPECS.maxFrameBytes.env},
                                      else ${LIMIT_SPECS.maxFrameBytes.default})
  --log-level L                       ${LOG_LEVELS.join('|')} (default info, or $${LOG_LEVEL_ENV})
  --data-dir DIR                      state that outlives the process: the learner's telemetry store,
                                      ledger and promoted configs under DIR/learning
                                      (default $${DATA_DIR_ENV}, else ./.elexirion)
  -h, --help                          this help

Limits on what the sidecar reads (environment variables; protocol/PROTOCOL.md "Limits"):
${Object.values(LIMIT_SPECS)
  .map((l) => `  ${l.env.padEnd(36)}${l.default}: ${l.what}`)
  .join('\n')}`;

export class UsageError extends ElexirionError {
  override readonly code: string = 'USAGE_ERROR';
  override name = 'UsageError';
}

export interface ServeArgs {
  framing: Framing;
  maxFrameBytes: number;
  logLevel: ReturnType<typeof resolveLogLevel>;
  dataDir: string;
  help: boolean;
}

export function parseServeArgs(argv: string[], env = process.env): ServeArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      framing: { type: 'string' },
      'max-frame-bytes': { type: 'string' },
      'log-level': { type: 'string' },
      'data-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  const framing = (values.framing ?? 'packet4') as Framing;
  if (!FRAMINGS.includes(framing)) throw new UsageError(`--framing must be one of ${FRAMINGS.join(', ')}`);
  // A bad limit variable stops the start with its name, not the first request that reads it.
  let envLimits: ReturnType<typeof readLimits>;
  try {
    envLimits = readLimits(env);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const rawMax = values['max-frame-bytes'];
  const maxFrameBytes = rawMax === undefined ? envLimits.maxFrameBytes : Number(rawMax);
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
    throw new UsageError('--max-frame-bytes must be a positive integer');
  }
  const level = values['log-level'];
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const rawDir = values['data-dir'];
  if (rawDir !== undefined && rawDir.trim() === '') throw new UsageError('--data-dir must not be empty');
  return {
    framing,
    maxFrameBytes,
    logLevel: resolveLogLevel(level, env),
    dataDir: resolveDataDir(rawDir, env),
    help: values.help ?? false,
  };
}

export const command: CliCommand = {
  usage,
  async run(argv) {
    const args = parseServeArgs(argv);
    if (args.help) {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    startSidecar({ framing: args.framing, maxFrameBytes: args.maxFrameBytes, logLevel: args.logLevel, dataDir: args.dataDir });
    // Runs until exit / stdin EOF / SIGTERM.
    return new Promise<never>(() => {});
  },
};
