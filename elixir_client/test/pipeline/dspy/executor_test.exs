defmodule Pipeline.DSPy.ExecutorTest do
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.Executor
  alias Pipeline.DSPy.Executor.{PipelineEx, Reference}
  alias Pipeline.DSPy.Template

  # An LM stand-in for the Reference executor (its real path, lm/generate through the
  # sidecar, is covered in callbacks_test).
  defp ref_ctx(extra \\ []) do
    parent = self()

    gen = fn messages, opts ->
      send(parent, {:generate, messages, opts})
      last = List.last(messages).content

      {:ok,
       %{
         "text" => "R[#{last}]",
         "usage" => %{"inputTokens" => 2, "outputTokens" => 1},
         "costUsd" => 0.5
       }}
    end

    %{
      server: :srv,
      run_id: "run-9",
      lm: "offline",
      executor_opts: Keyword.merge([generate: gen], extra)
    }
  end

  test "Reference: claude/gemini steps, templates, previous_response with extract, set_variable" do
    dir = Path.join(System.tmp_dir!(), "ref_exec_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    File.write!(Path.join(dir, "ctx.md"), "FILE CONTENT")
    on_exit(fn -> File.rm_rf(dir) end)

    config = %{
      "workflow" => %{
        "name" => "wf",
        "global_vars" => %{"lang" => "Elixir"},
        "steps" => [
          %{
            "name" => "setv",
            "type" => "set_variable",
            "variables" => %{"topic" => "{{inputs.topic}}!"}
          },
          %{
            "name" => "analyze",
            "type" => "claude_smart",
            "claude_options" => %{"system_prompt" => "Expert in {{global_vars.lang}}"},
            "prompt" => [
              %{"type" => "static", "content" => "Topic: {{state.topic}} {{inputs.missing}}"},
              %{"type" => "file", "path" => "ctx.md"}
            ]
          },
          %{"name" => "summarize", "type" => "gemini", "prompt" => "Sum: {{steps.analyze.text}}"},
          %{
            "name" => "x",
            "type" => "claude",
            "prompt" => [%{"type" => "previous_response", "step" => "setv", "extract" => "topic"}]
          }
        ]
      }
    }

    assert {:ok, r} = Reference.execute(config, %{"topic" => "ports"}, ref_ctx(base_dir: dir))
    assert r.status == "ok"
    assert r.steps["analyze"].text == "R[Topic: ports! {{inputs.missing}}\nFILE CONTENT]"

    assert_received {:generate, [%{role: "system", content: "Expert in Elixir"}, %{role: "user"}],
                     opts}

    assert opts[:run_id] == "run-9" and opts[:lm] == "offline" and opts[:server] == :srv

    assert r.steps["summarize"].text ==
             "R[Sum: R[Topic: ports! {{inputs.missing}}\nFILE CONTENT]]"

    assert r.steps["x"].text == "R[ports!]"
    assert r.output == "R[ports!]"

    wire = Executor.normalize({:ok, r}, 1.0)
    assert wire["status"] == "ok"
    assert wire["usage"] == %{"inputTokens" => 6, "outputTokens" => 3, "costUsd" => 1.5}
    assert wire["steps"]["analyze"]["success"] == true
  end

  test "Reference: previous_response without extract JSON-encodes a map result" do
    config = %{
      "workflow" => %{
        "name" => "wf",
        "steps" => [
          %{"name" => "v", "type" => "set_variable", "variables" => %{"a" => 1}},
          %{
            "name" => "c",
            "type" => "claude",
            "prompt" => [%{"type" => "previous_response", "step" => "v"}]
          }
        ]
      }
    }

    assert {:ok, r} = Reference.execute(config, %{}, ref_ctx())
    assert r.steps["c"].text == ~s(R[{"a":1}])
  end

  test "Reference: an unknown step type stops the run with a clear error" do
    config = %{
      "workflow" => %{"name" => "wf", "steps" => [%{"name" => "loop", "type" => "for_loop"}]}
    }

    assert {:ok, %{status: "error", error: err}} = Reference.execute(config, %{}, ref_ctx())
    assert err =~ "loop"
    assert err =~ "for_loop"
    assert {:error, msg} = Reference.execute(%{"workflow" => %{"steps" => []}}, %{}, ref_ctx())
    assert msg =~ "no steps"
  end

  test "Reference: a failed LM call fails the step" do
    ctx = %{
      server: :srv,
      executor_opts: [generate: fn _, _ -> {:error, %{message: "budget gone"}} end]
    }

    config = %{
      "workflow" => %{
        "name" => "w",
        "steps" => [%{"name" => "a", "type" => "claude", "prompt" => "hi"}]
      }
    }

    assert {:ok, %{status: "error", error: err}} = Reference.execute(config, %{}, ctx)
    assert err =~ "budget gone"
  end

  test "templates: dot paths into maps and lists; unresolved left as written" do
    b = %{"inputs" => %{"x" => "X", "l" => [%{"n" => 1}]}, "steps" => %{"s" => %{"text" => "T"}}}

    assert Template.render("{{inputs.x}}-{{ steps.s.text }}-{{inputs.l.0.n}}-{{nope.z}}", b) ==
             "X-T-1-{{nope.z}}"
  end

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
