defmodule Mix.Tasks.Dspy.Evaluate do
  @shortdoc "Scores a pipeline as written on a dataset through the sidecar"
  @moduledoc """
  Scores a pipeline_ex workflow as written (no optimization) on a dataset with its metric,
  running every example through the configured executor (the Reference executor unless
  `config :pipeline_dspy, executor: ...`), or across BEAM nodes with `--cluster-nodes`.

      mix dspy.evaluate --pipeline PATH --training-data DIR [--lm SPEC] [--metric NAME]
                        [--concurrency N] [--seed N] [--run-id ID] [--budget-usd X]
                        [--timeout-min N]
                        [--cluster-nodes NODE,NODE,... [--cluster-per-node N] [--cookie C]]
      mix dspy.evaluate --help

    * `--training-data` - the examples to score (every one of them)
    * `--metric` - overrides the workflow's own `dspy.metric`
    * `--lm` - LM spec (`offline`, `anthropic:MODEL`, `openai:BASEURL#MODEL`, ...)
    * `--budget-usd` - stop spending at this cost
    * `--timeout-min` - give up waiting after this many minutes (default 120)
    * `--cluster-nodes` - run the executions on these BEAM nodes
      (`Pipeline.DSPy.Executor.Cluster`, at most `--cluster-per-node` at once on each, default 8);
      this node is made distributed if it is not (`--cookie` sets the cookie, else
      `~/.erlang.cookie`). How many ran on each node is printed at the end. See "Running
      across nodes" in the README.

  Output: the score (0-100), the number of examples scored and failed, and the LM calls and
  cost. Bad flags or paths: a clear message and a non-zero exit.
  """

  use Mix.Task

  alias Pipeline.DSPy.CLI

  @task "dspy.evaluate"

  @switches CLI.run_switches()

  @impl true
  def run(args) do
    case CLI.parse!(@task, args, @switches, [:pipeline, :training_data]) do
      :help -> :ok
      opts -> evaluate(opts)
    end
  end

  defp evaluate(opts) do
    pipeline = CLI.file!(@task, "pipeline", opts[:pipeline])
    data = CLI.dir!(@task, "training-data", opts[:training_data])

    CLI.check_run_flags!(@task, opts)

    executor = CLI.cluster_executor!(@task, opts)
    server = CLI.start_instance!(@task)

    result =
      Pipeline.DSPy.evaluate(pipeline,
        server: server,
        training_data: data,
        lm: opts[:lm],
        metric: opts[:metric],
        concurrency: opts[:concurrency],
        seed: opts[:seed],
        run_id: opts[:run_id],
        budget_usd: opts[:budget_usd],
        executor: executor,
        timeout: :timer.minutes(opts[:timeout_min] || 120)
      )

    CLI.cluster_summary(executor)
    CLI.stop_instance()

    case result do
      {:ok, r} -> Mix.shell().info(summary(r))
      {:error, e} -> Mix.raise("mix #{@task}: evaluation failed: #{CLI.error_message(e)}")
    end
  end

  defp summary(r) do
    results = r["results"] || []
    failed = Enum.count(results, &(&1["error"] != nil))
    usage = r["usage"] || %{}

    """
    score: #{format_score(r["score"])} (0-100) on #{length(results)} examples, #{failed} failed
    LM calls: #{usage["calls"] || 0} (#{usage["cacheHits"] || 0} from the cache), cost: $#{usage["costUsd"] || 0}\
    """
  end

  defp format_score(s) when is_number(s), do: :erlang.float_to_binary(s * 1.0, decimals: 1)
  defp format_score(s), do: inspect(s)
end
