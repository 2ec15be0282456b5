defmodule Mix.Tasks.Telemetry.Export do
  @shortdoc "Exports the sidecar's execution telemetry summary as JSON"
  @moduledoc """
  Prints the usage summary of the executions recorded in a time window (`telemetry/export`):
  totals, success rate, new examples, per-pipeline counts and duration p50/p95.

      mix telemetry.export [--format json] [--since 24h] [--until TIME] [--pipeline NAME]
                           [--data-dir DIR] [--out FILE]
      mix telemetry.export --help

  `--since`/`--until`: ISO 8601 or relative (`30m`, `24h`, `7d`); `--since` defaults to 24h.
  Prints JSON (or writes it to `--out` atomically: temp file + rename).

  ## Which data

  The task starts its own sidecar on the execution store of a data directory: `--data-dir`,
  else the app's `config :pipeline_dspy, data_dir: ...`, else `ELEXIRION_DATA_DIR`, else
  `./.elexirion` (the sidecar's default when run from the current directory). That is the
  directory the application's own `Pipeline.DSPy` sidecar writes when it runs from the same
  directory with the same configuration.

  A data directory belongs to one live sidecar at a time (`DIR/learning/lock`). While the
  application is running, its sidecar holds it and this task fails with an explanation;
  either stop the application first, or ask the running sidecar from inside the app
  (e.g. in a remote console):

      Pipeline.DSPy.request(Pipeline.DSPy, "telemetry/export", %{since: "24h"})
  """

  use Mix.Task

  alias Pipeline.DSPy.{CLI, JSON}

  @switches [
    format: :string,
    since: :string,
    until: :string,
    pipeline: :string,
    data_dir: :string,
    out: :string
  ]

  @impl true
  def run(args) do
    case CLI.parse!("telemetry.export", args, @switches, []) do
      :help -> :ok
      opts -> export(opts)
    end
  end

  defp export(opts) do
    format = opts[:format] || "json"

    if format != "json",
      do: Mix.raise("mix telemetry.export: --format #{format} is not supported (only json)")

    since = opts[:since] || "24h"
    check_time!("since", since)
    if u = opts[:until], do: check_time!("until", u)

    if out = opts[:out] do
      dir = Path.dirname(Path.expand(out))

      unless File.dir?(dir),
        do: Mix.raise("mix telemetry.export: --out #{out}: directory #{dir} does not exist")
    end

    params =
      %{since: since}
      |> then(&if(opts[:until], do: Map.put(&1, :until, opts[:until]), else: &1))
      |> then(&if(opts[:pipeline], do: Map.put(&1, :pipeline, opts[:pipeline]), else: &1))

    extra = if dir = opts[:data_dir], do: [data_dir: dir], else: []
    server = CLI.start_instance!("telemetry.export", extra)
    result = Pipeline.DSPy.request(server, "telemetry/export", params, timeout: 60_000)
    CLI.stop_instance()

    case result do
      {:ok, r} ->
        json = JSON.encode!(r)

        if out = opts[:out] do
          tmp = out <> ".tmp-#{System.unique_integer([:positive])}"
          File.write!(tmp, json)
          File.rename!(tmp, out)
          Mix.shell().info("wrote #{out}")
        else
          Mix.shell().info(json)
        end

      {:error, e} ->
        message = CLI.error_message(e)

        if message =~ "in use by another sidecar" do
          Mix.raise("""
          mix telemetry.export: #{message}
          The data directory is held by another running sidecar, most likely your
          application's Pipeline.DSPy instance (one live sidecar per data directory).
          Either stop the application and run this task again,
          or ask the running sidecar from inside the application (e.g. in a remote console):

              Pipeline.DSPy.request(Pipeline.DSPy, "telemetry/export", %{since: "#{since}"})

          (or point --data-dir at another data directory).
          """)
        else
          Mix.raise("mix telemetry.export: #{message}")
        end
    end
  end

  @doc false
  @spec check_time!(String.t(), String.t()) :: :ok
  def check_time!(flag, value) do
    value = String.trim(value)

    ok =
      Regex.match?(~r/^\d+[smhdw]?$/, value) or
        match?({:ok, _, _}, DateTime.from_iso8601(value)) or
        match?({:ok, _}, Date.from_iso8601(value))

    unless ok,
      do:
        Mix.raise(
          "mix telemetry.export: --#{flag} #{inspect(value)}: expected a relative time (30m, 24h, 7d) or ISO 8601"
        )

    :ok
  end
end
