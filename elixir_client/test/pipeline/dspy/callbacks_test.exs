defmodule Pipeline.DSPy.CallbacksTest do
  # Node -> Elixir requests (pipeline/execute) and the request plumbing both ways. The real
  # sidecar cannot yet be made to issue pipeline/execute, so these run against the fake peer
  # (test/support/fake_peer.mjs), which speaks the same wire.
  use Pipeline.DSPy.SidecarCase, async: true

  defp execute(name, params, timeout \\ 15_000),
    do: Pipeline.DSPy.request(name, "test/execute", params, timeout: timeout)

  test "33 pipeline/execute callbacks in flight at once each get exactly one reply" do
    parent = self()
    gate = :atomics.new(1, [])

    executor = fn _config, inputs, _ctx ->
      n = :atomics.add_get(gate, 1, 1)
      send(parent, {:running, n})
      # Hold every execution until all 33 are running concurrently.
      wait_until(fn -> :atomics.get(gate, 1) >= 33 end)

      {:ok,
       %{
         status: "ok",
         steps: %{"s" => %{text: "i=#{inputs["i"]}", success: true}},
         output: inputs["i"]
       }}
    end

    {name, _} = start_fake(executor: executor)
    assert {:ok, %{"replies" => replies}} = execute(name, %{count: 33})
    assert length(replies) == 33

    for {reply, i} <- Enum.with_index(replies) do
      assert %{
               "result" => %{
                 "status" => "ok",
                 "output" => ^i,
                 "steps" => %{"s" => %{"text" => text}}
               }
             } = reply

      assert text == "i=#{i}"
    end

    assert :atomics.get(gate, 1) == 33
  end

  test "an executor crash becomes a -32603 error and the connection lives on" do
    {name, _} = start_fake(executor: fn _, _, _ -> raise "boom" end)
    conn = Process.whereis(Pipeline.DSPy.connection(name))
    assert {:ok, %{"replies" => [%{"error" => err}]}} = execute(name, %{count: 1})
    assert err["code"] == -32603
    assert err["message"] =~ "boom"
    assert Process.alive?(conn)
    assert :ok = Pipeline.DSPy.ping(name)
  end

  test "an executor {:error, reason} is a failed candidate (status error), not a JSON-RPC error" do
    {name, _} = start_fake(executor: fn _, _, _ -> {:error, :no_luck} end)
    assert {:ok, %{"replies" => [%{"result" => r}]}} = execute(name, %{count: 1})
    assert r["status"] == "error"
    assert r["error"] == ":no_luck"
  end

  test "timeoutMs kills a slow executor and answers a timeout error" do
    parent = self()

    {name, _} =
      start_fake(
        executor: fn _, _, _ ->
          send(parent, {:task, self()})
          Process.sleep(10_000)
        end
      )

    assert {:ok, %{"replies" => [%{"error" => err}]}} = execute(name, %{count: 1, timeoutMs: 300})
    assert err["code"] == -32000
    assert err["data"]["reason"] == "timeout"
    assert_received {:task, pid}
    refute Process.alive?(pid)
  end

  test "$/cancelRequest from Node kills the tasks and answers -32800 for each" do
    parent = self()

    {name, _} =
      start_fake(
        executor: fn _, _, _ ->
          send(parent, {:task, self()})
          Process.sleep(10_000)
        end
      )

    {:ok, ref} = Pipeline.DSPy.request_async(name, "test/execute", %{count: 4}, timeout: 15_000)

    # cancel once all four are running (not after a fixed delay a loaded machine may miss)
    pids = for _ <- 1..4, do: assert_receive({:task, pid}, 10_000) && pid
    assert {:ok, %{"cancelled" => 4}} = Pipeline.DSPy.request(name, "test/cancel_outgoing", %{})

    assert_receive {:dspy_result, ^ref, {:ok, %{"replies" => replies}}}, 10_000
    assert Enum.map(replies, & &1["error"]["code"]) == [-32800, -32800, -32800, -32800]
    for pid <- pids, do: refute(Process.alive?(pid))
  end

  test "unknown Node -> Elixir methods get -32601" do
    {name, _} = start_fake()

    assert {:ok, %{"reply" => %{"error" => %{"code" => -32601}}}} =
             Pipeline.DSPy.request(name, "test/call", %{method: "elixir/unknown"})
  end

  test "the Reference executor calls lm/generate back through the same connection without deadlock" do
    {name, _} = start_fake(executor: Pipeline.DSPy.Executor.Reference)

    config = %{
      workflow: %{
        name: "two_steps",
        steps: [
          %{
            name: "first",
            type: "claude",
            claude_options: %{system_prompt: "You are terse."},
            prompt: [%{type: "static", content: "Q: {{inputs.q}}"}]
          },
          %{
            name: "second",
            type: "gemini",
            prompt: [
              %{type: "static", content: "Prev:"},
              %{type: "previous_response", step: "first"}
            ]
          }
        ]
      }
    }

    assert {:ok, %{"replies" => replies}} =
             execute(name, %{count: 8, config: config, inputs: %{q: "why"}})

    for %{"result" => r} <- replies do
      assert r["status"] == "ok"
      assert r["steps"]["first"]["text"] == "echo(You are terse.|Q: why)"
      # previous_response without extract: the whole result map as pretty JSON (pipeline_ex
      # prompt_builder.ex:85, 230-240)
      second =
        "echo(Prev:\n{\n  \"cost\": 0.001,\n  \"success\": true,\n  \"text\": \"echo(You are terse.|Q: why)\"\n})"

      assert r["steps"]["second"]["text"] == second
      assert r["output"] == second
      assert r["usage"]["inputTokens"] == 6
    end

    assert length(replies) == 8
  end

  test "Elixir -> Node: a request timeout answers :timeout and cancels on the sidecar" do
    {name, _} = start_fake()
    t0 = System.monotonic_time(:millisecond)

    assert {:error, %Error{reason: :timeout}} =
             Pipeline.DSPy.request(name, "test/sleep", %{ms: 5_000}, timeout: 100)

    assert System.monotonic_time(:millisecond) - t0 < 1_000
    assert :ok = Pipeline.DSPy.ping(name)
  end

  test "Elixir -> Node: cancel/2 of an async request answers :cancelled at once" do
    {name, _} = start_fake()
    {:ok, ref} = Pipeline.DSPy.request_async(name, "test/sleep", %{ms: 5_000}, timeout: 10_000)
    assert :ok = Pipeline.DSPy.cancel(name, ref)
    assert_receive {:dspy_result, ^ref, {:error, %Error{reason: :cancelled}}}, 200
    assert {:error, %Error{reason: :invalid_argument}} = Pipeline.DSPy.cancel(name, ref)
    refute_receive {:dspy_result, ^ref, _}, 100
  end

  test "$/progress reaches the caller of the async request with the matching token" do
    {name, _} = start_fake()
    {:ok, ref} = Pipeline.DSPy.request_async(name, "test/progress", %{count: 3}, progress: true)

    for i <- 1..3 do
      assert_receive {:dspy_progress, ^ref, %{"phase" => "trial", "trial" => ^i}}, 1_000
    end

    assert_receive {:dspy_result, ^ref, {:ok, %{"done" => true}}}, 1_000
  end

  test "log notifications go to Logger" do
    {name, _} = start_fake()

    log =
      ExUnit.CaptureLog.capture_log(fn ->
        assert {:ok, _} = Pipeline.DSPy.request(name, "test/log", %{message: "hello from node"})
        Process.sleep(50)
      end)

    assert log =~ "[sidecar] hello from node"
  end

  defp wait_until(fun) do
    if fun.(), do: :ok, else: Process.sleep(2) && wait_until(fun)
  end
