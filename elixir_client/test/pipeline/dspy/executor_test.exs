defmodule Pipeline.DSPy.ExecutorTest do
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.Executor
  alias Pipeline.DSPy.Executor.PipelineEx

  # The Reference executor's own tests: reference_test.exs (and corpus_test.exs).

  test "normalize: pipeline_ex results with atom or string keys become the wire shape" do
    live = %{"analyze" => %{text: "A", success: true, cost: 0.2, model: "claude"}}
    mocked = %{"analyze" => %{"text" => "A", "success" => true}}

    for r <- [live, mocked] do
      w = Executor.normalize({:ok, r}, 3.0)
      assert w["status"] == "ok"
      assert w["steps"]["analyze"]["text"] == "A"
      assert w["steps"]["analyze"]["success"] == true
      assert w["durationMs"] == 3.0
    end

    # pipeline_ex returned {:ok, _}: the run is ok, the failed step says so itself
    failed = Executor.normalize({:ok, %{"a" => %{"success" => false}}}, 1)
    assert failed["status"] == "ok" and failed["steps"]["a"]["success"] == false
    assert %{"status" => "error", "error" => "oops"} = Executor.normalize({:error, "oops"}, 1)
    assert %{"status" => "error", "error" => err} = Executor.normalize(:weird, 1)
    assert err =~ "instead of"
    refute Map.has_key?(Executor.normalize({:ok, %{status: :ok, steps: %{}}}, 1), "usage")
  end

  test "run_request: telemetry-wrapped execution encodes the reply; a raise is a -32603 error" do
    params = %{
      "config" => %{"workflow" => %{"name" => "w"}},
      "inputs" => %{"a" => 1},
      "context" => %{"runId" => "r"},
      "timeoutMs" => 100
    }

    assert {:result, io} =
             Executor.run_request(
               fn _c, i, ctx -> {:ok, %{output: {i["a"], ctx.run_id}}} end,
               params,
               %{}
             )

    assert %{"status" => "ok", "output" => [1, "r"]} =
             Pipeline.DSPy.JSON.decode!(IO.iodata_to_binary(io))

    assert {:error, -32603, msg, nil} =
             Executor.run_request(fn _, _, _ -> raise ArgumentError, "bad" end, params, %{})

    assert msg =~ "bad"
  end

  test "PipelineEx without pipeline_ex loaded returns a clear error" do
    refute Code.ensure_loaded?(Pipeline)
    assert {:error, msg} = PipelineEx.execute(%{"workflow" => %{}}, %{}, %{})
    assert msg =~ "pipeline_ex is not loaded"
  end
end
