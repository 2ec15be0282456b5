defmodule Mix.Tasks.Pipeline.Execute do
  @shortdoc "Runs one pipeline (candidate) through the configured executor, prints JSON"
  @moduledoc """
  The per-call entry point of the original design, kept for compatibility: runs one workflow
  on one input through the configured executor and prints the `pipeline/execute` result.

      mix pipeline.execute --config PATH --input PATH [--format json] [--lm SPEC]
      mix pipeline.execute --help

  `--config` is a workflow file: `.json` is read here; `.yaml`/`.yml` is parsed by Node with
  the js-yaml the sidecar depends on (the Elixir side has no YAML parser). `--input` is a
  JSON file of inputs (`{{inputs.x}}`). The executor is `config :pipeline_dspy, executor: ...`,
  else the Reference executor, whose LM calls go to a sidecar this task starts (`--lm`
  picks the LM spec). Exit status 1 when the execution's status is `"error"`.
  """

  use Mix.Task

  alias Pipeline.DSPy.{CLI, Executor, JSON}

  @switches [config: :string, input: :string, format: :string, lm: :string]

  @impl true
  def run(args) do
    case CLI.parse!("pipeline.execute", args, @switches, [:config, :input]) do
      :help -> :ok
      opts -> execute(opts)
    end
  end

  defp execute(opts) do
    format = opts[:format] || "json"

    if format != "json",
      do: Mix.raise("mix pipeline.execute: --format #{format} is not supported (only json)")

    config_path = CLI.file!("pipeline.execute", "config", opts[:config])
    input_path = CLI.file!("pipeline.execute", "input", opts[:input])
    config = CLI.load_workflow!("pipeline.execute", config_path)
    inputs = CLI.decode_json_file!("pipeline.execute", input_path)
    unless is_map(inputs), do: Mix.raise("mix pipeline.execute: --input must hold a JSON object")

    executor = Application.get_env(:pipeline_dspy, :executor, Pipeline.DSPy.Executor.Reference)
    server = CLI.start_instance!("pipeline.execute")

    ctx = %{
      server: server,
      run_id: nil,
      candidate_id: nil,
      example_id: nil,
      lm: opts[:lm],
      timeout_ms: 300_000,
      request: %{}
    }

    ctx =
      if match?({_, _}, executor), do: Map.put(ctx, :executor_opts, elem(executor, 1)), else: ctx

    result = Executor.execute(executor, config, inputs, ctx)
    CLI.stop_instance()

    case result do
      {:ok, wire} ->
        Mix.shell().info(JSON.encode!(wire))
        if wire["status"] != "ok", do: exit({:shutdown, 1})

      {:crash, msg} ->
        Mix.raise("mix pipeline.execute: #{msg}")
    end
  end
end
