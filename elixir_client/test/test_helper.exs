# The tests run against the real sidecar, dist/cli.js: build it when it is missing or older
# than src/ (a suite run against a stale build would test old code). Same rule and lock as
# the vitest suites (test/support/build.ts), so both can run at once.
defmodule Pipeline.DSPy.TestBuild do
  @repo Path.expand("../..", __DIR__)
  @cli Path.join(@repo, "dist/cli.js")
  @lock Path.join(@repo, "dist/.wire-build-lock")

  def ensure_built! do
    if stale?() do
      File.mkdir_p!(Path.dirname(@cli))
      lock!(System.monotonic_time(:millisecond) + 120_000)

      try do
        if stale?(), do: build!()
      after
        File.rmdir(@lock)
      end
    end
  end

  defp stale? do
    case File.stat(@cli, time: :posix) do
      {:ok, %{mtime: built}} -> newest_source() > built
      {:error, _} -> true
    end
  end

  defp newest_source do
    Path.join(@repo, "src/**/*.ts")
    |> Path.wildcard()
    |> Enum.map(&File.stat!(&1, time: :posix).mtime)
    |> Enum.max(fn -> 0 end)
  end

  defp lock!(deadline) do
    case File.mkdir(@lock) do
      :ok ->
        :ok

      {:error, :eexist} ->
        if System.monotonic_time(:millisecond) > deadline,
          do: raise("timed out waiting for the build lock #{@lock}")

        Process.sleep(200)
        lock!(deadline)
    end
  end

  defp build! do
    IO.puts("dist/cli.js is missing or older than src/: building it (tsc -p tsconfig.build.json)")
    tsc = Path.join(@repo, "node_modules/typescript/bin/tsc")
    node = System.find_executable("node") || raise "node not found on PATH"
    # type errors elsewhere in the tree still emit JavaScript: the tests judge the result
    {out, _status} =
      System.cmd(node, [tsc, "-p", "tsconfig.build.json"], cd: @repo, stderr_to_stdout: true)

    if stale?() do
      raise """
      #{@cli} could not be built: the Elixir client's tests run against the real sidecar.
      Run `npm ci && npm run build` at the repository root. tsc said:
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
