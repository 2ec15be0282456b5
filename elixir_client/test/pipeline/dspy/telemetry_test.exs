defmodule Pipeline.DSPy.TelemetryTest do
  # The forwarder's wire behaviour, counted by the fake peer (which speaks the same wire and
  # reports exactly what arrived, including the `dropped` counts). What the real sidecar
  # stores from it is tested in learning_test.exs.
  use Pipeline.DSPy.SidecarCase, async: false

  alias Pipeline.DSPy.Telemetry
  alias Pipeline.DSPy.Telemetry.Forwarder

  defp stats(name) do
    {:ok, s} = Pipeline.DSPy.request(name, "test/stats", %{})
    s
  end

  defp wait_stats(name, fun, deadline \\ 5_000) do
    s = stats(name)

    cond do
      fun.(s) -> s
      deadline <= 0 -> s
      true -> Process.sleep(20) && wait_stats(name, fun, deadline - 20)
    end
  end

  test "events reach the sidecar batched as telemetry/events with raw metadata" do
    {name, _} = start_fake(telemetry_flush_ms: 2)

    Telemetry.emit([:pipeline, :execution, :stop], %{duration: 5, duration_ms: 0.005}, %{
      pipeline_name: "p",
      status: "ok",
      result: %{status: :success, findings: ["x"]},
      pid: self(),
      tuple: {1, :a}
    })

    # invalid UTF-8 cannot crash the forwarder: the metadata goes as text
    Telemetry.emit([:pipeline, :step, :stop], %{duration: 1}, %{bad: <<0xFF, 0xFE>>})

    s = wait_stats(name, &(&1["telemetryEvents"] >= 2))
    assert s["telemetryEvents"] == 2
    assert s["last"]["metadata"]["unencodable"] =~ "bad:"
    last = s["first"]
    assert last["event"] == ["pipeline", "execution", "stop"]
    assert last["measurements"]["duration"] == 5
    # raw metadata (the sidecar computes the quality score); non-JSON terms converted
    assert last["metadata"]["result"] == %{"status" => "success", "findings" => ["x"]}
    assert last["metadata"]["tuple"] == [1, "a"]
    assert is_binary(last["metadata"]["pid"])
    assert is_integer(last["time"])
  end

  test "a burst far above the buffer bound: memory stays bounded, drops are counted and reported" do
    {name, _} = start_fake(telemetry_buffer: 1_000, telemetry_batch: 500)
    fwd = Process.whereis(Pipeline.DSPy.forwarder(name))
    total = 200_000
    # Suspend the forwarder so the burst meets a full buffer for sure.
    :erlang.suspend_process(fwd)

    for i <- 1..total,
        do: Telemetry.emit([:pipeline, :step, :stop], %{duration: i}, %{step_name: "s"})

    {:message_queue_len, qlen} = Process.info(fwd, :message_queue_len)
    # the buffer bound (1000 events) plus at most a few control messages (timers)
    assert qlen <= 1_010, "forwarder mailbox: #{qlen}"
    :erlang.resume_process(fwd)

    fstats = wait_until(fn -> Forwarder.stats(fwd) end, &(&1.buffered == 0))
    assert fstats.sent + fstats.dropped == total, inspect(fstats)
    assert fstats.dropped >= total - 1_000, inspect(fstats)
    assert fstats.sent >= 1_000 - 1, inspect(fstats)

    s =
      wait_stats(
        name,
        &(&1["telemetryEvents"] == fstats.sent and &1["dropped"] == fstats.dropped)
      )

    assert s["telemetryEvents"] == fstats.sent, inspect({s, fstats})
    assert s["dropped"] == fstats.dropped, inspect({s, fstats})
  end

  test "forwarding continues after the sidecar restarts" do
    {name, _} = start_fake()
    old = Pipeline.DSPy.sidecar_os_pid(name)
    kill9(old)
    # the new sidecar is up (a fixed sleep could see the old one still "ready" and lose the
    # event into its dead pipe)
    wait_until(fn -> Pipeline.DSPy.sidecar_os_pid(name) end, &(&1 not in [nil, old]))
    :ok = wait_ready(name)
    Telemetry.emit([:pipeline, :execution, :start], %{system_time: 1}, %{})
    assert wait_stats(name, &(&1["telemetryEvents"] >= 1))["telemetryEvents"] >= 1
  end

  test "executions through the executor emit start and stop events" do
    {name, _} =
      start_fake(executor: fn _, _, _ -> {:ok, %{"a" => %{text: "t", success: true}}} end)

    assert {:ok, _} =
             Pipeline.DSPy.request(name, "test/execute", %{
               count: 2,
               config: %{workflow: %{name: "wf", steps: []}}
             })

    s = wait_stats(name, &(&1["telemetryEvents"] >= 4))
    assert s["telemetryEvents"] == 4

    assert s["last"]["event"] in [
             ["pipeline", "execution", "stop"],
             ["pipeline", "execution", "start"]
           ]
  end

  test "without :telemetry, only the forwarded events reach the sidecar (as with :telemetry)" do
    {name, _} = start_fake(telemetry_flush_ms: 2)
    Telemetry.emit([:my_app, :cache, :miss], %{n: 1}, %{})
    Telemetry.emit([:pipeline, :execution, :stop], %{duration: 1}, %{pipeline_name: "p"})
    # events keep their order: once the second one is in, the first would be too
    s = wait_stats(name, &(&1["last"]["event"] == ["pipeline", "execution", "stop"]))
    assert s["last"]["event"] == ["pipeline", "execution", "stop"]
    assert s["telemetryEvents"] == 1
  end

  test "telemetry: false starts no forwarder" do
    {name, _} = start_fake(telemetry: false)
    assert Process.whereis(Pipeline.DSPy.forwarder(name)) == nil
  end

  # Ingestion by the real sidecar (telemetry/flush, telemetry/export): learning_test.exs.

  test "with :telemetry present: forwarded through an attached handler, re-attached after being detached" do
    # Run in a child BEAM that has a :telemetry stand-in (test/support/telemetry_stub.exs):
    # this BEAM has no :telemetry, and the choice is made once per VM.
    ebin = Path.join(Mix.Project.build_path(), "lib/pipeline_dspy/ebin")
    stub = Path.expand("../../support/telemetry_stub.exs", __DIR__)

    code = """
    Code.require_file(#{inspect(stub)})
    {:ok, _} = Pipeline.DSPy.start_link(name: :tele_child, command: [#{inspect(node_exe())}, #{inspect(fake_peer_path())}])
    wait = fn w -> if Pipeline.DSPy.status(:tele_child) == :ready, do: :ok, else: (Process.sleep(10); w.(w)) end
    wait.(wait)
    true = Pipeline.DSPy.Telemetry.telemetry_available?()
    [%{id: id}] = :telemetry.list_handlers([:pipeline])
    :telemetry.execute([:pipeline, :step, :stop], %{duration: 1}, %{n: 1})
    # a handler that raised is detached for good by :telemetry: simulate it
    :telemetry.detach(id)
    :telemetry.execute([:pipeline, :step, :stop], %{duration: 2}, %{n: 2})
    # re-attached by the forwarder's 1 s check (polled: a loaded machine may be late)
    poll = fn p, f, left -> if f.() or left <= 0, do: :ok, else: (Process.sleep(20); p.(p, f, left - 20)) end
    poll.(poll, fn -> match?([%{id: ^id}], :telemetry.list_handlers([:pipeline])) end, 10_000)
    [%{id: ^id}] = :telemetry.list_handlers([:pipeline])
    :telemetry.execute([:pipeline, :step, :stop], %{duration: 3}, %{n: 3})
    stats = fn -> {:ok, s} = Pipeline.DSPy.request(:tele_child, "test/stats", %{}); s end
    poll.(poll, fn -> stats.()["telemetryEvents"] >= 2 end, 10_000)
    # a little longer, so that a wrongly forwarded event 2 would have arrived too
    Process.sleep(100)
    s = stats.()
    IO.puts("RESULT " <> Pipeline.DSPy.JSON.encode!(s))
    """

    {out, status} =
      System.cmd(System.find_executable("elixir"), ["-pa", ebin, "-e", code],
        stderr_to_stdout: true
      )

    assert status == 0, out
    [_, json] = Regex.run(~r/RESULT (.*)/, out)
    s = Pipeline.DSPy.JSON.decode!(json)
    # event 2 was emitted while detached (lost, as with real :telemetry); 1 and 3 arrived
    assert s["telemetryEvents"] == 2
    assert s["last"]["metadata"] == %{"n" => 3}
  end

  test "with :telemetry present: the handler of a forwarder killed without terminate is detached by its successor" do
    ebin = Path.join(Mix.Project.build_path(), "lib/pipeline_dspy/ebin")
    stub = Path.expand("../../support/telemetry_stub.exs", __DIR__)

    code = """
    Code.require_file(#{inspect(stub)})
    {:ok, _} = Pipeline.DSPy.start_link(name: :tele_kill, command: [#{inspect(node_exe())}, #{inspect(fake_peer_path())}])
    poll = fn p, f, left -> if f.() or left <= 0, do: :ok, else: (Process.sleep(20); p.(p, f, left - 20)) end
    poll.(poll, fn -> Pipeline.DSPy.status(:tele_kill) == :ready end, 10_000)
    old = Process.whereis(:"tele_kill.Forwarder")
    Process.exit(old, :kill)
    poll.(poll, fn -> p = Process.whereis(:"tele_kill.Forwarder"); is_pid(p) and p != old end, 10_000)
    # the successor's 1 s handler check: wait until the only handler left is a live one (the
    # dead forwarder's handler alone also counts 1, so the count by itself proves nothing)
    live_only = fn ->
      case :telemetry.list_handlers([:pipeline]) do
        [%{id: {_, pid}}] -> Process.alive?(pid)
        _ -> false
      end
    end
    poll.(poll, live_only, 10_000)
    ids = Enum.map(:telemetry.list_handlers([:pipeline]), & &1.id)
    IO.puts("HANDLERS " <> inspect(Enum.map(ids, fn {_, pid} -> Process.alive?(pid) end)))
    """

    {out, status} =
      System.cmd(System.find_executable("elixir"), ["-pa", ebin, "-e", code],
        stderr_to_stdout: true
      )

    assert status == 0, out
    assert [_, handlers] = Regex.run(~r/HANDLERS (.*)/, out), out
    assert handlers == "[true]"
  end

  defp wait_until(get, pred, left \\ 5_000) do
    v = get.()
    if pred.(v) or left <= 0, do: v, else: Process.sleep(10) && wait_until(get, pred, left - 10)
  end
end
