defmodule Pipeline.DSPy.Executor.Worker do
  @moduledoc false
  # A pre-started Task.Supervisor child that runs `pipeline/execute` jobs, so the common
  # path costs the connection one message instead of a call to the Task.Supervisor plus a
  # spawn. It replies `{mref, reply}` like a Task, so timeouts, cancellation (kill) and
  # crashes (`:DOWN`) are handled exactly as for `Task.Supervisor.async_nolink/3` tasks.
  # Between jobs its process dictionary is restored and it garbage-collects lazily; after
  # @max_jobs jobs it starts its replacement and exits, so no state lives long.

  alias Pipeline.DSPy.Executor

  @max_jobs 1_000

  @doc "Starts a worker under `sup` for connection `conn` (from a throwaway process)."
  def start(sup, conn) do
    spawn(fn -> Task.Supervisor.start_child(sup, __MODULE__, :run, [conn, sup]) end)
  end

  @doc false
  def run(conn, sup) do
    cref = Process.monitor(conn)
    loop(conn, sup, cref, Process.get(), 0)
  end

  defp loop(conn, sup, _cref, _dict, n) when n >= @max_jobs do
    start(sup, conn)
    :ok
  end

  defp loop(conn, sup, cref, dict, n) do
    send(conn, {:executor_worker_idle, self()})

    receive do
      {:run, mref, executor, params, ctx} ->
        send(conn, {mref, Executor.run_request(executor, params, ctx)})
        :erlang.erase()
        Enum.each(dict, fn {k, v} -> Process.put(k, v) end)
        loop(conn, sup, cref, dict, n + 1)

      :stop ->
        :ok

      {:DOWN, ^cref, _, _, _} ->
        :ok
    end
  end
end
