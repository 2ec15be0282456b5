defmodule Pipeline.DSPy.PipelineExTelemetryTest do
  # pipeline_ex emits no telemetry itself: the execution events around Pipeline.execute/2 and
  # one step event per top-level step, from its results. This test stands in for a forwarder
  # (registered like one, so the events take their real dispatch path).
  use ExUnit.Case, async: false

  alias Pipeline.DSPy.Executor
  alias Pipeline.DSPy.Executor.PipelineEx

  @registry {Pipeline.DSPy.Telemetry.Forwarder, :forwarders}

  setup do
    before = :persistent_term.get(@registry, [])
    :persistent_term.put(@registry, [{self(), :atomics.new(4, []), 10_000} | before])
    on_exit(fn -> :persistent_term.put(@registry, before) end)
  end

  test "execution events around Pipeline.execute/2 and a step event per step, in run order" do
    runner = PipelineExDouble.runner(answer: fn _m, _s -> {:ok, "fine", %{cost: 0.5}} end)

    config = %{
      "workflow" => %{
        "name" => "tw",
        "steps" => [
          %{
            "name" => "z_first",
            "type" => "claude",
            "prompt" => [%{"type" => "static", "content" => "a"}]
          },
          %{
            "name" => "a_skip",
            "type" => "claude",
            "condition" => "z_first.missing",
            "prompt" => [%{"type" => "static", "content" => "b"}]
          },
          %{"name" => "m_vars", "type" => "set_variable", "variables" => %{"k" => 1}}
        ]
      }
    }

    assert {:ok, %{"status" => "ok"}} =
             Executor.execute({PipelineEx, pipeline: runner}, config, %{}, %{
               run_id: "r1",
               candidate_id: "c1"
             })

    events = collect([])
    names = Enum.map(events, fn {e, _m, meta} -> {e, meta[:step_name]} end)

    assert names == [
             {[:pipeline, :execution, :start], nil},
             {[:pipeline, :step, :stop], "z_first"},
             {[:pipeline, :step, :stop], "a_skip"},
             {[:pipeline, :step, :stop], "m_vars"},
             {[:pipeline, :execution, :stop], nil}
           ]

    [_, {_, _, first}, {_, _, skipped}, {_, _, vars}, {_, _, stop}] = events
    assert first.step_type == "claude" and first.success and first.run_id == "r1"
    assert first.usage["costUsd"] == 0.5
    assert skipped.skipped == true and vars.skipped == false
    assert stop.result["order"] == ["z_first", "a_skip", "m_vars"]
    assert stop.result["externalUsage"]["costUsd"] == 0.5
  end

  defp collect(acc) do
    receive do
      {:telemetry_event, e, m, meta, _t} -> collect([{e, m, meta} | acc])
    after
      100 -> Enum.reverse(acc)
    end
  end
end
