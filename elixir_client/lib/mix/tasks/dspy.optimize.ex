defmodule Mix.Tasks.Dspy.Optimize do
  @shortdoc "Optimizes a pipeline's prompts (DSPy-style) through the sidecar"
  @moduledoc """
  Optimizes the prompts of a pipeline_ex workflow with the sidecar, running every candidate
  through the configured executor (the Reference executor unless
  `config :pipeline_dspy, executor: ...`).

      mix dspy.optimize --pipeline PATH --training-data DIR [--optimizer NAME] [--lm SPEC]
                        [--reflection-lm SPEC] [--max-metric-calls N]
                        [--metric NAME] [--out DIR] [--seed N] [--budget-usd X]
                        [--concurrency N] [--val-fraction X] [--run-id ID] [--dry-run]
                        [--write-anyway] [--no-report] [--verbose] [--timeout-min N]
                        [--cluster-nodes NODE,NODE,... [--cluster-per-node N] [--cookie C]]
      mix dspy.optimize --help

    * `--optimizer` - `BootstrapFewShot` (the default), `LabeledFewShot`,
      `BootstrapFewShotWithRandomSearch`, `MIPROv2`, `GEPA` (or snake_case spellings)
    * `--reflection-lm` - GEPA's reflection LM (LM spec; default `--lm`): it reads the
      executions with the metric's feedback and proposes new instructions
    * `--max-metric-calls` - GEPA's budget in metric calls (one per example scored; default
      its `light` preset)
    * `--metric` - overrides the workflow's own `dspy.metric`
    * `--lm` - LM spec (`offline`, `anthropic:MODEL`, `openai:BASEURL#MODEL`, ...)
    * `--budget-usd` - stop spending at this cost; the run ends with the best so far
    * `--dry-run` - print the LM calls, tokens and cost the run would spend with the chosen
      optimizer, spending nothing; an optimizer that cannot estimate is refused by name
      (non-zero exit)
    * `--write-anyway` - write the optimized config even when the best is not better than
      the baseline beyond noise
    * `--no-report` - do not write the run's HTML report (by default `report.html` in the run
      directory, its path printed at the end; `mix dspy.report RUN_ID` writes it again)
    * `--verbose` - the sidecar's logs on the terminal (progress then prints plain lines)
    * `--timeout-min` - give up waiting after this many minutes (default 120)
    * `--cluster-nodes` - run the candidate executions on these BEAM nodes
      (`Pipeline.DSPy.Executor.Cluster`, at most `--cluster-per-node` at once on each, default 8);
      this node is made distributed if it is not (`--cookie` sets the cookie, else
      `~/.erlang.cookie`). The run's executions go there (`executor:` of
      `Pipeline.DSPy.optimize/2`); how many ran on each node is printed at the end. See
      "Running across nodes" in the README.

  ## Runs, logs and resuming

  Every run has an id (printed first; `--run-id` picks it) and a directory
  `OUT/.elexirion/runs/ID/` (OUT is `--out`, default the current directory) holding its
  journal of finished work and the sidecar's log (`sidecar.log`, pino JSON; on the terminal
  instead with `--verbose`). The same command with `--run-id ID` resumes an interrupted run
  and skips what was done.

  ## Ctrl-C

  Ctrl-C cancels the run: the sidecar stops spending, the journal keeps what was finished,
  the command to resume is printed and the exit status is 130. A second Ctrl-C quits at
  once (status 130). On a terminal this works as is: while the run lasts, the task reads
  Ctrl-C itself (the terminal is set not to turn it into a signal, and restored at the end).
  SIGTERM does the same (first: cancel; second: quit). Without a terminal the BEAM cannot
  catch SIGINT (it opens the BEAM's break menu): send SIGTERM, or run it from a parent that
  forwards SIGINT as SIGTERM, as `npm run demo` does (with `ERL_FLAGS=+Bi`, so a SIGINT that
  reaches the BEAM too is ignored).

  ## Output

  A live progress line on a terminal (plain lines otherwise) and, at the end, a table naming
  the metric and its scale (0-100), the number of held-out examples, the baseline and best
  scores, the lift with its 95% interval, whether the config was written and why, and the
  LM calls sent, aborted and answered from the cache. A GEPA run adds its quality/cost
  Pareto front: each candidate on it with its score and cost per execution, and the one
  selected with the rule that selected it. Bad flags or paths: a clear message and a
  non-zero exit.
  """

  use Mix.Task

  alias Pipeline.DSPy.CLI
  alias Pipeline.DSPy.CLI.{Interrupt, Progress, Report, Terminal}

  @task "dspy.optimize"

  @switches CLI.run_switches() ++
              [
                optimizer: :string,
                reflection_lm: :string,
                max_metric_calls: :integer,
                val_fraction: :float,
                dry_run: :boolean,
                write_anyway: :boolean,
                report: :boolean,
                verbose: :boolean,
                out: :string
              ]

  @impl true
  def run(args) do
    case CLI.parse!(@task, args, @switches, [:pipeline, :training_data]) do
      :help -> :ok
      opts -> optimize(opts, args)
    end
  end

  defp optimize(opts, args) do
    pipeline = CLI.file!(@task, "pipeline", opts[:pipeline])
    data = CLI.dir!(@task, "training-data", opts[:training_data])

    CLI.check_run_flags!(@task, opts)

    if (f = opts[:val_fraction]) && (f <= 0 or f >= 1),
      do: Mix.raise("mix #{@task}: --val-fraction must be between 0 and 1 (exclusive)")

    if (m = opts[:max_metric_calls]) && m < 1,
      do: Mix.raise("mix #{@task}: --max-metric-calls must be >= 1")

    run_id = opts[:run_id] || new_run_id()
    out = Path.expand(opts[:out] || File.cwd!())
    run_dir = Path.join([out, ".elexirion", "runs", run_id])
    File.mkdir_p!(run_dir)
    log = Path.join(run_dir, "sidecar.log")
    interrupt = Interrupt.start()

    try do
      executor = CLI.cluster_executor!(@task, opts)
      server = CLI.start_instance!(@task, sidecar_opts(opts, log))
      Mix.shell().info("run id: #{run_id}  (resume an interrupted run with --run-id #{run_id})")
      unless opts[:verbose], do: Mix.shell().info("sidecar log: #{log}")

      run_opts = [
        server: server,
        training_data: data,
        optimizer: opts[:optimizer],
        dry_run: opts[:dry_run],
        lm: opts[:lm],
        reflection_lm: opts[:reflection_lm],
        optimizer_options: opts[:max_metric_calls] && [max_metric_calls: opts[:max_metric_calls]],
        metric: opts[:metric],
        concurrency: opts[:concurrency],
        val_fraction: opts[:val_fraction],
        run_id: run_id,
        out: out,
        seed: opts[:seed],
        budget_usd: opts[:budget_usd],
        write_anyway: opts[:write_anyway],
        report: opts[:report] != false,
        executor: executor,
        timeout: :timer.minutes(opts[:timeout_min] || 120)
      ]

      mode = if Terminal.stdout?() and !opts[:verbose], do: :tty, else: :lines

      {result, interrupted?} =
        case Pipeline.DSPy.optimize_async(pipeline, run_opts) do
          {:ok, ref} -> loop(server, ref, Progress.new(mode), false)
          {:error, _} = error -> {error, false}
        end

      CLI.cluster_summary(executor)
      CLI.stop_instance()
      finish(result, interrupted?, %{opts: opts, args: args, run_id: run_id, run_dir: run_dir})
    after
      Interrupt.stop(interrupt)
    end
  end

  # The sidecar's pino logs: into the run directory, or on the terminal with --verbose.
  defp sidecar_opts(opts, log) do
    level = System.get_env("ELEXIRION_LOG_LEVEL") || "info"

    if opts[:verbose],
      do: [env: [{"ELEXIRION_LOG_LEVEL", level}]],
      else: [stderr: {:file, log}, env: [{"ELEXIRION_LOG_LEVEL", level}]]
  end

  defp loop(server, ref, display, interrupted?) do
    receive do
      {:dspy_progress, ^ref, p} ->
        loop(server, ref, Progress.update(display, p), interrupted?)

      {:dspy_result, ^ref, result} ->
        Progress.finish(display)
        {result, interrupted?}

      {:cli_interrupt, _} ->
        display =
          Progress.note(display, "interrupted: cancelling the run (Ctrl-C again to quit at once)")

        Pipeline.DSPy.cancel(server, ref)
        loop(server, ref, display, true)
    end
  end

  defp finish(result, interrupted?, run) do
    case result do
      _ when interrupted? ->
        cancelled!(run)

      {:error, %Pipeline.DSPy.Error{reason: :cancelled}} ->
        cancelled!(run)

      {:ok, %{"dryRun" => true, "estimate" => e}} ->
        Mix.shell().info("\n" <> Report.dry_run_table(e))

      {:ok, r} ->
        Mix.shell().info("\n" <> Report.table(r))

      {:error, e} ->
        if run.opts[:dry_run] && dry_run_refused?(e) do
          Mix.raise(
            "mix #{@task}: --dry-run: the optimizer #{run.opts[:optimizer] || "BootstrapFewShot (the default)"} cannot estimate what a run would spend; nothing was run. The sidecar says: #{e.message}"
          )
        end

        Mix.raise(
          "mix #{@task}: optimization failed: #{CLI.error_message(e)}" <> resume_note(run)
        )
    end
  end

  defp dry_run_refused?(%Pipeline.DSPy.Error{reason: :invalid_params, data: %{"issues" => is}})
       when is_list(is),
       do:
         Enum.any?(
           is,
           &(is_map(&1) and is_list(&1["path"]) and List.last(&1["path"]) == "dryRun")
         )

  defp dry_run_refused?(_), do: false

  defp cancelled!(run) do
    journal = Path.join(run.run_dir, "journal.jsonl")

    kept =
      if File.exists?(journal),
        do: "the work it finished is journaled in #{journal}",
        else: "it had not finished any unit of work yet"

    Mix.shell().info(
      "\nrun #{run.run_id} cancelled; #{kept}\nresume it with:\n  #{resume_command(run)}"
    )

    exit({:shutdown, 130})
  end

  defp resume_note(run) do
    if File.exists?(Path.join(run.run_dir, "journal.jsonl")),
      do: "\nthe finished work is journaled; resume with:\n  #{resume_command(run)}",
      else: ""
  end

  @doc false
  # The command that resumes this run: the one typed, with --run-id set. A parent that runs
  # this task for the user (scripts/demo.mjs) names its own command in ELEXIRION_RESUME_COMMAND.
  @spec resume_command(%{args: [String.t()], run_id: String.t()}) :: String.t()
  def resume_command(%{args: args, run_id: run_id}) do
    prefix =
      case System.get_env("ELEXIRION_RESUME_COMMAND") do
        nil -> Enum.map_join(["mix", @task | drop_run_id(args)], " ", &shell_quote/1)
        command -> command
      end

    "#{prefix} --run-id #{shell_quote(run_id)}"
  end

  defp drop_run_id(["--run-id", _ | rest]), do: drop_run_id(rest)
  defp drop_run_id(["--run-id=" <> _ | rest]), do: drop_run_id(rest)
  defp drop_run_id([arg | rest]), do: [arg | drop_run_id(rest)]
  defp drop_run_id([]), do: []

  defp shell_quote(arg) do
    if arg =~ ~r/^[A-Za-z0-9_\-.,:\/=@%+]+$/,
      do: arg,
      else: "'" <> String.replace(arg, "'", "'\\''") <> "'"
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
end
