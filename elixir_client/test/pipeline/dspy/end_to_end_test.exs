defmodule Pipeline.DSPy.EndToEndTest do
  # The user's whole job, as a user runs it: the real sidecar under a supervisor, every
  # candidate executed by the Reference executor in this BEAM (its LM calls going back to the
  # sidecar), the optimized config written back and loaded again.
  use Pipeline.DSPy.SidecarCase, async: true

  @moduletag timeout: 180_000

  setup do
    out = Path.join(System.tmp_dir!(), "dspy_e2e_#{System.unique_integer([:positive])}")
    on_exit(fn -> File.rm_rf(out) end)
    {:ok, out: out}
  end

  test "optimizes the two-step refactoring workflow through the real executor", %{out: out} do
    ex = Path.join(repo_root(), "examples/refactoring")
    yaml = Path.join(ex, "pipeline.yaml")
    data = Path.join(ex, "training_data")
    source_before = File.read!(yaml)

    steps_seen = :ets.new(:steps_seen, [:public, :bag])

    executor = fn config, inputs, ctx ->
      {:ok, result} = res = Pipeline.DSPy.Executor.Reference.execute(config, inputs, ctx)
      for {step, _} <- result_steps(result), do: :ets.insert(steps_seen, {step})
      res
    end

    {name, _} = start_instance(executor: executor)

    assert {:ok, r} =
             Pipeline.DSPy.optimize(yaml,
               server: name,
               training_data: data,
               lm: "offline",
               seed: 3,
               out: out,
               optimizer: "BootstrapFewShot",
               timeout: 150_000
             )

    # Both steps ran in Elixir, and both got demos bootstrapped from their real traces.
    assert :ets.lookup(steps_seen, "analyze_for_refactoring") != []
    assert :ets.lookup(steps_seen, "generate_refactoring_plan") != []
    program = r["program"]
    step_paths = Map.keys(program) -- ["metadata"]
    assert length(step_paths) == 2

    for path <- step_paths do
      bootstrapped = Enum.filter(program[path]["demos"], &(&1["augmented"] == true))
      assert bootstrapped != [], "no bootstrapped demos for #{path}"
      # Step 1's output exists only in a real execution's trace: it is step 1's output field
      # and step 2's extra input (read through previous_response); training examples lack it.
      assert Enum.all?(bootstrapped, &is_binary(&1["analyze_for_refactoring"]))
    end

    # The optimized YAML is where it says, and it loads back and runs.
    optimized = r["optimizedYamlPath"]
    assert optimized == Path.join(out, "pipelines/optimized/refactoring.yaml")
    assert File.regular?(optimized)
    assert File.regular?(Path.join(out, "optimized_modules/refactoring.json"))

    eval = fn pipeline ->
      {:ok, %{"score" => score}} =
        Pipeline.DSPy.evaluate(pipeline,
          server: name,
          training_data: data,
          lm: "offline",
          seed: 3,
          timeout: 120_000
        )

      score
    end

    # Under the same LM, the optimized config scores strictly better than the original (with
    # the offline LM the original scores 0 and the bootstrapped demos lift it): a run that
    # handed back the unoptimized program, or wrote the original, fails here.
    optimized_score = eval.(optimized)
    original_score = eval.(yaml)

    assert optimized_score > original_score,
           "optimized #{optimized_score} vs original #{original_score}"

    assert r["bestScore"] > r["baselineScore"]

    # The source config is byte-identical afterwards.
    assert File.read!(yaml) == source_before
  end

  defp result_steps(%{"steps" => steps}) when is_map(steps), do: steps

  defp result_steps(%{steps: steps}) when is_map(steps),
    do: Enum.map(steps, fn {k, v} -> {to_string(k), v} end)

  defp result_steps(_), do: []
end
