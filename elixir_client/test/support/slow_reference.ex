defmodule Pipeline.DSPy.Test.SlowReference do
  @moduledoc false
  # The Reference executor behind a fixed delay, so that executions are in flight on every
  # worker node when a cluster test stops one. Compiled into the test build, so peer nodes
  # started with the test's code path can run it.
  @behaviour Pipeline.DSPy.Executor

  @impl true
  def execute(config, input, ctx) do
    # `notify: pid` tells a test that an execution is running here (it sleeps next), so the
    # test can stop this node while the execution is certainly in flight.
    if pid = opt(ctx, :notify, nil), do: send(pid, {:executing, node(), self()})
    # `notify_run: pid` tells a test which run each execution belongs to and where it ran.
    if pid = opt(ctx, :notify_run, nil), do: send(pid, {:executing_run, ctx[:run_id], node()})
    Process.sleep(opt(ctx, :sleep_ms, 30))
    Pipeline.DSPy.Executor.Reference.execute(config, input, ctx)
  end

  defp opt(ctx, key, default) do
    case ctx[:executor_opts] do
      opts when is_list(opts) -> Keyword.get(opts, key, default)
      _ -> default
    end
  end
end
