defmodule Mix.Tasks.DSPyOptimizeCLITest do
  # `mix dspy.optimize` as a user runs it: a separate OS process, on a terminal (a pty made by
  # `script`) or not, interrupted with Ctrl-C or SIGTERM. The run's LM never answers, so the
  # run is still in flight whenever the interrupt comes (no timing involved).
  use Pipeline.DSPy.SidecarCase, async: false

  alias Pipeline.DSPy.Test.SilentLM

  @moduletag timeout: 180_000
  # a guard against a hung test, not a measurement
  @patience 90_000

  setup do
    lm = SilentLM.start()
    out = tmp_dir("dspy_cli")
    File.mkdir_p!(out)

    on_exit(fn ->
      SilentLM.stop(lm)
      File.rm_rf(out)
    end)

    ex = Path.join(repo_root(), "examples/code_analysis")

    args = [
      "dspy.optimize",
      "--pipeline",
      Path.join(ex, "pipeline.yaml"),
      "--training-data",
      Path.join(ex, "training_data"),
      "--lm",
      SilentLM.spec(lm),
      "--out",
      out,
      "--seed",
      "1"
    ]

    {:ok, args: args, out: out}
  end

  defp env,
    do: [
      {~c"MIX_ENV", ~c"test"},
      {~c"ELEXIRION_RESUME_COMMAND", false},
      {~c"ERL_FLAGS", false},
      {~c"ELEXIRION_LOG_LEVEL", false}
    ]

  defp open(exe, args) do
    Port.open({:spawn_executable, exe}, [
      :binary,
      :exit_status,
      :stderr_to_stdout,
      args: args,
      cd: Path.join(repo_root(), "elixir_client"),
      env: env()
    ])
  end

  defp mix_port(args), do: open(System.find_executable("mix"), args)

  # On a terminal: `script` runs the command on a pty and copies our writes to its input.
  defp pty_port(args) do
    script = System.find_executable("script")
    command = Enum.map_join(["exec", "mix" | args], " ", &sh_quote/1)
    open(script, ["-q", "-e", "-c", command, "/dev/null"])
  end

  defp sh_quote(a), do: "'" <> String.replace(a, "'", "'\\''") <> "'"

  defp await_output(port, acc, pattern) do
    if acc =~ pattern do
      acc
    else
      receive do
        {^port, {:data, d}} -> await_output(port, acc <> d, pattern)
        {^port, {:exit_status, s}} -> flunk("exited #{s} before #{inspect(pattern)}:\n#{acc}")
      after
        @patience -> flunk("no #{inspect(pattern)} in:\n#{acc}")
      end
    end
  end

  defp await_exit(port, acc) do
    receive do
      {^port, {:data, d}} -> await_exit(port, acc <> d)
      {^port, {:exit_status, s}} -> {s, acc}
    after
      @patience -> flunk("did not exit:\n#{acc}")
    end
  end

  defp run_id(output) do
    [_, id] = Regex.run(~r/run id: (\S+)/, output)
    id
  end

  defp kill(port, signal) do
    {:os_pid, pid} = Port.info(port, :os_pid)
    {_, 0} = System.cmd("kill", ["-#{signal}", Integer.to_string(pid)])
  end

  defp assert_cancelled_cleanly(status, output, out) do
    assert status == 130, output
    refute output =~ "BREAK:"
    refute output =~ "EPIPE"
    id = run_id(output)
    assert output =~ "run #{id} cancelled"
    # the command that resumes it: the same one, with its run id
    assert output =~ ~r/resume it with:\s+mix dspy.optimize .*--out \S+ --seed 1 --run-id #{id}/
    # the run's directory holds the sidecar's log (and the journal of what was finished)
    run_dir = Path.join([out, ".elexirion", "runs", id])
    assert File.regular?(Path.join(run_dir, "sidecar.log"))
    # the logs went to that file, not between the progress lines
    refute output =~ ~s("level":)
  end

  test "SIGTERM (what a parent forwards) cancels the run: status 130, resume command printed; plain progress lines off a terminal",
       %{args: args, out: out} do
    port = mix_port(args)
    before = await_output(port, "", ~r/baseline/)
    kill(port, "TERM")
    {status, rest} = await_exit(port, before)
    assert_cancelled_cleanly(status, rest, out)
    # not a terminal: progress is plain lines, never rewritten in place
    refute rest =~ "\r"
    assert rest =~ ~r/^baseline .*LM calls 0/m
  end

  @tag :pty
  test "Ctrl-C on a terminal cancels the run: no break menu, status 130, resume command printed, terminal restored",
       %{args: args, out: out} do
    if System.find_executable("script") == nil, do: flunk("util-linux `script` is needed")
    port = pty_port(args)
    # the task reads Ctrl-C itself from the moment it prints the run id
    before = await_output(port, "", ~r/baseline/)
    Port.command(port, <<3>>)
    {status, output} = await_exit(port, before)
    assert_cancelled_cleanly(status, output, out)
    # on a terminal the progress line is rewritten in place
    assert output =~ "\r\e[2K"
  end

  @tag :pty
  test "a double Ctrl-C on a terminal quits with 130", %{args: args} do
    if System.find_executable("script") == nil, do: flunk("util-linux `script` is needed")
    port = pty_port(args)
    before = await_output(port, "", ~r/baseline/)
    # Both at once, as a user pressing twice. Sent one at a time, the second could reach a
    # terminal already given back by a run that had finished cancelling, and be a SIGINT. Here
    # either the second quits at once or the cancel wins the race and ends the run: 130 both ways.
    Port.command(port, <<3, 3>>)
    {status, output} = await_exit(port, before)
    assert status == 130, output
    assert output =~ ~r/interrupted again: quitting without waiting|run \S+ cancelled/
    refute output =~ "BREAK:"
  end

  test "npm run demo: SIGINT is forwarded, the run is cancelled, status 130, the demo's own resume command",
       %{out: out, args: args} do
    lm = Enum.at(args, Enum.find_index(args, &(&1 == "--lm")) + 1)
    demo = Path.join(repo_root(), "scripts/demo.mjs")
    port = open(node_exe(), [demo, "--lm", lm, "--out", out])
    before = await_output(port, "", ~r/baseline/)
    kill(port, "INT")
    {status, output} = await_exit(port, before)
    assert status == 130, output
    refute output =~ "BREAK:"
    refute output =~ "EPIPE"
    id = run_id(output)
    assert output =~ "resume it with:\n  npm run demo -- --lm '#{lm}' --out #{out} --run-id #{id}"
  end

  test "--help prints the task's documentation and exits 0" do
    port = mix_port(["dspy.optimize", "--help"])
    {status, output} = await_exit(port, "")
    assert status == 0, output
    assert output =~ "mix dspy.optimize --pipeline PATH --training-data DIR"
    assert output =~ "--write-anyway"
    assert output =~ "## Ctrl-C"
  end
end
