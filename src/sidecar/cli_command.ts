/** One `elexirion` subcommand. `src/cli.ts` keeps the table; each command lives in its own file. */
export interface CliCommand {
  /** Runs with the arguments after the command name; resolves to the exit code (or never, for servers). */
  run(argv: string[]): Promise<number | void>;
  usage: string;
}
