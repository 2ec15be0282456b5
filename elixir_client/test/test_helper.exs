cli = Path.expand("../../dist/cli.js", __DIR__)

unless File.regular?(cli) do
  raise """
  #{cli} is missing: the Elixir client's tests run against the real sidecar.
  Build it first: `npm run build` at the repository root (`npm test` does it for you).
  """
end

# The sidecars inherit this: keep their pino logs (stderr) to warnings during tests.
System.put_env("ELEXIRION_LOG_LEVEL", System.get_env("ELEXIRION_LOG_LEVEL", "warn"))

# :pending_sidecar tests need sidecar methods that are not implemented yet (optimize,
# evaluate, lm/generate, telemetry/*). Run them with `mix test --include pending_sidecar`.
ExUnit.start(exclude: [:pending_sidecar], capture_log: true)
