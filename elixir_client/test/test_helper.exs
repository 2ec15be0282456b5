# The tests run against the real sidecar, dist/cli.js: `scripts/build.mjs --if-stale` builds it
# when it is missing or older than src/ (a suite run against a stale build would test old code).
# The script holds a lock while it builds, so the vitest suites and this one can start together.
defmodule Pipeline.DSPy.TestBuild do
  @repo Path.expand("../..", __DIR__)

  def ensure_built! do
    node = System.find_executable("node") || raise "node not found on PATH"
    script = Path.join(@repo, "scripts/build.mjs")
    # Non-zero only when dist/ is still out of date afterwards: type errors elsewhere in the
    # tree still emit JavaScript, and the tests judge the result.
    {out, status} = System.cmd(node, [script, "--if-stale"], cd: @repo, stderr_to_stdout: true)

    if status != 0 do
      raise """
      dist/cli.js could not be built: the Elixir client's tests run against the real sidecar.
      Run `npm ci && npm run build` at the repository root. The build said:
      #{out}
      """
    end
  end
end

Pipeline.DSPy.TestBuild.ensure_built!()

# The sidecars inherit this: keep their pino logs (stderr) to warnings during tests.
System.put_env("ELEXIRION_LOG_LEVEL", System.get_env("ELEXIRION_LOG_LEVEL", "warn"))

# A sidecar started without a data dir (mix tasks, `{Pipeline.DSPy, []}`) would use and lock
# `elixir_client/.elexirion/`: point them all at a temporary one, removed after the run.
# (SidecarCase.start_instance gives each instance its own.)
data_dir = Path.join(System.tmp_dir!(), "dspy_test_data_#{System.unique_integer([:positive])}")
System.put_env("ELEXIRION_DATA_DIR", data_dir)
ExUnit.after_suite(fn _ -> File.rm_rf(data_dir) end)

ExUnit.start(capture_log: true)
