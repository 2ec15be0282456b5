/**
 * The one base class of the errors elexirion throws. Catch the library's failures with one
 * `err instanceof ElexirionError` and tell them apart by `err.code` (stable across releases)
 * rather than by message text:
 *
 *   try { loadProgram(program, json); }
 *   catch (err) { if (err instanceof ElexirionError && err.code === 'PROGRAM_LOAD_ERROR') ... }
 *
 * Every error class of the package extends it, with one exception: the JSON-RPC errors of the
 * sidecar entry (`RpcError`, `PeerRequestError`) keep `code` as the protocol's numeric error
 * code, which is what their callers read.
 */
export abstract class ElexirionError extends Error {
  /**
   * A stable, machine-readable name of the failure: the class name in SCREAMING_SNAKE_CASE
   * (`ProgramLoadError` -> `PROGRAM_LOAD_ERROR`). It does not change between releases.
   */
  abstract readonly code: string;
}
