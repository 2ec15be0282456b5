defmodule Mix.Tasks.Telemetry.Export do
  @shortdoc "Exports the sidecar's execution telemetry summary as JSON"
  @moduledoc """
  Asks the sidecar (`telemetry/export`) for the executions recorded in a time window.

      mix telemetry.export [--format json] [--since 24h] [--until TIME] [--pipeline NAME] [--out FILE]

  `--since`/`--until`: ISO 8601 or relative (`30m`, `24h`, `7d`); `--since` defaults to 24h.
  Prints JSON (or writes it to `--out` atomically: temp file + rename).
  """

  use Mix.Task

  alias Pipeline.DSPy.{CLI, JSON}

  @switches [format: :string, since: :string, until: :string, pipeline: :string, out: :string]

  @impl true
  def run(args) do
    opts = CLI.parse!("telemetry.export", args, @switches, [])
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

    server = CLI.start_instance!("telemetry.export")
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
        Mix.raise("mix telemetry.export: #{CLI.error_message(e)}")
    end
  end

  @doc false
  def check_time!(flag, value) do
    ok =
      Regex.match?(~r/^\d+[smhdw]$/, value) or
        match?({:ok, _, _}, DateTime.from_iso8601(value)) or
        match?({:ok, _}, Date.from_iso8601(value))

    unless ok,
      do:
        Mix.raise(
          "mix telemetry.export: --#{flag} #{inspect(value)}: expected a relative time (30m, 24h, 7d) or ISO 8601"
        )
  end
end
