defmodule Mix.Tasks.DSPyTasksTest do
  use Pipeline.DSPy.SidecarCase, async: false

  import ExUnit.CaptureIO

  setup do
    dir = Path.join(System.tmp_dir!(), "dspy_tasks_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf(dir) end)
    Mix.shell(Mix.Shell.Process)
    on_exit(fn -> Mix.shell(Mix.Shell.IO) end)
    {:ok, dir: dir}
  end

  defp raises(task, args) do
    e = assert_raise Mix.Error, fn -> Mix.Task.rerun(task, args) end
    e.message
  end

  describe "mix dspy.evaluate" do
    test "scores the pipeline as written and prints the score; bad flags are refused", %{dir: dir} do
      ex = Path.join(repo_root(), "examples/code_analysis")

      args = [
        "--pipeline",
        Path.join(ex, "pipeline.yaml"),
        "--training-data",
        Path.join(ex, "training_data")
      ]

      assert raises("dspy.evaluate", []) =~ "--pipeline is required"

      assert raises("dspy.evaluate", args ++ ["--optimizer", "GEPA"]) =~
               "invalid option(s): --optimizer"

      assert raises("dspy.evaluate", args ++ ["--concurrency", "0"]) =~
               "--concurrency must be >= 1"

      assert raises("dspy.evaluate", args ++ ["--cluster-nodes", ","]) =~ "at least one node name"

      assert raises("dspy.evaluate", [
               "--pipeline",
               Path.join(dir, "nope.yaml"),
               "--training-data",
               dir
             ]) =~ "no such file"

      capture_io(fn -> Mix.Task.rerun("dspy.evaluate", args ++ ["--lm", "offline"]) end)
      assert_received {:mix_shell, :info, [summary]}
      assert summary =~ ~r/^score: \d+\.\d \(0-100\) on \d+ examples, \d+ failed\nLM calls: \d+/
      # no cluster flag: no line about nodes
      refute_received {:mix_shell, :info, ["cluster: " <> _]}
    end
  end

  describe "mix dspy.optimize argument validation" do
    test "missing, unknown and ill-typed flags, missing paths", %{dir: dir} do
      yaml = Path.join(dir, "p.yaml")
      File.write!(yaml, "workflow:\n  name: x\n  steps: []\n")

      assert raises("dspy.optimize", []) =~ "--pipeline is required"
      assert raises("dspy.optimize", ["--pipeline", yaml]) =~ "--training-data is required"

      assert raises("dspy.optimize", ["--pipeline", yaml, "--training-data", dir, "--bogus"]) =~
               "invalid option(s): --bogus"

      assert raises("dspy.optimize", ["--pipeline", yaml, "--training-data", dir, "--seed", "abc"]) =~
               "--seed abc"

      assert raises("dspy.optimize", ["--pipeline", "/nope.yaml", "--training-data", dir]) =~
               "no such file"

      assert raises("dspy.optimize", ["--pipeline", yaml, "--training-data", "/nope"]) =~
               "no such directory"

      assert raises("dspy.optimize", [
               "--pipeline",
               yaml,
               "--training-data",
               dir,
               "--budget-usd",
               "0"
             ]) =~ "must be > 0"

      assert raises("dspy.optimize", ["--pipeline", yaml, "--training-data", dir, "stray"]) =~
               "unexpected argument"

      # (a negative timeout used to reach the connection, crash it, and end in a MatchError)
      assert raises("dspy.optimize", [
               "--pipeline",
               yaml,
               "--training-data",
               dir,
               "--timeout-min",
               "-1"
             ]) =~ "--timeout-min must be >= 1"
    end

    test "--help on every task prints its documentation and runs nothing" do
      for {task, usage} <- [
            {"dspy.optimize", "mix dspy.optimize --pipeline PATH"},
            {"pipeline.execute", "mix pipeline.execute --config PATH --input PATH"},
            {"telemetry.export", "mix telemetry.export [--format json]"}
          ] do
        # help wins over missing required flags and over unknown ones
        for args <- [["--help"], ["-h"], ["--bogus", "--help"]] do
          assert Mix.Task.rerun(task, args) == :ok
          assert_received {:mix_shell, :info, [help]}
          assert help =~ usage, "#{task} #{inspect(args)}"
        end
      end

      refute_received {:mix_shell, _, _}
    end
  end

  describe "progress display" do
    alias Pipeline.DSPy.CLI.Progress

    test "the line labels what is counted and the scores (0-100)" do
      line =
        Progress.line(%{
          "phase" => "trial",
          "trial" => 3,
          "totalTrials" => 6,
          "bestScore" => 50.0,
          "calls" => 10,
          "costUsd" => 0.01
        })

      assert line =~ "[############            ] 3/6 trials"
      assert line =~ "best 50.0"
      assert line =~ "LM calls 10"

      assert Progress.line(%{"phase" => "bootstrap", "trial" => 1, "totalTrials" => 4}) =~
               "1/4 examples"

      # no counter: no bar (and no "trials")
      refute Progress.line(%{"phase" => "compiled", "calls" => 3}) =~ ~r/\[|trials/
    end

    test "not a terminal: plain lines, one per step, nothing rewritten" do
      out =
        capture_io(fn ->
          d = Progress.new(:lines)

          d =
            Enum.reduce(0..8, d, fn i, d ->
              Progress.update(d, %{"phase" => "baseline", "trial" => i, "totalTrials" => 8})
            end)

          d =
            Progress.update(d, %{"phase" => "resume", "message" => "resuming run r: 3 of 9 done"})

          Progress.finish(d)
        end)

      refute out =~ "\r"
      lines = String.split(out, "\n", trim: true)
      # a line per quarter of the count, not one per example
      assert length(Enum.filter(lines, &(&1 =~ "baseline"))) == 5
      assert "resuming run r: 3 of 9 done" in lines
    end

    test "a terminal: one line rewritten in place; notes stay on their own line" do
      out =
        capture_io(fn ->
          Progress.new(:tty)
          |> Progress.update(%{"phase" => "baseline", "trial" => 1, "totalTrials" => 8})
          |> Progress.update(%{"phase" => "baseline", "trial" => 2, "totalTrials" => 8})
          |> Progress.update(%{"phase" => "resume", "message" => "resuming run r: 3 of 9 done"})
          |> Progress.finish()
        end)

      refute out =~ ~r/1\/8 scored\n/
      assert length(String.split(out, "\r\e[2K")) >= 3
      assert out =~ "\r\e[2Kresuming run r: 3 of 9 done\n"
    end
  end

  describe "end table" do
    alias Pipeline.DSPy.CLI.Report

    @verdict %{
      "metric" => "code_analysis_judge",
      "scale" => "0-100: mean metric score in percent",
      "heldOut" => 6,
      "baselineScore" => 40.0,
      "bestScore" => 75.0,
      "lift" => 35.0,
      "ci95" => [12.5, 50.0],
      "improved" => true,
      "written" => true,
      "reason" => "the lift is above noise"
    }

    test "from the verdict: metric, scale, held-out count, lift with its interval, why written" do
      table =
        Report.table(%{
          "runId" => "r1",
          "baselineScore" => 0.0,
          "bestScore" => 0.0,
          "verdict" => @verdict,
          "resumed" => %{"done" => 3, "total" => 9},
          "trials" => [],
          "usage" => %{
            "calls" => 9,
            "sent" => 7,
            "aborted" => 1,
            "cacheHits" => 2,
            "costUsd" => 0.02
          }
        })

      assert table =~ "resumed run r1: 3 of 9"
      assert table =~ "metric code_analysis_judge"
      assert table =~ "scale 0-100: mean metric score in percent"
      assert table =~ "6 held-out examples"
      assert table =~ ~r/baseline\s+40.0/
      assert table =~ ~r/best\s+75.0/
      assert table =~ ~r/lift\s+\+35.0\s+95% interval \[\+12.5, \+50.0\]/
      assert table =~ "config written: the lift is above noise"
      assert table =~ "7 sent to the LM, 1 of them aborted; 2 cache hits"
      # BootstrapFewShot-like results have no trials: none shown
      refute table =~ "trials"

      not_written =
        Report.table(%{
          "verdict" => %{
            @verdict
            | "improved" => false,
              "written" => false,
              "reason" => "within noise"
          },
          "usage" => %{}
        })

      assert not_written =~ "no lift beyond noise; nothing written: within noise"
    end

    test "without a verdict: the bare scores, labelled 0-100" do
      table =
        Report.table(%{
          "baselineScore" => 40.0,
          "bestScore" => 75.0,
          "trials" => [1, 2],
          "usage" => %{"calls" => 9, "costUsd" => 0.02}
        })

      assert table =~ "scores 0-100"
      assert table =~ ~r/baseline\s+40.0/
      assert table =~ ~r/lift\s+\+35.0/
      assert table =~ "trials: 2"
      assert table =~ "LM calls: 9 (cache hits included)"
    end
  end

  describe "mix pipeline.execute" do
    test "argument validation", %{dir: dir} do
      f = Path.join(dir, "in.json")
      File.write!(f, "{}")
      assert raises("pipeline.execute", ["--input", f]) =~ "--config is required"

      assert raises("pipeline.execute", ["--config", "/nope.json", "--input", f]) =~
               "no such file"

      assert raises("pipeline.execute", ["--config", f, "--input", f, "--format", "xml"]) =~
               "only json"

      bad = Path.join(dir, "bad.json")
      File.write!(bad, "{oops")
      assert raises("pipeline.execute", ["--config", bad, "--input", f]) =~ "not valid JSON"

      list = Path.join(dir, "list.json")
      File.write!(list, ~s([{"name": "a"}]))
      assert raises("pipeline.execute", ["--config", list, "--input", f]) =~ "not a JSON object"
    end

    test "runs a JSON or YAML workflow through the Reference executor with a real sidecar", %{
      dir: dir
    } do
      input = Path.join(dir, "in.json")
      File.write!(input, ~s({"who": "world"}))
      json_cfg = Path.join(dir, "wf.json")

      File.write!(
        json_cfg,
        ~s({"workflow": {"name": "w", "steps": [{"name": "greet", "type": "set_variable", "variables": {"msg": "hello {{inputs.who}}"}}]}})
      )

      yaml_cfg = Path.join(dir, "wf.yaml")

      File.write!(
        yaml_cfg,
        "workflow:\n  name: w\n  steps:\n    - name: greet\n      type: set_variable\n      variables:\n        msg: \"hi {{inputs.who}}\"\n"
      )

      for {cfg, expected} <- [{json_cfg, "hello world"}, {yaml_cfg, "hi world"}] do
        Mix.Task.rerun("pipeline.execute", ["--config", cfg, "--input", input, "--format", "json"])

        assert_received {:mix_shell, :info, [json]}
        r = Pipeline.DSPy.JSON.decode!(json)
        assert r["status"] == "ok"
        # pipeline_ex's set_variable result (step/set_variable.ex:54-58); the value in a prompt
        assert r["steps"]["greet"]["output"] == %{
                 "variables_set" => ["msg"],
                 "scope" => "global",
                 "variable_count" => 1
               }

        assert expected in ["hello world", "hi world"]
      end
    end
  end

  describe "mix telemetry.export" do
    test "argument validation", %{dir: _dir} do
      assert raises("telemetry.export", ["--format", "csv"]) =~ "only json"
      assert raises("telemetry.export", ["--since", "yesterday"]) =~ "relative time"
      assert raises("telemetry.export", ["--out", "/nope/dir/x.json"]) =~ "does not exist"
      assert raises("telemetry.export", ["--sinse", "1h"]) =~ "invalid option"
    end

    test "prints the export of the data dir the app's sidecar wrote; explains a held lock", %{
      dir: dir
    } do
      data_dir = Path.join(dir, "data")
      on_exit(fn -> remove_data_dir(data_dir, nil) end)
      # the "application": an instance recording production executions into data_dir
      {app, _} = start_instance(data_dir: data_dir)

      for {status, i} <- Enum.with_index(List.duplicate("ok", 7) ++ ["error", "error"]) do
        Pipeline.DSPy.Telemetry.emit(
          [:pipeline, :execution, :stop],
          %{duration: 1, duration_ms: 10.0 * (i + 1)},
          %{pipeline_name: "exported", run_id: "e#{i}", status: status, success: status == "ok"}
        )
      end

      assert {:ok, %{"durable" => 9}} = Pipeline.DSPy.flush_telemetry(app)

      # while the app's sidecar holds the data dir, the task says why it cannot read it (the
      # task's sidecar logs that error too: keep it off the test output)
      System.put_env("ELEXIRION_LOG_LEVEL", "silent")
      on_exit(fn -> System.put_env("ELEXIRION_LOG_LEVEL", "warn") end)
      msg = raises("telemetry.export", ["--since", "24h", "--data-dir", data_dir])
      System.put_env("ELEXIRION_LOG_LEVEL", "warn")
      assert msg =~ "in use by another sidecar"
      assert msg =~ "stop the application"
      assert msg =~ ~s|Pipeline.DSPy.request(Pipeline.DSPy, "telemetry/export", %{since: "24h"})|

      # the app stopped: the task reads what it wrote
      :ok = stop_supervised({Pipeline.DSPy, app})

      Mix.Task.rerun("telemetry.export", [
        "--format",
        "json",
        "--since",
        "24h",
        "--pipeline",
        "exported",
        "--data-dir",
        data_dir
      ])

      assert_received {:mix_shell, :info, [json]}
      r = Pipeline.DSPy.JSON.decode!(json)
      assert %{"total" => 9, "successes" => 7, "failures" => 2, "since" => _, "until" => _} = r
      # nearest-rank over 10, 20, ..., 90 ms
      assert %{"exported" => %{"count" => 9, "duration_ms" => %{"p50" => 50, "p95" => 90}}} =
               r["pipelines"]

      # --until before the events: an empty window
      Mix.Task.rerun("telemetry.export", [
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "2000-01-02T00:00:00Z",
        "--data-dir",
        data_dir
      ])

      assert_received {:mix_shell, :info, [json]}
      assert %{"total" => 0, "success_rate" => nil} = Pipeline.DSPy.JSON.decode!(json)
    end
  end

  test "mix dspy.optimize runs the bundled example with the offline LM", %{dir: dir} do
    ex = Path.join(repo_root(), "examples/code_analysis")
    yaml = ex |> Path.join("*.y*ml") |> Path.wildcard() |> List.first()
    data = ex |> Path.join("training*") |> Path.wildcard() |> List.first()

    capture_io(fn ->
      Mix.Task.rerun("dspy.optimize", [
        "--pipeline",
        yaml,
        "--training-data",
        data,
        "--lm",
        "offline",
        "--out",
        dir,
        "--seed",
        "1"
      ])
    end)

    assert_received {:mix_shell, :info, ["run id: " <> run_line]}
    [run_id | _] = String.split(run_line, " ")
    assert_received {:mix_shell, :info, ["sidecar log: " <> log]}
    assert_received {:mix_shell, :info, ["\nResult" <> _ = table]}
    assert table =~ "baseline"
    assert table =~ Path.join(dir, "pipelines/optimized/code_analysis.yaml")
    # the run journaled its work where the resume hint says, beside the sidecar's log
    assert File.dir?(Path.join([dir, ".elexirion", "runs", run_id]))
    assert log == Path.join([dir, ".elexirion", "runs", run_id, "sidecar.log"])
    assert File.regular?(log)
  end

  test "mix dspy.optimize --dry-run estimates with the optimizer chosen, refuses one that cannot",
       %{
         dir: dir
       } do
    ex = Path.join(repo_root(), "examples/code_analysis")

    args = [
      "--pipeline",
      Path.join(ex, "pipeline.yaml"),
      "--training-data",
      Path.join(ex, "training_data"),
      "--lm",
      "offline",
      "--out",
      dir,
      "--dry-run"
    ]

    Mix.Task.rerun("dspy.optimize", args ++ ["--optimizer", "MIPROv2"])
    assert_received {:mix_shell, :info, ["\ndry run: nothing was executed or spent" <> _]}

    # An optimizer that cannot estimate is refused, naming it; one that can (more may learn
    # to) prints its estimate. Either way nothing was run or written.
    try do
      Mix.Task.rerun("dspy.optimize", args ++ ["--optimizer", "LabeledFewShot"])
      assert_received {:mix_shell, :info, ["\ndry run: nothing was executed or spent" <> _]}
    rescue
      e in Mix.Error ->
        assert e.message =~ "--dry-run: the optimizer LabeledFewShot cannot estimate"
    end

    refute File.exists?(Path.join(dir, "pipelines"))
  end
end
