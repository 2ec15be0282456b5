defmodule Pipeline.DSPy.ReferenceTest do
  # The Reference executor speaks pipeline_ex (commit ff625ec): each test names the pipeline_ex
  # file:line whose behaviour it pins. The LM is a stand-in that echoes the prompt it got (the
  # real path, lm/generate through the sidecar, is covered in sidecar_test and corpus_test).
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.Executor.Reference

  defp ctx(extra \\ []) do
    parent = self()

    gen = fn messages, opts ->
      send(parent, {:generate, messages, opts})

      {:ok,
       %{
         "text" => "R[#{List.last(messages).content}]",
         "usage" => %{"inputTokens" => 2, "outputTokens" => 1},
         "costUsd" => 0.5
       }}
    end

    %{
      server: :srv,
      run_id: "run-1",
      lm: "offline",
      executor_opts: Keyword.merge([generate: gen], extra)
    }
  end

  defp wf(steps, extra \\ %{}),
    do: %{"workflow" => Map.merge(%{"name" => "wf", "steps" => steps}, extra)}

  defp static(c), do: %{"type" => "static", "content" => c}

  defp claude(name, parts, extra \\ %{}),
    do: Map.merge(%{"name" => name, "type" => "claude", "prompt" => parts}, extra)

  defp run(config, inputs \\ %{}, c \\ ctx()), do: elem(Reference.execute(config, inputs, c), 1)
  defp prompts(r), do: Enum.map(r["calls"], & &1["prompt"])

  describe "prompt parts (prompt_builder.ex)" do
    test "previous_response without extract inserts the whole result map as pretty JSON (85, 230-240)" do
      r =
        run(
          wf([
            claude("a", [static("hi")]),
            claude("b", [%{"type" => "previous_response", "step" => "a"}])
          ])
        )

      assert Enum.at(prompts(r), 1) ==
               ~s({\n  "cost": 0.5,\n  "success": true,\n  "text": "R[hi]"\n})
    end

    test "extract reads the result map's keys only; missing raises unless strict: false (168-228)" do
      prev = fn extra -> Map.merge(%{"type" => "previous_response", "step" => "a"}, extra) end

      ok =
        run(
          wf([
            claude("a", [static("hi")]),
            claude("b", [prev.(%{"extract" => "text"}), static("end")])
          ])
        )

      assert Enum.at(prompts(ok), 1) == "R[hi]\nend"

      lax =
        run(
          wf([
            claude("a", [static("{\"k\": 1}")]),
            claude("b", [prev.(%{"extract" => "k", "strict" => false})])
          ])
        )

      # no look into the JSON text: the field is not a key of the result map
      assert Enum.at(prompts(lax), 1) == "nil"

      strict = run(wf([claude("a", [static("x")]), claude("b", [prev.(%{"extract" => "k"})])]))
      assert strict["status"] == "error"

      assert strict["error"] =~
               "Field 'k' not found in previous response. Available fields: cost, success, text"

      assert length(strict["calls"]) == 1
    end

    test "session_context and claude_continue parts are dropped, parts joined with newlines (115, 19)" do
      parts = [
        static("one"),
        %{"type" => "session_context", "session_id" => "s"},
        %{"type" => "claude_continue", "session_id" => "s"},
        static("two")
      ]

      r = run(wf([claude("a", parts)]))
      assert r["status"] == "ok"
      assert prompts(r) == ["one\n\n\ntwo"]
    end

    test "a previous_response of a step that has not run crashes the run (72-78)" do
      r = run(wf([claude("a", [%{"type" => "previous_response", "step" => "later"}])]))
      assert r["status"] == "error" and r["error"] =~ "Pipeline execution crashed"
      assert r["error"] =~ "later"
    end
  end

  describe "templates (variable_engine.ex)" do
    test "bare names and unknown state paths blank, unknown inputs/steps/global_vars kept (298-330, 632-674)" do
      r =
        run(
          wf(
            [
              claude("a", [
                static(
                  "[{{pipeline_request}}][{{state.nope}}][{{inputs.nope}}][{{steps.nope.text}}][{{global_vars.nope}}][{{global_vars.lang}}]"
                )
              ])
            ],
            %{"global_vars" => %{"lang" => "ex"}}
          )
        )

      assert prompts(r) == [
               "[][][{{inputs.nope}}][{{steps.nope.text}}][{{global_vars.nope}}][ex]"
             ]
    end

    test "arithmetic over state, function calls, type-preserving inputs (412-558, 566-721, executor.ex:774)" do
      steps = [
        %{
          "name" => "v",
          "type" => "set_variable",
          "variables" => %{"i" => "{{inputs.n}}", "label" => "n={{inputs.n}}"}
        },
        claude("a", [
          static(
            "{{state.i + 1}}|{{multiply(state.i, 3)}}|{{max(2, 7, 4)}}|{{nosuch(1)}}|{{state.label}}"
          )
        ])
      ]

      r = run(wf(steps), %{"n" => 4})
      assert prompts(r) == ["5|12|7|nosuch(1)|n=4"]
    end

    test "steps.X.field falls back into the result's \"result\" map (332-399)" do
      inner = %{
        "name" => "sub",
        "type" => "pipeline",
        "inputs" => %{"x" => "1"},
        "pipeline" => %{"name" => "p", "steps" => [claude("in", [static("hi")])]}
      }

      r = run(wf([inner, claude("b", [static("{{steps.sub.in.text}}")])]))
      assert List.last(prompts(r)) == "R[hi]"
    end

    test "a map interpolated into text crashes the run, as to_string does there (130-135)" do
      r = run(wf([claude("a", [static("x: {{inputs.m}} ")])]), %{"m" => %{"k" => 1}})
      assert r["status"] == "error" and r["error"] =~ "String.Chars not implemented"
      assert r["calls"] == []
    end
  end

  describe "conditions (condition/engine.ex) and skipped steps (executor.ex:275-279)" do
    test "comparisons of step result fields skip a step, with pipeline_ex's skipped result" do
      steps = [
        claude("a", [static("x")]),
        claude("cheap", [static("y")], %{"condition" => "a.cost >= 0.4"}),
        claude("pricey", [static("z")], %{"condition" => "a.cost > 1"})
      ]

      r = run(wf(steps))
      assert prompts(r) == ["x", "y"]

      assert r["steps"]["pricey"] == %{
               "success" => true,
               "skipped" => true,
               "reason" => "Condition not met: a.cost > 1"
             }

      assert r["order"] == ["a", "cheap", "pricey"]
      assert r["output"] == "R[y]"
    end

    test "and/or/not maps (104-119); a false map condition crashes in the skip message (executor.ex:278)" do
      yes = %{"and" => ["a.success", %{"or" => ["a.cost > 1", %{"not" => "a.cost > 1"}]}]}
      r = run(wf([claude("a", [static("x")]), claude("b", [static("y")], %{"condition" => yes})]))
      assert prompts(r) == ["x", "y"]

      no = %{"not" => "a.success"}
      r = run(wf([claude("a", [static("x")]), claude("b", [static("y")], %{"condition" => no})]))
      assert r["status"] == "error" and r["error"] =~ "String.Chars not implemented for %{"
    end
  end

  describe "multi-prompt steps" do
    test "parallel_claude sends each parallel_tasks[].prompt, never the step's (parallel_claude.ex:19-33)" do
      step = %{
        "name" => "par",
        "type" => "parallel_claude",
        "prompt" => [static("NEVER")],
        "parallel_tasks" => [
          %{"id" => "t1", "prompt" => [static("one")]},
          %{"prompt" => [static("two")]}
        ]
      }

      r = run(wf([step]))

      assert Enum.map(r["calls"], &{&1["path"], &1["prompt"]}) == [
               {"par.parallel_tasks[t1]", "one"},
               {"par.parallel_tasks[1]", "two"}
             ]

      assert r["steps"]["par"]["text"] =~ "===[t1]==="
    end

    test "claude_batch sends each tasks[].prompt and consolidates the texts (claude_batch.ex:73-133, 363-412)" do
      step = %{
        "name" => "batch",
        "type" => "claude_batch",
        "tasks" => [%{"id" => "x", "prompt" => [static("one")]}, %{"prompt" => "two"}]
      }

      r = run(wf([step]))

      assert Enum.map(r["calls"], &{&1["path"], &1["prompt"]}) == [
               {"batch.tasks[x]", "one"},
               {"batch.tasks[1]", "two"}
             ]

      assert r["steps"]["batch"]["text"] =~ "**Successful**: 2"
      assert r["steps"]["batch"]["metadata"]["successful_tasks"] == 2
    end
  end

  test "claude_extract: the text goes through its format and post-processing (claude_extract.ex:114-153, 232-423)" do
    step =
      claude("x", [static("see https://a.example/b")], %{
        "type" => "claude_extract",
        "extraction_config" => %{
          "format" => "json",
          "post_processing" => ["extract_links"],
          "include_metadata" => true
        }
      })

    r = run(wf([step]))
    text = ~s({"content":"R[see https://a.example/b]","format":"json"})
    # the link regex (https?://[^\s]+) runs to the next blank, JSON included
    assert r["steps"]["x"]["text"] ==
             text <> "\n## Links Extracted\n- https://a.example/b]\",\"format\":\"json\"}\n"

    assert r["steps"]["x"]["metadata"]["extraction_applied"] == true

    assert r["steps"]["x"]["metadata"]["extraction_metadata"]["original_length"] ==
             String.length("R[see https://a.example/b]")
  end

  test "gemini_instructor: the JSON answer becomes AnalysisResponse fields; not JSON crashes (gemini_instructor.ex:20-60)" do
    json = fn messages, _ ->
      {:ok,
       %{
         "text" => ~s({"text": "T", "summary": "S", "extra": 1}),
         "prompt" => List.last(messages).content
       }}
    end

    step = %{"name" => "gi", "type" => "gemini_instructor", "prompt" => [static("q")]}
    next = claude("n", [%{"type" => "previous_response", "step" => "gi"}])
    r = run(wf([step, next]), %{}, ctx(generate: json))

    assert Enum.at(prompts(r), 1) ==
             ~s({\n  "analysis": null,\n  "summary": "S",\n  "text": "T"\n})

    assert r["steps"]["gi"]["text"] == "T"

    bad = run(wf([step]))
    assert bad["status"] == "error" and bad["error"] =~ "Gemini call failed"

    assert {:refused, %{type: "gemini_instructor"}} =
             Reference.check(wf([Map.put(step, "functions", ["f"])]))
  end

  describe "loops (step/loop.ex)" do
    test "for_loop: body LM calls are LOOP.steps.INNER with their iteration; {{loop.item}} was blanked (executor.ex:262, loop.ex:554)" do
      steps = [
        %{"name" => "v", "type" => "set_variable", "variables" => %{"files" => ["a.ex", "b.ex"]}},
        %{
          "name" => "review",
          "type" => "for_loop",
          "iterator" => "file",
          "data_source" => "files",
          "steps" => [claude("analyze", [static("Review {{loop.file}}")])]
        }
      ]

      r = run(wf(steps))

      assert Enum.map(r["calls"], &{&1["path"], &1["iteration"], &1["prompt"]}) == [
               {"review.steps.analyze", 0, "Review "},
               {"review.steps.analyze", 1, "Review "}
             ]

      assert %{"completed_items" => 2, "total_items" => 2, "success" => true} =
               r["steps"]["review"]["output"]
    end

    test "while_loop is bounded by max_iterations and reports it as a result (267-276)" do
      body = [claude("step", [static("again")])]

      loop = %{
        "name" => "w",
        "type" => "while_loop",
        "condition" => "a.success",
        "max_iterations" => 3,
        "steps" => body
      }

      r = run(wf([claude("a", [static("x")]), loop]))
      assert r["status"] == "ok"
      assert length(r["calls"]) == 4
      assert r["steps"]["w"]["output"]["max_iterations_reached"] == true
    end

    test "a for_loop over more items than :max_loop_items fails with a clear error before iterating" do
      steps = [
        %{"name" => "v", "type" => "set_variable", "variables" => %{"xs" => [1, 2, 3]}},
        %{
          "name" => "l",
          "type" => "for_loop",
          "iterator" => "x",
          "data_source" => "xs",
          "steps" => [claude("c", [static("hi")])]
        }
      ]

      r = run(wf(steps), %{}, ctx(max_loop_items: 2))

      assert r["status"] == "error" and
               r["error"] =~ "for_loop 'l' has 3 items; the Reference executor runs at most 2"

      assert r["calls"] == []
    end
  end

  describe "nested pipelines (step/nested_pipeline.ex)" do
    test "inline: inner calls are STEP.steps.INNER; inputs keep their types; outputs extracted" do
      step = %{
        "name" => "sub",
        "type" => "pipeline",
        "inputs" => %{"n" => "{{inputs.count}}"},
        "outputs" => [%{"path" => "in.text", "as" => "answer"}],
        "pipeline" => %{"name" => "child", "steps" => [claude("in", [static("n={{inputs.n}}")])]}
      }

      r =
        run(wf([step, claude("after", [static("{{steps.sub.result.answer}}")])]), %{"count" => 3})

      assert Enum.map(r["calls"], &{&1["path"], &1["prompt"]}) == [
               {"sub.steps.in", "n=3"},
               {"after", "R[n=3]"}
             ]
    end

    test "a failing child fails the step: \"Nested pipeline 'NAME' failed: ...\" (nested_pipeline.ex:337-345)" do
      bad = %{
        "name" => "sub",
        "type" => "pipeline",
        "pipeline" => %{"name" => "child", "steps" => [claude("in", "plain string")]}
      }

      r = run(wf([bad]))
      assert r["status"] == "error"

      assert r["error"] =~
               "Step 'sub' failed: Nested pipeline 'child' failed: Pipeline execution crashed"

      assert r["error"] =~ "Pipeline.PromptBuilder.build/2"
    end

    test "pipeline_file is loaded through the loader (pipeline/load) before any work" do
      parent = self()
      child = wf([claude("in", [static("from file")])])
      load = fn path -> send(parent, {:load, path}) && {:ok, child} end

      r =
        run(
          wf([%{"name" => "f", "type" => "pipeline", "pipeline_file" => "child.yaml"}]),
          %{},
          ctx(load: load, base_dir: "/base")
        )

      assert_received {:load, "/base/child.yaml"}
      assert Enum.map(r["calls"], & &1["path"]) == ["f.steps.in"]
    end
  end

  test "refused before any work: a file_ops convert, with its path, type and why; in a loop body it fails as pipeline_ex's loop does" do
    convert = %{
      "name" => "t",
      "type" => "file_ops",
      "operation" => "convert",
      "format" => "json_to_yaml"
    }

    nested = %{
      "name" => "sub",
      "type" => "pipeline",
      "pipeline" => %{"name" => "c", "steps" => [convert]}
    }

    steps = [claude("a", [static("x")]), nested]

    assert {:refused, %{path: "workflow.steps[1].pipeline.steps[0]", type: "file_ops"}} =
             Reference.check(wf(steps))

    r = run(wf(steps))

    assert r["status"] == "error" and
             r["error"] =~ "workflow.steps[1].pipeline.steps[0] (file_ops)"

    refute_received {:generate, _, _}

    # loop.ex:554-602: the loop's dispatcher has no file_ops: the iteration fails, the loop
    # step succeeds with success: false in its result, the run goes on
    loop = %{
      "name" => "l",
      "type" => "for_loop",
      "iterator" => "x",
      "data_source" => "xs",
      "steps" => [convert]
    }

    steps = [
      %{"name" => "v", "type" => "set_variable", "variables" => %{"xs" => [1]}},
      loop,
      claude("after", [static("y")])
    ]

    assert :ok = Reference.check(wf(steps))
    r = run(wf(steps))
    assert r["status"] == "ok"

    assert [%{"error" => "Unsupported step type in loop: file_ops", "success" => false}] =
             r["steps"]["l"]["output"]["iterations"]

    assert prompts(r) == ["y"]
  end

  test "file_ops stay inside the execution's workspace: a path leaving it is refused before the run" do
    escape = %{
      "name" => "cp",
      "type" => "file_ops",
      "operation" => "copy",
      "source" => "../../etc/passwd",
      "destination" => "x"
    }

    assert {:refused, %{type: "file_ops", reason: reason}} = Reference.check(wf([escape]))
    assert reason =~ "../../etc/passwd"
    assert {:refused, _} = Reference.check(wf([%{escape | "source" => "/etc/passwd"}]))

    ws = Path.join(System.tmp_dir!(), "ref_ws_#{System.unique_integer([:positive])}")
    File.mkdir_p!(ws)
    on_exit(fn -> File.rm_rf(ws) end)
    File.write!(Path.join(ws, "in.txt"), "a\nb\n")

    steps = [
      %{
        "name" => "cp",
        "type" => "file_ops",
        "operation" => "copy",
        "source" => "in.txt",
        "destination" => "out/copy.txt"
      },
      %{
        "name" => "up",
        "type" => "file_ops",
        "operation" => "stream_process",
        "source" => "out/copy.txt",
        "processor" => "uppercase"
      },
      %{"name" => "ls", "type" => "file_ops", "operation" => "list", "path" => "out"}
    ]

    r = run(wf(steps), %{}, ctx(workspace: ws))
    assert r["status"] == "ok", inspect(r)
    assert File.read!(Path.join(ws, "out/copy.txt")) == "A\nB\n"
    assert r["steps"]["ls"]["output"]["files"] == ["./workspace/out/copy.txt"]
  end

  test "data_transform: input_source, filter, aggregate as pipeline_ex's transformer (transformer.ex:33-131, 266-337)" do
    steps = [
      %{
        "name" => "v",
        "type" => "set_variable",
        "variables" => %{
          "rows" => [%{"n" => 3, "k" => "a"}, %{"n" => 9, "k" => "b"}, %{"n" => 5, "k" => "a"}]
        }
      },
      %{
        "name" => "t",
        "type" => "data_transform",
        "input_source" => "rows",
        "operations" => [
          %{"operation" => "filter", "condition" => "k == 'a'"},
          %{"operation" => "aggregate", "field" => "n", "function" => "sum"}
        ],
        "output_field" => "total"
      },
      claude("c", [static("total={{steps.t.total}}")])
    ]

    r = run(wf(steps))

    assert r["steps"]["t"]["output"] == %{
             "total" => 8,
             "metadata" => %{
               "operation_count" => 2,
               "input_type" => "list",
               "output_type" => "number"
             }
           }

    assert prompts(r) == ["total=8"]
  end

  test "conditions calling functions it does not evaluate are refused; length() is evaluated" do
    any = claude("b", [static("y")], %{"condition" => "any(a.issues, 'x') == false"})
    assert {:refused, %{reason: reason}} = Reference.check(wf([claude("a", [static("x")]), any]))
    assert reason =~ "any()"

    len = claude("b", [static("y")], %{"condition" => "length(a.text) > 3"})
    assert prompts(run(wf([claude("a", [static("x")]), len]))) == ["x", "y"]
  end

  test "wire: LM step text, the rest as metadata; usage per step and in total; LM options passed" do
    r =
      run(
        wf([
          claude("a", [static("x")], %{"claude_options" => %{"system_prompt" => "Be terse"}}),
          %{
            "name" => "g",
            "type" => "gemini",
            "prompt" => [static("y")],
            "claude_options" => %{"system_prompt" => "not for gemini"}
          },
          claude("s", [static("z")], %{"type" => "claude_smart", "preset" => "analysis"})
        ])
      )

    assert r["steps"]["a"] == %{
             "success" => true,
             "output" => nil,
             "text" => "R[x]",
             "metadata" => %{"cost" => 0.5},
             "usage" => %{"inputTokens" => 2, "outputTokens" => 1, "costUsd" => 0.5},
             "durationMs" => r["steps"]["a"]["durationMs"]
           }

    assert r["steps"]["g"]["metadata"]["tokens"] == %{"input" => 2, "output" => 1}
    assert r["usage"] == %{"inputTokens" => 6, "outputTokens" => 3, "costUsd" => 1.5}

    assert_received {:generate,
                     [%{role: "system", content: "Be terse"}, %{role: "user", content: "x"}],
                     opts}

    # gemini: no system prompt (step/gemini.ex:58-76); claude_smart: its preset's
    # (option_builder.ex:95-116)
    assert_received {:generate, [%{role: "user", content: "y"}], _}

    assert_received {:generate,
                     [%{role: "system", content: "You are a code analysis expert" <> _}, _], _}

    assert opts[:run_id] == "run-1" and opts[:lm] == "offline" and opts[:server] == :srv
  end
end
