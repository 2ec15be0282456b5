defmodule Mix.Tasks.Dspy.Optimize do
  @shortdoc "Optimizes a pipeline's prompts (DSPy-style) through the sidecar"
  @moduledoc """
  Optimizes the prompts of a pipeline_ex workflow with the sidecar, running every candidate
  through the configured executor (the Reference executor unless
  `config :pipeline_dspy, executor: ...`).

      mix dspy.optimize --pipeline PATH --training-data DIR [--optimizer NAME] [--lm SPEC]
                        [--metric NAME] [--out DIR] [--seed N] [--budget-usd X]
                        [--concurrency N] [--run-id ID] [--dry-run] [--timeout-min N]

  Every run has an id (printed first; `--run-id` picks it) and journals its finished work under
  `OUT/.elexirion/runs/ID/`: after a crash or Ctrl-C, the same command with `--run-id ID`
  resumes it and skips what was done. `--metric` overrides the workflow's own `dspy.metric`.
  `--dry-run` (MIPROv2) prints the LM calls, tokens and cost the run would spend, and spends
  nothing.

  Shows a live progress bar (from the sidecar's `$/progress`) and, at the end, a table of
  the baseline and best scores. Bad flags or paths: a clear message and a non-zero exit.
  """

  use Mix.Task

  alias Pipeline.DSPy.CLI

  @switches [
    pipeline: :string,
    training_data: :string,
    optimizer: :string,
    lm: :string,
    metric: :string,
    concurrency: :integer,
    run_id: :string,
    dry_run: :boolean,
    out: :string,
    seed: :integer,
    budget_usd: :float,
    timeout_min: :integer
  ]

  @impl true
  def run(args) do
    opts = CLI.parse!("dspy.optimize", args, @switches, [:pipeline, :training_data])
    pipeline = CLI.file!("dspy.optimize", "pipeline", opts[:pipeline])
    data = CLI.dir!("dspy.optimize", "training-data", opts[:training_data])

    if (b = opts[:budget_usd]) && b <= 0,
      do: Mix.raise("mix dspy.optimize: --budget-usd must be > 0")

    if (c = opts[:concurrency]) && c < 1,
      do: Mix.raise("mix dspy.optimize: --concurrency must be >= 1")

    if (t = opts[:timeout_min]) && t < 1,
      do: Mix.raise("mix dspy.optimize: --timeout-min must be >= 1")

    run_id = opts[:run_id] || new_run_id()
    server = CLI.start_instance!("dspy.optimize")
    Mix.shell().info("run id: #{run_id}  (resume an interrupted run with --run-id #{run_id})")

    run_opts =
      [
        server: server,
        training_data: data,
        optimizer: opts[:optimizer] || (opts[:dry_run] && "MIPROv2"),
        optimizer_options: opts[:dry_run] && %{"dryRun" => true},
        lm: opts[:lm],
        metric: opts[:metric],
        concurrency: opts[:concurrency],
        run_id: run_id,
        out: opts[:out],
        seed: opts[:seed],
        budget_usd: opts[:budget_usd],
        timeout: :timer.minutes(opts[:timeout_min] || 120)
      ]
      |> Enum.reject(fn {_, v} -> is_nil(v) or v == false end)

    result =
      case Pipeline.DSPy.optimize_async(pipeline, run_opts) do
        {:ok, ref} -> loop(ref)
        {:error, _} = error -> error
      end

    CLI.stop_instance()

    case result do
      {:ok, %{"dryRun" => true, "estimate" => e}} ->
        Mix.shell().info("\n" <> dry_run_table(e))

      {:ok, r} ->
        Mix.shell().info("\n" <> table(r))

      {:error, e} ->
        Mix.raise("mix dspy.optimize: optimization failed: #{CLI.error_message(e)}")
    end
  end

  defp new_run_id do
    stamp = Calendar.strftime(DateTime.utc_now(), "%Y%m%dT%H%M%S")

    suffix =
      :rand.uniform(0xFFFFFF)
      |> Integer.to_string(16)
      |> String.downcase()
      |> String.pad_leading(6, "0")

    "run-#{stamp}-#{suffix}"
  end

  defp loop(ref) do
    receive do
      {:dspy_progress, ^ref, p} ->
        IO.write(:stdio, "\r" <> progress_line(p))
        loop(ref)

      {:dspy_result, ^ref, result} ->
        IO.write(:stdio, "\n")
        result
    end
  end

  @doc false
  def progress_line(p) when is_map(p) do
    width = 30
    trial = p["trial"]
    total = p["totalTrials"]

    bar =
      if is_integer(trial) and is_integer(total) and total > 0 do
        filled = min(width, div(trial * width, total))

        "[" <>
          String.duplicate("#", filled) <>
          String.duplicate(" ", width - filled) <> "] #{trial}/#{total}"
      else
        "[" <> String.duplicate(".", width) <> "]"
      end

    parts =
      [
        p["phase"],
        bar,
        p["bestScore"] && "best #{fmt(p["bestScore"])}",
        p["score"] && "score #{fmt(p["score"])}",
        "calls #{p["calls"] || 0}",
        "$#{:erlang.float_to_binary((p["costUsd"] || 0) / 1, decimals: 4)}"
      ]
      |> Enum.reject(&is_nil/1)

    Enum.join(parts, "  ") |> String.pad_trailing(100)
  end

  def progress_line(other), do: inspect(other)

  @doc false
  def dry_run_table(e) do
    c = e["calls"]
    cost = e["costUsd"]

    [
      "dry run: nothing was executed or spent",
      "  LM calls   scoring before #{c["baseline"]}, optimizer #{c["optimizer"]["expected"]} (at most #{c["optimizer"]["max"]}), scoring after #{c["final"]}",
      "  total      #{c["total"]["expected"]} expected, #{c["total"]["max"]} at most",
      "  tokens     ~#{e["tokens"]["input"]} in, ~#{e["tokens"]["output"]} out (optimizer part)",
      if(cost,
        do:
          "  cost       ~$#{fmt_usd(cost["expected"])} expected, $#{fmt_usd(cost["max"])} at most (optimizer part)",
        else: "  cost       unknown: the LM is not priced"
      )
    ]
    |> Enum.join("\n")
  end

  defp fmt_usd(x), do: :erlang.float_to_binary(x / 1, decimals: 4)

  @doc false
  def table(r) do
    base = r["baselineScore"]
    best = r["bestScore"]
    delta = if is_number(base) and is_number(best), do: best - base

    rows = [
      {"baseline", fmt(base), ""},
      {"best", fmt(best),
       if(delta, do: if(delta >= 0, do: "+", else: "") <> fmt(delta), else: "")}
    ]

    usage = r["usage"] || %{}

    lines =
      ["             score     change", "  ---------  --------  --------"] ++
        Enum.map(rows, fn {k, v, d} ->
          "  #{String.pad_trailing(k, 9)}  #{String.pad_leading(v, 8)}  #{String.pad_leading(d, 8)}"
        end) ++
        [
          "",
          "  trials: #{length(r["trials"] || [])}   LM calls: #{usage["calls"] || 0}   cost: $#{fmt_usd(usage["costUsd"] || 0)}" <>
            if(r["cutShort"], do: "   (cut short: #{r["cutShortReason"]})", else: ""),
          r["optimizedYamlPath"] && "  optimized pipeline: #{r["optimizedYamlPath"]}",
          r["programPath"] && "  program: #{r["programPath"]}"
        ]

    lines |> Enum.reject(&is_nil/1) |> Enum.join("\n")
  end

  defp fmt(nil), do: "-"
  defp fmt(x) when is_number(x), do: :erlang.float_to_binary(x / 1, decimals: 3)
end
