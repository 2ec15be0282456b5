defmodule Pipeline.DSPy.Executor.Worker do
  @moduledoc false
  # A pre-started Task.Supervisor child that runs `pipeline/execute` jobs, so the common
  # path costs the connection one message instead of a call to the Task.Supervisor plus a
  # spawn. It writes the reply frame straight to the sidecar's port (see
  # `Pipeline.DSPy.Executor.run_and_reply/4`: the one who wins the job's claim answers), then
  # tells the connection `{mref, {:done, outcome, :idle | :retiring}}`, which also puts it
  # back in the idle pool; timeouts, cancellation (kill) and crashes (`:DOWN`) are handled
  # as for `Task.Supervisor.async_nolink/3` tasks.
  # Between jobs its process dictionary is restored and it garbage-collects lazily; after
  # @max_jobs jobs it starts its replacement and exits, so no state lives long.

  alias Pipeline.DSPy.Executor

  @max_jobs 1_000

  @doc "Starts a worker under `sup` for connection `conn` (from a throwaway process)."
  @spec start(Supervisor.supervisor(), pid) :: pid
  def start(sup, conn) do
    spawn(fn -> Task.Supervisor.start_child(sup, __MODULE__, :run, [conn, sup]) end)
  end

  @doc false
  @spec run(pid, Supervisor.supervisor()) :: :ok
  def run(conn, sup) do
    cref = Process.monitor(conn)
    # the claim word of this worker's jobs: the connection writes the job number before
    # sending a job; whoever swaps it back to 0 first (this worker, or the connection on
    # timeout/cancel) writes the one reply
    claim = :atomics.new(1, signed: false)
    send(conn, {:executor_worker_idle, self(), claim})
    loop(conn, sup, cref, Process.get(), 1)
  end

  defp loop(conn, sup, cref, dict, n) do
    receive do
      {:run, mref, executor, params, ctx, reply_to} ->
        outcome = Executor.run_and_reply(executor, params, ctx, reply_to)

        if n >= @max_jobs do
          send(conn, {mref, {:done, outcome, :retiring}})
          start(sup, conn)
          :ok
        else
          send(conn, {mref, {:done, outcome, :idle}})
          :erlang.erase()
          Enum.each(dict, fn {k, v} -> Process.put(k, v) end)
          loop(conn, sup, cref, dict, n + 1)
        end

      :stop ->
        :ok

      {:DOWN, ^cref, _, _, _} ->
        :ok
    end
  end
end