end

defmodule Pipeline.DSPy.CallbacksCrashTest do
  use Pipeline.DSPy.SidecarCase, async: true

  test "kill -9 of the Node process mid-request: every caller gets :sidecar_exited before its timeout, next call works" do
    {name, _} = start_fake()
    os_pid = Pipeline.DSPy.sidecar_os_pid(name)
    conn = Process.whereis(Pipeline.DSPy.connection(name))
    parent = self()

    callers =
      for _ <- 1..5 do
        spawn_link(fn ->
          r = Pipeline.DSPy.request(name, "test/sleep", %{ms: 120_000}, timeout: 120_000)
          send(parent, {:done, self(), r})
        end)
      end

    # all five written and running in the peer (not a fixed sleep a loaded machine may miss)
    wait_running(name, 5)
    kill9(os_pid)

    # The answers come from the Port's exit: a timeout would say :timeout, and only after
    # 120 s (the peer's sleep is as long); the bound is generous, the reason is the assertion.
    for pid <- callers do
      assert_receive {:done, ^pid, result}, 30_000
      assert {:error, %Error{reason: :sidecar_exited}} = result
    end

    # (from the connection that saw the exit, not from its crash: it is the same process)
    assert Process.whereis(Pipeline.DSPy.connection(name)) == conn
    assert :ok = Pipeline.DSPy.ping(name, 5_000)
    assert Pipeline.DSPy.sidecar_os_pid(name) != os_pid
  end

  defp wait_running(name, n, left \\ 10_000) do
    {:ok, %{"running" => r}} = Pipeline.DSPy.request(name, "test/stats", %{})

    cond do
      r >= n -> :ok
      left <= 0 -> flunk("only #{r} of #{n} requests running in the peer")
      true -> Process.sleep(10) && wait_running(name, n, left - 10)
    end
  end
end
