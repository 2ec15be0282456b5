defmodule Pipeline.DSPy.ConnectionTest do
  # The Port owner's robustness against what callers and the sidecar can do to it.
  use Pipeline.DSPy.SidecarCase, async: true

  test "an uncorrelatable error from the sidecar (id: null, e.g. frame too large) leaves the connection and the sidecar up" do
    {name, _} = start_instance(args: ["serve", "--max-frame-bytes", "4096"])
    conn = Process.whereis(Pipeline.DSPy.connection(name))
    os_pid = Pipeline.DSPy.sidecar_os_pid(name)

    # the sidecar refuses the frame with -32600, id: null: the request cannot be answered
    # and times out, nothing else happens
    assert {:error, %Error{reason: :timeout}} =
             Pipeline.DSPy.request(name, "ping", %{pad: String.duplicate("x", 10_000)},
               timeout: 500
             )

    assert :ok = Pipeline.DSPy.ping(name)
    assert Process.whereis(Pipeline.DSPy.connection(name)) == conn
    assert Pipeline.DSPy.sidecar_os_pid(name) == os_pid
  end

  test "a bad per-call timeout is refused in the caller; the shared connection is untouched" do
    {name, _} = start_instance()
    conn = Process.whereis(Pipeline.DSPy.connection(name))

    # (a per-call option: refused by the call's schema, as every ill-typed option is)
    for t <- [-1, 1.5, "5000"] do
      assert {:error, %Error{reason: :invalid_option, message: msg}} =
               Pipeline.DSPy.request(name, "ping", %{}, timeout: t)

      assert msg =~ "timeout"

      assert {:error, %Error{reason: :invalid_option}} =
               Pipeline.DSPy.request_async(name, "ping", %{}, timeout: t)
    end

    assert {:error, %Error{reason: :invalid_argument}} = Pipeline.DSPy.ping(name, -5)
    assert Process.whereis(Pipeline.DSPy.connection(name)) == conn
    assert :ok = Pipeline.DSPy.ping(name)
  end

  test "a caller that dies with a request pending: the sidecar gets $/cancelRequest, nothing is kept" do
    {name, _} = start_fake()

    for kind <- [:sync, :async] do
      caller =
        spawn(fn ->
          case kind do
            :sync ->
              Pipeline.DSPy.request(name, "test/sleep", %{ms: 30_000}, timeout: 60_000)

            :async ->
              Pipeline.DSPy.request_async(name, "test/sleep", %{ms: 30_000}, timeout: 60_000)
          end

          Process.sleep(:infinity)
        end)

      wait_until(fn -> running(name) == 1 end)
      Process.exit(caller, :kill)
      wait_until(fn -> running(name) == 0 end)
      assert running(name) == 0

      state = :sys.get_state(Pipeline.DSPy.connection(name))
      assert Pipeline.DSPy.Connection.State.idle?(state.requests)
    end
  end

  test "blocking optimize/2 whose on_progress raises: the run is cancelled and nothing is left in the mailbox" do
    {name, _} = start_fake()

    assert_raise RuntimeError, "progress handler failed", fn ->
      Pipeline.DSPy.optimize(%{"workflow" => %{}},
        server: name,
        params: %{},
        on_progress: fn _ -> raise "progress handler failed" end,
        timeout: 10_000
      )
    end

    wait_until(fn -> running(name) == 0 end)
    state = :sys.get_state(Pipeline.DSPy.connection(name))
    assert Pipeline.DSPy.Connection.State.idle?(state.requests)
    refute_receive {:dspy_result, _, _}, 50
    refute_receive {:dspy_progress, _, _}, 0
  end

  test "a sidecar that stops reading its stdin does not stall the connection: timeouts still fire" do
    {name, _} = start_fake()
    conn = Process.whereis(Pipeline.DSPy.connection(name))
    assert {:ok, _} = Pipeline.DSPy.request(name, "test/stop_reading", %{ms: 60_000})

    # ~2 MB for a peer that reads nothing: more than the pipe and the port's queue hold, so
    # the port is busy (a blocking write would suspend the connection here for a minute)
    pad = String.duplicate("x", 200_000)

    refs =
      for _ <- 1..10 do
        assert {:ok, ref} = Pipeline.DSPy.request_async(name, "ping", %{pad: pad}, timeout: 300)
        ref
      end

    # every caller is told by its own timer, long before the peer reads again
    for ref <- refs do
      assert_receive {:dspy_result, ^ref, {:error, %Error{reason: :timeout}}}, 20_000
    end

    assert GenServer.call(conn, :status, 5_000) == :ready
    assert Process.whereis(Pipeline.DSPy.connection(name)) == conn
  end

  test "child_spec/1 refuses options that are not a keyword list instead of ignoring them" do
    assert_raise ArgumentError, ~r/keyword list/, fn ->
      Pipeline.DSPy.child_spec(%{name: :x}) |> then(fn %{start: {m, f, a}} -> apply(m, f, a) end)
    end
  end

  test "flush_telemetry/2 whose forwarder cannot write in time returns :timeout instead of exiting the caller" do
    {name, _} = start_fake()
    fwd = Process.whereis(Pipeline.DSPy.forwarder(name))
    :erlang.suspend_process(fwd)

    try do
      assert {:error, %Error{reason: :timeout}} =
               Pipeline.DSPy.flush_telemetry(name, timeout: 100)
    after
      :erlang.resume_process(fwd)
    end

    assert {:ok, _} = Pipeline.DSPy.request(name, "test/stats", %{})
  end

  describe "a sidecar that ignores stdin EOF (hung) is not left behind" do
    setup do
      name = :"dspy_hung_#{System.unique_integer([:positive])}"
      {:ok, name: name, sleep: System.find_executable("sleep")}
    end

    test "when it does not answer initialize in time", %{name: name, sleep: sleep} do
      start_supervised!(
        {Pipeline.DSPy,
         name: name,
         command: [sleep, "1000"],
         init_timeout: 200,
         restart_backoff: {60_000, 60_000}}
      )

      os_pid = Pipeline.DSPy.sidecar_os_pid(name)
      on_exit(fn -> kill9(os_pid) end)
      assert is_integer(os_pid) and os_alive?(os_pid)
      # init timeout (200 ms), port closed, then the reaper's grace period
      assert {:ok, _} = wait_os_exit(os_pid, 5_000), "orphan #{os_pid} still running"
    end

    test "when the instance is stopped", %{name: name, sleep: sleep} do
      start_supervised!({Pipeline.DSPy, name: name, command: [sleep, "1000"]})
      os_pid = Pipeline.DSPy.sidecar_os_pid(name)
      on_exit(fn -> kill9(os_pid) end)
      assert is_integer(os_pid) and os_alive?(os_pid)
      :ok = stop_supervised({Pipeline.DSPy, name})
      assert {:ok, _} = wait_os_exit(os_pid, 5_000), "orphan #{os_pid} still running"
    end
  end

  defp running(name) do
    {:ok, %{"running" => n}} = Pipeline.DSPy.request(name, "test/stats", %{})
    n
  end

  defp wait_until(fun, left \\ 5_000) do
    cond do
      fun.() -> :ok
      left <= 0 -> flunk("condition not met within 5 s")
      true -> Process.sleep(10) && wait_until(fun, left - 10)
    end
  end
end
