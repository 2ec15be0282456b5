defmodule Pipeline.DSPy.GEPAEndToEndTest do
  # GEPA as a user reaches it: the mix task and optimize/2, on the two-step refactoring
  # example, every candidate executed by the Reference executor in this BEAM (its LM calls
  # going back to the sidecar), the reflection LM named on its own. With the offline LM a
  # reflection's proposal need not improve anything: these check the machinery (the run
  # completes, reflections are made, the Pareto front is reported) and that the verdict does
  # not claim a lift the scores do not show.
  use Pipeline.DSPy.SidecarCase, async: false

  import ExUnit.CaptureIO

  @moduletag timeout: 240_000

  setup do
    out = Path.join(System.tmp_dir!(), "dspy_gepa_#{System.unique_integer([:positive])}")
    File.mkdir_p!(out)
    on_exit(fn -> File.rm_rf(out) end)
    Mix.shell(Mix.Shell.Process)
    on_exit(fn -> Mix.shell(Mix.Shell.IO) end)
    ex = Path.join(repo_root(), "examples/refactoring")
    {:ok, out: out, yaml: Path.join(ex, "pipeline.yaml"), data: Path.join(ex, "training_data")}
  end

  test "mix dspy.optimize --optimizer GEPA --reflection-lm offline shows the Pareto front", %{
    out: out,
    yaml: yaml,
    data: data
  } do
    capture_io(fn ->
      Mix.Task.rerun("dspy.optimize", [
        "--pipeline",
        yaml,
        "--training-data",
        data,
        "--optimizer",
        "GEPA",
        "--lm",
        "offline",
        "--reflection-lm",
        "offline",
        "--max-metric-calls",
        "30",
        "--out",
        out,
        "--seed",
        "1"
      ])
    end)

    assert_received {:mix_shell, :info, ["run id: " <> run_line]}
    [run_id | _] = String.split(run_line, " ")
    assert_received {:mix_shell, :info, ["\nResult" <> _ = table]}

    assert table =~
             ~r/Pareto front \(quality vs cost per execution; \d+ of [1-9]\d* proposals accepted, \d+ of 30 metric calls\)/

    assert table =~ ~r/candidate\s+0\s+score\s+[\d.]+\s+cost \$[\d.]+\s+\d+ tokens/
    assert table =~ "<- selected (best score)"

    # Every iteration the journal holds was a reflection (or a skip on a perfect minibatch).
    journal = Path.join([out, ".elexirion", "runs", run_id, "journal.jsonl"])

    iterations =
      journal |> File.read!() |> String.split("\n") |> Enum.filter(&(&1 =~ "gepa/iter/"))

    assert iterations != []
    assert Enum.any?(iterations, &(&1 =~ ~s("kind":"reflect")))
  end

  test "mix dspy.optimize --optimizer GEPA --dry-run: the estimate, and the budget warning first",
       %{out: out, yaml: yaml, data: data} do
    printed =
      capture_io(fn ->
        Mix.Task.rerun("dspy.optimize", [
          "--pipeline",
          yaml,
          "--training-data",
          data,
          "--optimizer",
          "GEPA",
          "--lm",
          "offline",
          "--max-metric-calls",
          "10",
          "--out",
          out,
          "--dry-run"
        ])
      end)

    assert printed =~ "GEPA: the budget of 10 metric calls cannot cover one full round"
    assert_received {:mix_shell, :info, ["\ndry run: nothing was executed or spent" <> _]}
    refute File.exists?(Path.join(out, "pipelines"))
  end

  test "optimize/2 with reflection_lm: the Pareto front in the result, reflection calls made, an honest verdict",
       %{out: out, yaml: yaml, data: data} do
    executions = :counters.new(1, [])

    executor = fn config, inputs, ctx ->
      :counters.add(executions, 1, 1)
      Pipeline.DSPy.Executor.Reference.execute(config, inputs, ctx)
    end

    {name, _} = start_instance(executor: executor)

    assert {:ok, r} =
             Pipeline.DSPy.optimize(yaml,
               server: name,
               training_data: data,
               optimizer: "GEPA",
               optimizer_options: [max_metric_calls: 30],
               lm: "offline",
               reflection_lm: "offline",
               seed: 3,
               out: out,
               timeout: 200_000
             )

    pareto = r["pareto"]
    assert %{"front" => [_ | _], "selected" => selected, "rule" => "best score"} = pareto
    assert Enum.any?(pareto["front"], &(&1["candidate"] == selected))
    assert pareto["iterations"] > 0
    assert pareto["metricCalls"]["used"] <= 30

    # Each execution of the two-step workflow is two LM calls made through the sidecar; the
    # calls beyond those are the reflection LM's proposals (at least one per iteration).
    task_calls = 2 * :counters.get(executions, 1)
    assert r["usage"]["calls"] - task_calls >= pareto["iterations"]

    v = r["verdict"]
    assert_in_delta v["lift"], r["bestScore"] - r["baselineScore"], 0.01
    if v["lift"] <= 0, do: refute(v["improved"])

    if pareto["accepted"] == 0,
      do: assert(Enum.join(pareto["warnings"]) =~ "no proposal was accepted")
  end
end
