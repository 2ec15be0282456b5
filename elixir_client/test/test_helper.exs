cli = Path.expand("../../dist/cli.js", __DIR__)

unless File.regular?(cli) do
  raise """
  #{cli} is missing: the Elixir client's tests run against the real sidecar.
  Build it first: `npm run build` at the repository root (`npm test` does it for you).
  """
end

# The sidecars inherit this: keep their pino logs (stderr) to warnings during tests.
System.put_env("ELEXIRION_LOG_LEVEL", System.get_env("ELEXIRION_LOG_LEVEL", "warn"))

# A sidecar started without a data dir (mix tasks, `{Pipeline.DSPy, []}`) would use and lock
# `elixir_client/.elexirion/`: point them all at a temporary one, removed after the run.
# (SidecarCase.start_instance gives each instance its own.)
data_dir = Path.join(System.tmp_dir!(), "dspy_test_data_#{System.unique_integer([:positive])}")
System.put_env("ELEXIRION_DATA_DIR", data_dir)
ExUnit.after_suite(fn _ -> File.rm_rf(data_dir) end)

ExUnit.start(capture_log: true)
