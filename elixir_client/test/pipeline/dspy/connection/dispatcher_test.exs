defmodule Pipeline.DSPy.Connection.DispatcherTest do
  # The incoming-execution dispatcher without a sidecar: the test process plays the Port
  # owner (it feeds the dispatcher its messages) and the "port" is `cat`, which echoes every
  # {:packet, 4} frame written to it, so each reply, whoever wrote it, comes back here.
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.JSON
  alias Pipeline.DSPy.Connection.Dispatcher

  setup do
    port = Port.open({:spawn_executable, System.find_executable("cat")}, [:binary, {:packet, 4}])
    sup = start_supervised!(Task.Supervisor)
    {:ok, port: port, sup: sup}
  end

  defp dispatcher(sup, executor, opts \\ []) do
    Dispatcher.new(
      task_supervisor: sup,
      executor: executor,
      server: :no_server,
      execute_timeout: Keyword.get(opts, :execute_timeout, 10_000),
      pool_size: Keyword.get(opts, :pool_size, 2)
    )
    |> Dispatcher.replenish()
  end

  defp execute(d, port, key, params \\ %{}) do
    params = Map.merge(%{"config" => %{}, "inputs" => %{}}, params)
    {d, []} = Dispatcher.handle_request(d, port, "pipeline/execute", key, params)
    d
  end

  # Plays the Port owner: gives the dispatcher the messages meant for it, writes the frames
  # it returns, and collects the replies coming back on the port until done?(d, replies).
  defp run_until(d, port, done?, replies \\ []) do
    if done?.(d, replies) do
      {d, replies}
    else
      case next(d, port, 10_000) do
        {:reply, r} -> run_until(d, port, done?, replies ++ [r])
        {:dispatcher, d} -> run_until(d, port, done?, replies)
        :timeout -> flunk("stuck: #{inspect(replies)}, #{Dispatcher.running(d)} running")
      end
    end
  end

  # The same for `ms`, returning every reply seen (to show there is no second one).
  defp run_for(d, port, ms, replies \\ []) do
    case next(d, port, ms) do
      {:reply, r} -> run_for(d, port, ms, replies ++ [r])
      {:dispatcher, d} -> run_for(d, port, ms, replies)
      :timeout -> {d, replies}
    end
  end

  defp next(d, port, wait) do
    receive do
      {^port, {:data, bin}} ->
        {:reply, JSON.decode!(bin)}

      msg
      when elem(msg, 0) in [:execute_timeout, :executor_worker_idle, :DOWN] or
             (tuple_size(msg) == 2 and is_reference(elem(msg, 0))) ->
        case Dispatcher.handle_info(d, msg) do
          {:ok, d, frames} ->
            Enum.each(frames, &Port.command(port, &1))
            {:dispatcher, d}

          # e.g. the late result of a task already answered for
          :unknown ->
            {:dispatcher, d}
        end
    after
      wait -> :timeout
    end
  end

  defp pool_full?(d, _), do: length(d.idle) == d.pool_size
  defp replies?(n), do: fn _d, rs -> length(rs) >= n end

  defp blocking(parent),
    do: fn _, _, _ ->
      send(parent, {:running, self()})
      Process.sleep(:infinity)
    end

  test "an execution runs in a pre-started worker, which goes back to the pool", %{
    port: port,
    sup: sup
  } do
    executor = fn _config, inputs, _ctx -> {:ok, %{output: inputs["q"], steps: %{}}} end
    {d, []} = run_until(dispatcher(sup, executor), port, &pool_full?/2)
    [{worker, _} | _] = d.idle

    d = execute(d, port, "1", %{"inputs" => %{"q" => "why"}})
    assert Dispatcher.running(d) == 1
    assert length(d.idle) == 1

    {d, [reply]} = run_until(d, port, fn d, rs -> rs != [] and Dispatcher.running(d) == 0 end)
    assert %{"id" => 1, "result" => %{"status" => "ok", "output" => "why"}} = reply
    assert worker in Enum.map(d.idle, &elem(&1, 0))
    assert {_, []} = run_for(d, port, 200)
  end

  test "more executions than workers: the rest run as tasks; each gets exactly one reply", %{
    port: port,
    sup: sup
  } do
    executor = fn _c, inputs, _ctx -> {:ok, %{output: inputs["i"]}} end
    {d, []} = run_until(dispatcher(sup, executor, pool_size: 1), port, &pool_full?/2)

    d = Enum.reduce(1..5, d, fn i, d -> execute(d, port, "#{i}", %{"inputs" => %{"i" => i}}) end)
    assert Dispatcher.running(d) == 5

    {d, replies} =
      run_until(d, port, fn d, rs -> length(rs) == 5 and Dispatcher.running(d) == 0 end)

    {_d, more} = run_for(d, port, 200)

    assert Enum.sort(
             for %{"id" => id, "result" => %{"output" => i}} <- replies ++ more, do: {id, i}
           ) ==
             for(i <- 1..5, do: {i, i})
  end

  test "timeoutMs: the execution is killed and answered -32000 (reason timeout), once", %{
    port: port,
    sup: sup
  } do
    d = dispatcher(sup, blocking(self()))
    d = execute(d, port, ~s("t"), %{"timeoutMs" => 50})
    assert_receive {:running, pid}, 5_000

    {d, [reply]} = run_until(d, port, replies?(1))

    assert %{"id" => "t", "error" => %{"code" => -32000, "data" => data, "message" => msg}} =
             reply

    assert data == %{"reason" => "timeout", "timeoutMs" => 50}
    assert msg =~ "50 ms"
    refute Process.alive?(pid)
    assert Dispatcher.running(d) == 0
    assert {_, []} = run_for(d, port, 200)
  end

  test "without timeoutMs the instance's :execute_timeout applies", %{port: port, sup: sup} do
    d = dispatcher(sup, blocking(self()), execute_timeout: 80)
    d = execute(d, port, "9")
    {_d, [reply]} = run_until(d, port, replies?(1))
    assert reply["error"]["data"] == %{"reason" => "timeout", "timeoutMs" => 80}
  end

  test "$/cancelRequest: the execution is killed and answered -32800, once", %{
    port: port,
    sup: sup
  } do
    d = dispatcher(sup, blocking(self()))
    d = execute(d, port, "3")
    assert_receive {:running, pid}, 5_000

    {d, [frame]} = Dispatcher.cancel(d, "3")
    Port.command(port, frame)
    {d, [reply]} = run_until(d, port, replies?(1))
    assert %{"id" => 3, "error" => %{"code" => -32800}} = reply
    refute Process.alive?(pid)
    # cancelling again (or an unknown id) answers nothing more
    assert {_, []} = Dispatcher.cancel(d, "3")
    assert {_, []} = Dispatcher.cancel(d, "404")
    assert {_, []} = run_for(d, port, 200)
  end

  test "a cancel or timeout that loses the race to the result answers nothing (one reply: the result)",
       %{port: port, sup: sup} do
    executor = fn _c, _i, _ctx -> {:ok, %{output: "done"}} end
    d = dispatcher(sup, executor)
    d = execute(d, port, "4")

    # the worker's reply is written; its done message has not been handled yet
    assert_receive {^port, {:data, bin}}, 5_000
    assert %{"id" => 4, "result" => %{"output" => "done"}} = JSON.decode!(bin)

    assert {d, []} = Dispatcher.cancel(d, "4")
    assert {:ok, d, []} = Dispatcher.handle_info(d, {:execute_timeout, "4"})
    {d, []} = run_until(d, port, fn d, _ -> Dispatcher.running(d) == 0 end)
    assert {_, []} = run_for(d, port, 200)
  end

  test "an executor that raises is answered -32603 with its message, once", %{
    port: port,
    sup: sup
  } do
    d = dispatcher(sup, fn _, _, _ -> raise "boom" end)
    d = execute(d, port, "5")
    {d, [reply]} = run_until(d, port, replies?(1))
    assert %{"id" => 5, "error" => %{"code" => -32603, "message" => msg}} = reply
    assert msg =~ "boom"
    assert {_, []} = run_for(d, port, 200)
  end

  test "a worker killed before it answered: the dispatcher answers -32603 and refills the pool",
       %{port: port, sup: sup} do
    d = dispatcher(sup, fn _, _, _ -> Process.exit(self(), :kill) end, pool_size: 1)
    {d, []} = run_until(d, port, &pool_full?/2)
    d = execute(d, port, "6")

    {d, [reply]} = run_until(d, port, fn d, rs -> rs != [] and pool_full?(d, rs) end)

    assert %{"id" => 6, "error" => %{"code" => -32603, "message" => "executor crashed" <> _}} =
             reply

    assert Dispatcher.running(d) == 0
    assert {_, []} = run_for(d, port, 200)
  end

  test "the sidecar going down kills every running execution", %{port: port, sup: sup} do
    d = dispatcher(sup, blocking(self()), pool_size: 1)
    d = execute(execute(d, port, "7"), port, "8")
    pids = for _ <- 1..2, do: assert_receive({:running, pid}, 5_000) && pid

    d = Dispatcher.sidecar_down(d)
    assert Dispatcher.running(d) == 0
    for pid <- pids, do: refute(Process.alive?(pid))
    # nobody is left to answer to: nothing is written
    assert {_, []} = run_for(d, port, 200)
  end

  test "unknown methods get -32601; pipeline/execute without an object for params -32602", %{
    port: port,
    sup: sup
  } do
    d = dispatcher(sup, fn _, _, _ -> flunk("must not run") end)

    {d, [frame]} = Dispatcher.handle_request(d, port, "elixir/unknown", "10", %{})

    assert %{
             "id" => 10,
             "error" => %{"code" => -32601, "message" => "Method not found: elixir/unknown"}
           } = JSON.decode!(IO.iodata_to_binary(frame))

    {d, [frame]} = Dispatcher.handle_request(d, port, "pipeline/execute", "11", [1])

    assert %{"id" => 11, "error" => %{"code" => -32602}} =
             JSON.decode!(IO.iodata_to_binary(frame))

    assert Dispatcher.running(d) == 0
  end
end
