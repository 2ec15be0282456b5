defmodule Mix.Tasks.DSPyReportTest do
  use ExUnit.Case, async: false

  setup do
    dir = Path.join(System.tmp_dir!(), "dspy_report_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf(dir) end)
    Mix.shell(Mix.Shell.Process)
    on_exit(fn -> Mix.shell(Mix.Shell.IO) end)
    {:ok, dir: dir}
  end

  defp run_json(run_id) do
    ~s({"format":1,"runId":"#{run_id}","startedAt":"2026-01-01T00:00:00Z","settings":{"optimizer":"BootstrapFewShot","seed":7},) <>
      ~s("trials":[{"trial":0,"kind":"baseline","score":40},{"trial":1,"kind":"candidate","score":60}],) <>
      ~s("examples":[{"id":"a","baseline":0,"best":1},{"id":"b","baseline":1,"best":1}],) <>
      ~s("predictors":[{"path":"analyze","before":{"instructions":"Analyze.","demos":[]},"after":{"instructions":"Analyze the code.","demos":[{"code":"x"}]}}]})
  end

  test "writes the report of a run found by its id, and prints its path", %{dir: dir} do
    run_dir = Path.join([dir, ".elexirion", "runs", "run-1"])
    File.mkdir_p!(run_dir)
    File.write!(Path.join(run_dir, "run.json"), run_json("run-1"))

    Mix.Task.rerun("dspy.report", ["run-1", "--out", dir])
    assert_received {:mix_shell, :info, ["report: " <> path]}
    assert path == Path.join(run_dir, "report.html")
    html = File.read!(path)
    assert html =~ "Optimization run run-1"
    assert html =~ ~s(<div id="flipped">)
    assert html =~ "<ins>"
  end

  test "unknown runs, bad ids and stray flags are refused with a message", %{dir: dir} do
    assert_raise Mix.Error, ~r/no run nope/, fn ->
      Mix.Task.rerun("dspy.report", ["nope", "--out", dir])
    end

    assert_raise Mix.Error, ~r/is not a run id/, fn ->
      Mix.Task.rerun("dspy.report", ["../etc", "--out", dir])
    end

    assert_raise Mix.Error, ~r/invalid option/, fn ->
      Mix.Task.rerun("dspy.report", ["--bogus"])
    end

    assert_raise Mix.Error, ~r/expected one RUN_ID/, fn -> Mix.Task.rerun("dspy.report", []) end
  end

  test "--learning reads a data dir without a running sidecar", %{dir: dir} do
    learning = Path.join([dir, "learning"])
    File.mkdir_p!(learning)

    File.write!(
      Path.join(learning, "ledger.jsonl"),
      ~s({"id":"l1","pipeline":"code_analysis","time":"2026-01-02T02:00:00Z","mode":"light","trigger":"daily","decision":"rejected","reason":"within noise"}\n)
    )

    Mix.Task.rerun("dspy.report", [
      "--learning",
      "--data-dir",
      dir,
      "--file",
      Path.join(dir, "l.html")
    ])

    assert_received {:mix_shell, :info, ["report: " <> path]}
    assert File.read!(path) =~ "within noise"
  end
end
