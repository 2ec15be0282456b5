defmodule Pipeline.DSPy.PipelineExEndToEndTest do
  # Both shipped examples optimized as a user with pipeline_ex would run them: the real sidecar
  # under a supervisor, every candidate executed by the PipelineEx executor, whose
  # `Pipeline.execute/2` is PipelineExDouble (pipeline_ex's result maps, checkpoints, skipped
  # steps; its LM answers come from the sidecar's offline LM, which follows the prompt's demos).
  use Pipeline.DSPy.SidecarCase, async: true

  alias Pipeline.DSPy.Executor.PipelineEx

  @moduletag timeout: 400_000

  setup do
    out = Path.join(System.tmp_dir!(), "dspy_pex_e2e_#{System.unique_integer([:positive])}")
    on_exit(fn -> File.rm_rf(out) end)
    {:ok, out: out}
  end

  # the double asks the sidecar's offline LM; each LM call reports `cost` as pipeline_ex would
  defp start(cost) do
    name = :"dspy_pex_#{System.unique_integer([:positive])}"

    runner =
      PipelineExDouble.runner(
        answer: PipelineExDouble.lm_via_sidecar(name, "offline"),
        cost: cost
      )

    start_instance(name: name, executor: {PipelineEx, pipeline: runner})
    name
  end

  defp optimize(name, example, out, extra \\ []) do
    ex = Path.join(repo_root(), "examples/#{example}")

    Pipeline.DSPy.optimize(
      Path.join(ex, "pipeline.yaml"),
      [
        server: name,
        training_data: Path.join(ex, "training_data"),
        lm: "offline",
        seed: 3,
        out: out,
        optimizer: "BootstrapFewShot",
        timeout: 300_000
      ] ++ extra
    )
  end

  for example <- ["code_analysis", "refactoring"] do
    test "#{example} optimizes through the PipelineEx executor and beats its baseline", %{
      out: out
    } do
      name = start(0.0)
      assert {:ok, r} = optimize(name, unquote(example), out)
      refute r["cutShort"]

      assert r["bestScore"] > r["baselineScore"],
             "best #{r["bestScore"]} vs baseline #{r["baselineScore"]}"

      assert File.regular?(r["optimizedYamlPath"])
    end
  end

  test "a run whose pipeline_ex results report cost stops at its USD budget", %{out: out} do
    # 6 held-out examples x $0.10 score the baseline; the budget ends the optimizer soon after
    name = start(0.1)
    assert {:ok, r} = optimize(name, "code_analysis", out, budget_usd: 1.0, concurrency: 2)
    assert r["cutShort"] == true
    assert r["cutShortReason"] =~ "budget"
    assert r["usage"]["costUsd"] >= 1.0
    # stopped at the cap (give or take the 2 executions in flight), not after the trainset
    assert r["usage"]["costUsd"] <= 1.0 + 0.1 * 2 + 1.0e-9
  end
end
