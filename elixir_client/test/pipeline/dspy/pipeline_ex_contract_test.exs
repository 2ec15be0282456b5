defmodule Pipeline.DSPy.PipelineExContractTest do
  # pipeline_ex's result maps (PipelineExDouble.Fixtures, each citing its pipeline_ex
  # file:line at ff625ec) through our normalisation. The wire forms are also the fixtures the
  # sidecar's tests replay (test/pipeline/fixtures/pipeline_ex/*.json): this test checks they
  # are what Elixir produces (REGEN_PIPELINE_EX_FIXTURES=1 rewrites them).
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.Executor
  alias Pipeline.DSPy.Executor.PipelineEx.Result
  alias PipelineExDouble.Fixtures

  @dir Path.expand("../../../../test/pipeline/fixtures/pipeline_ex", __DIR__)

  defp fixture(name), do: Enum.find(Fixtures.all(), &(&1.name == name))
  defp wire(name), do: Result.to_wire(fixture(name).results, fixture(name).workflow)

  defp json(term),
    do:
      term |> Executor.jsonable() |> Pipeline.DSPy.JSON.encode!() |> Pipeline.DSPy.JSON.decode!()

  test "every fixture's wire form is the JSON fixture the sidecar replays" do
    for f <- Fixtures.all() do
      # what goes on the wire: the PipelineEx executor's result through Executor's normalisation
      wire = json(Executor.normalize({:ok, Result.to_wire(f.results, f.workflow)}, 1.0))
      assert wire == json(Executor.normalize({:ok, f.results}, 1.0, f.workflow)), f.name
      path = Path.join(@dir, "#{f.name}.json")

      if System.get_env("REGEN_PIPELINE_EX_FIXTURES") == "1" do
        File.mkdir_p!(@dir)

        body = %{
          "name" => f.name,
          "citation" => "nshkrdotcom/pipeline_ex@ff625ec " <> f.cite,
          "workflow" => json(f.workflow),
          "pipelineExResults" => json(f.results),
          "wire" => wire
        }

        File.write!(path, Pipeline.DSPy.JSON.encode!(body) <> "\n")
      end

      assert %{"wire" => ^wire, "citation" => cite} =
               Pipeline.DSPy.JSON.decode!(File.read!(path)),
             "#{f.name}: #{path} is stale"

      assert cite =~ "ff625ec lib/pipeline/"
    end
  end

  test "fact 1: claude_smart's answer stays in text; session_id, cost, metadata are metadata" do
    for w <- [
          wire("claude_smart"),
          Executor.normalize(
            {:ok, fixture("claude_smart").results},
            1.0,
            fixture("claude_smart").workflow
          )
        ] do
      s = w["steps"]["analyze_code"]
      assert s["text"] == Fixtures.answer()
      refute Map.has_key?(s, "output")
      assert s["metadata"]["session_id"] == "9f1c2d3e-session"
      assert s["metadata"]["claude_smart_metadata"]["preset_applied"] == "analysis"
      assert s["metadata"]["cost"] == 0.0042
      assert s["usage"] == %{"inputTokens" => 0, "outputTokens" => 0, "costUsd" => 0.0042}
      assert w["output"] == Fixtures.answer()
    end

    for {name, step} <- [
          {"claude_session", "review"},
          {"claude_extract", "extract"},
          {"claude_robust", "robust"},
          {"claude_mocked", "analyze"}
        ] do
      s = wire(name)["steps"][step]
      assert s["text"] == Fixtures.answer(), name
      refute Map.has_key?(s, "output"), name
      assert s["usage"]["costUsd"] > 0, name
    end

    # live results have atom keys; model and cost are metadata
    live = wire("claude_live")["steps"]["analyze"]
    assert live["text"] == Fixtures.answer()
    assert live["metadata"] == %{"cost" => 0.0123, "model" => "claude-sonnet-4-5"}

    # gemini's tokens become usage
    g = wire("gemini")["steps"]["plan"]
    assert g["usage"]["inputTokens"] == 120 and g["usage"]["outputTokens"] == 80
    assert g["metadata"]["tokens"]["total"] == 200
  end

  test "fact 2: a skipped step is recorded as skipped, with its reason, and is never the output" do
    f = fixture("skipped_last_step")

    for w <- [wire("skipped_last_step"), Executor.normalize({:ok, f.results}, 1.0, f.workflow)] do
      assert w["steps"]["alpha_review"] ==
               %{
                 "success" => true,
                 "skipped" => true,
                 "reason" => "Condition not met: zeta_analyze.needs_review"
               }

      assert w["order"] == ["zeta_analyze", "alpha_review"]
      assert w["output"] == Fixtures.answer()
      assert Enum.map(w["calls"], & &1["path"]) == ["zeta_analyze"]
    end
  end

  test "fact 3: steps named output, status and steps are steps, with or without the workflow" do
    f = fixture("steps_named_like_the_wire")

    for w <- [
          Executor.normalize({:ok, f.results}, 1.0),
          Executor.normalize({:ok, f.results}, 1.0, f.workflow)
        ] do
      assert Map.keys(w["steps"]) |> Enum.sort() == ["output", "status", "steps"]
      assert w["status"] == "ok"
      assert w["steps"]["status"]["text"] == "looks fine"
      assert w["steps"]["output"]["text"] == Fixtures.answer()
      assert w["steps"]["steps"]["output"]["variables_set"] == ["n"]
    end

    # while a real wire result (status given) is still read as one
    assert Executor.normalize(
             {:ok, %{status: "ok", steps: %{"a" => %{text: "x", success: true}}, output: "x"}},
             1
           )["output"] == "x"
  end

  test "fact 4: the output is the last step run, not the name that sorts last" do
    f = fixture("run_order")

    for w <- [wire("run_order"), Executor.normalize({:ok, f.results}, 1.0, f.workflow)] do
      assert w["order"] == ["zeta_first", "alpha_last"]
      assert w["output"] == Fixtures.answer()
    end

    # without the workflow nothing is guessed from names
    assert Executor.normalize({:ok, f.results}, 1.0)["output"] == nil
  end

  test "set_variable and data_transform: their values are the output, data_transform's metadata is metadata" do
    w = wire("set_variable_and_data_transform")

    assert w["steps"]["init"]["output"] == %{
             "variables_set" => ["limit"],
             "scope" => "global",
             "variable_count" => 1
           }

    assert w["steps"]["pick"]["output"] == [%{"x" => 1}, %{"x" => 2}]
    assert w["steps"]["pick"]["metadata"]["operation_count"] == 1
    assert w["output"] == [%{"x" => 1}, %{"x" => 2}]
    assert w["calls"] == []
    refute Map.has_key?(w, "externalUsage")
  end

  test "calls: loop bodies per iteration, nested pipelines, batch and parallel tasks, with usage" do
    loop = wire("for_loop")

    assert Enum.map(loop["calls"], &{&1["path"], &1["iteration"]}) == [
             {"review_loop.steps.analyze", 0},
             {"review_loop.steps.summarize", 0},
             {"review_loop.steps.analyze", 1},
             {"review_loop.steps.summarize", 1}
           ]

    assert Enum.at(loop["calls"], 1)["text"] == Fixtures.answer()
    assert_in_delta loop["usage"]["costUsd"], 0.006, 1.0e-9
    assert loop["externalUsage"] == loop["usage"]
    assert loop["steps"]["review_loop"]["output"]["completed_items"] == 2

    nested = wire("nested_pipeline_with_inputs")
    assert [%{"path" => "sub.steps.inner_analyze", "text" => a}] = nested["calls"]
    assert a == Fixtures.answer()

    assert Enum.map(wire("parallel_claude")["calls"], & &1["path"]) ==
             ["fan.parallel_tasks[sec]", "fan.parallel_tasks[perf]"]

    assert Enum.map(wire("claude_batch")["calls"], &{&1["path"], &1["text"]}) ==
             [{"batch.tasks[0]", "4"}, {"batch.tasks[mul]", "9"}]

    # a while_loop keeps only its iteration count: nothing to recover
    assert wire("while_loop")["calls"] == []
    assert wire("while_loop")["steps"]["refine"]["output"]["iterations"] == 2
  end
end
