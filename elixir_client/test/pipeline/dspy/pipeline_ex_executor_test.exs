defmodule Pipeline.DSPy.PipelineExExecutorTest do
  # The PipelineEx executor over PipelineExDouble (pipeline_ex's Pipeline.execute/2 as its
  # source at ff625ec behaves): isolation, inputs, LM settings, spend.
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.Executor
  alias Pipeline.DSPy.Executor.PipelineEx

  # echoes the prompt: which candidate produced an answer is visible in it
  defp echo(cost \\ 0.01) do
    parent = self()

    PipelineExDouble.runner(
      answer: fn messages, _step ->
        {:ok, "ANSWER<" <> List.last(messages).content <> ">", %{cost: cost}}
      end,
      notify: parent
    )
  end

  defp capture_opts(runner) do
    parent = self()
    fn config, opts -> send(parent, {:opts, opts}) && runner.(config, opts) end
  end

  defp wf(prompt, extra \\ %{}) do
    %{
      "workflow" =>
        Map.merge(
          %{
            "name" => "ckpt_wf",
            "checkpoint_enabled" => true,
            "steps" => [
              %{
                "name" => "analyze",
                "type" => "claude_smart",
                "output_to_file" => "a.json",
                "prompt" => [%{"type" => "static", "content" => prompt}]
              }
            ]
          },
          extra
        )
    }
  end

  # as the sidecar asks: a candidate of a run
  defp run(config, inputs, opts, ctx \\ %{candidate_id: "c1"}),
    do: PipelineEx.execute(config, inputs, Map.put(ctx, :executor_opts, opts))

  test "each candidate runs in its own checkpoint/output/workspace dirs, removed afterwards" do
    runner = capture_opts(echo())
    assert {:ok, a} = run(wf("candidate A"), %{}, pipeline: runner)
    assert {:ok, b} = run(wf("candidate B"), %{}, pipeline: runner)
    assert a["output"] == "ANSWER<candidate A>"
    assert b["output"] == "ANSWER<candidate B>"

    assert_received {:opts, o1}
    assert_received {:opts, o2}

    for o <- [o1, o2], key <- [:checkpoint_dir, :output_dir, :workspace_dir] do
      assert String.starts_with?(o[key], System.tmp_dir!())
      refute File.exists?(o[key]), "#{key} #{o[key]} left behind"
    end

    assert o1[:checkpoint_dir] != o2[:checkpoint_dir]
  end

  test "your own production calls (no candidate id) run in pipeline_ex's directories, keeping outputs" do
    own = Path.join(System.tmp_dir!(), "own_dirs_#{System.unique_integer([:positive])}")
    on_exit(fn -> File.rm_rf(own) end)
    runner = capture_opts(echo())

    config =
      wf("prod", %{
        "workspace_dir" => own,
        "checkpoint_dir" => own,
        "defaults" => %{"output_dir" => own}
      })

    assert {:ok, _} = run(config, %{}, [pipeline: runner], %{})
    assert_received {:opts, o}
    refute Keyword.has_key?(o, :checkpoint_dir) or Keyword.has_key?(o, :output_dir)
    assert File.regular?(Path.join(own, "a.json"))
  end

  test "an execution killed mid-run (timeout, cancel) still leaves no dirs behind" do
    parent = self()

    hang = fn _config, opts ->
      send(parent, {:opts, opts})
      Process.sleep(:infinity)
    end

    pid = spawn(fn -> run(wf("x"), %{}, pipeline: hang) end)
    assert_receive {:opts, opts}, 2_000
    assert File.dir?(opts[:checkpoint_dir])
    Process.exit(pid, :kill)
    root = Path.dirname(opts[:checkpoint_dir])
    assert Enum.any?(1..100, fn _ -> Process.sleep(10) || not File.exists?(root) end)
  end

  test "sharing the dirs (only when asked) shows why: the second candidate gets the first's checkpoint" do
    shared = Path.join(System.tmp_dir!(), "shared_ckpt_#{System.unique_integer([:positive])}")
    on_exit(fn -> File.rm_rf(shared) end)

    opts = [
      pipeline: echo(),
      dirs: :shared,
      execute_opts: [checkpoint_dir: shared, output_dir: shared, workspace_dir: shared]
    ]

    assert {:ok, a} = run(wf("candidate A"), %{}, opts)
    assert {:ok, b} = run(wf("candidate B"), %{}, opts)
    assert a["output"] == "ANSWER<candidate A>"
    # pipeline_ex loaded ckpt_wf_latest.json and skipped the finished step
    assert b["output"] == "ANSWER<candidate A>"
    assert File.exists?(Path.join(shared, "ckpt_wf_latest.json"))
  end

  test "inputs: rendered as pipeline_ex interpolates them; maps and lists inside text as JSON" do
    config = %{
      "workflow" => %{
        "name" => "w",
        "steps" => [
          %{
            "name" => "a",
            "type" => "claude",
            "prompt" => [
              %{
                "type" => "static",
                "content" =>
                  "Code: {{inputs.code}}\nFiles: {{inputs.files}}\nOpts: {{inputs.opts}}\nMode: {{inputs.cfg.mode}} N={{inputs.n}}"
              }
            ]
          }
        ]
      }
    }

    inputs = %{
      "code" => "defmodule X do end",
      "files" => ["a.ex", "b.ex"],
      "opts" => %{"strict" => true},
      "cfg" => %{"mode" => "fast"},
      "n" => 3
    }

    assert {:ok, w} = run(config, inputs, pipeline: echo())
    assert_received {:pipeline_ex_double_call, "a", prompt, _}

    assert prompt ==
             ~s(Code: defmodule X do end\nFiles: ["a.ex","b.ex"]\nOpts: {"strict":true}\nMode: fast N=3)

    assert w["status"] == "ok"
  end

  test "inputs: a map or list used whole or through a sub-path keeps its type" do
    alias Pipeline.DSPy.Executor.PipelineEx.Inputs

    config = %{
      "workflow" => %{
        "steps" => [
          %{"name" => "l", "type" => "for_loop", "data_source" => "{{inputs.items}}"},
          %{
            "name" => "p",
            "type" => "claude",
            "prompt" => [
              %{"type" => "static", "content" => "{{ inputs.cfg.mode }} and {{inputs.tags}}"}
            ]
          }
        ]
      }
    }

    assert Inputs.encode(
             %{"items" => [1, 2], "cfg" => %{"mode" => "x"}, "tags" => ["a", "b"], "s" => "t"},
             config
           ) ==
             %{"items" => [1, 2], "cfg" => %{"mode" => "x"}, "tags" => ~s(["a","b"]), "s" => "t"}
  end

  test "nested bodies: parallel tasks and inline pipelines get the model; inline pipelines the candidate's dirs" do
    alias Pipeline.DSPy.Executor.PipelineEx.{Dirs, LMSettings}

    config = %{
      "workflow" => %{
        "steps" => [
          %{
            "name" => "fan",
            "type" => "parallel_claude",
            "parallel_tasks" => [
              %{"id" => "a"},
              %{"id" => "b", "claude_options" => %{"max_turns" => 2}}
            ]
          },
          %{
            "name" => "sub",
            "type" => "pipeline",
            "pipeline" => %{
              "name" => "inner",
              "checkpoint_enabled" => true,
              "steps" => [
                %{"name" => "i", "type" => "claude", "claude_options" => %{"cwd" => "/mine"}}
              ]
            }
          },
          %{"name" => "c", "type" => "claude_smart"}
        ]
      }
    }

    out = LMSettings.apply(config, %{lm: "anthropic:claude-opus-4-1"})
    [fan, sub, c] = out["workflow"]["steps"]

    assert Enum.map(fan["parallel_tasks"], & &1["claude_options"]["model"]) == [
             "claude-opus-4-1",
             "claude-opus-4-1"
           ]

    assert hd(sub["pipeline"]["steps"])["claude_options"]["model"] == "claude-opus-4-1"
    assert c["claude_options"]["model"] == "claude-opus-4-1"

    dirs = %{checkpoint_dir: "/t/c", output_dir: "/t/o", workspace_dir: "/t/w"}
    [_, sub, c] = Dirs.apply(config, dirs)["workflow"]["steps"]

    assert sub["pipeline"]["checkpoint_dir"] == "/t/c" and
             sub["pipeline"]["workspace_dir"] == "/t/w"

    assert sub["pipeline"]["defaults"]["output_dir"] == "/t/o"
    # a cwd the user set stays; a Claude step without one works in the candidate's workspace
    assert hd(sub["pipeline"]["steps"])["claude_options"]["cwd"] == "/mine"
    assert c["claude_options"]["cwd"] == "/t/w"
  end

  test "the candidate's model and temperature reach the steps' options where pipeline_ex reads them" do
    config = %{
      "workflow" => %{
        "name" => "w",
        "steps" => [
          %{
            "name" => "a",
            "type" => "claude",
            "claude_options" => %{"model" => "claude-old", "max_turns" => 1},
            "prompt" => [%{"type" => "static", "content" => "hi"}]
          },
          %{
            "name" => "g",
            "type" => "gemini",
            "prompt" => [%{"type" => "static", "content" => "yo"}]
          },
          %{
            "name" => "loop",
            "type" => "for_loop",
            "iterator" => "x",
            "data_source" => "[]",
            "steps" => [%{"name" => "inner", "type" => "claude_smart", "prompt" => []}]
          }
        ]
      }
    }

    runner = capture_opts(fn cfg, _opts -> send(self(), {:cfg, cfg}) && {:ok, %{}} end)

    assert {:ok, _} =
             run(config, %{}, [pipeline: runner], %{
               lm: "anthropic:claude-haiku-4-5",
               temperature: 0.7
             })

    assert_received {:cfg, cfg}
    [a, g, loop] = cfg["workflow"]["steps"]
    assert a["claude_options"]["model"] == "claude-haiku-4-5"
    assert a["claude_options"]["max_turns"] == 1
    assert g["token_budget"]["temperature"] == 0.7
    assert hd(loop["steps"])["claude_options"]["model"] == "claude-haiku-4-5"

    # an LM pipeline_ex cannot call (offline, openai:...) changes nothing
    assert {:ok, _} = run(config, %{}, [pipeline: runner], %{candidate_id: "c", lm: "offline"})
    assert_received {:cfg, cfg2}
    assert hd(cfg2["workflow"]["steps"])["claude_options"]["model"] == "claude-old"
  end

  test "the cost pipeline_ex reports is the execution's usage, marked as spent outside the sidecar" do
    config = %{
      "workflow" => %{
        "name" => "w",
        "steps" => [
          %{
            "name" => "one",
            "type" => "claude",
            "prompt" => [%{"type" => "static", "content" => "1"}]
          },
          %{
            "name" => "two",
            "type" => "claude_smart",
            "prompt" => [%{"type" => "previous_response", "step" => "one"}]
          },
          %{
            "name" => "three",
            "type" => "claude",
            "condition" => "one.nope",
            "prompt" => [%{"type" => "static", "content" => "3"}]
          }
        ]
      }
    }

    assert {:ok, w} =
             Executor.execute({PipelineEx, pipeline: echo(0.25)}, config, %{}, %{
               candidate_id: "c"
             })

    assert w["usage"]["costUsd"] == 0.5
    assert w["externalUsage"]["costUsd"] == 0.5
    assert w["order"] == ["one", "two", "three"]
    assert w["steps"]["three"]["skipped"] == true
    assert Enum.map(w["calls"], & &1["path"]) == ["one", "two"]
    # previous_response without extract: the whole result map, as pipeline_ex inserts it
    assert w["output"] =~ ~s("cost": 0.25)
    assert w["output"] == w["steps"]["two"]["text"]
  end

  test "pipeline_ex's {:error, message} is a failed candidate" do
    config = %{
      "workflow" => %{"name" => "w", "steps" => [%{"name" => "f", "type" => "file_ops"}]}
    }

    assert {:ok, w} =
             Executor.execute({PipelineEx, pipeline: echo()}, config, %{}, %{candidate_id: "c"})

    assert w["status"] == "error"
    assert w["error"] =~ "file_ops"
  end
end
