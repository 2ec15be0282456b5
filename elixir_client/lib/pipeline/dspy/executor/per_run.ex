defmodule Pipeline.DSPy.Executor.PerRun do
  @moduledoc false
  # The `executor:` option of optimize/evaluate: an executor for one run while other runs on
  # the same instance keep the instance's. The run is named by its id (generated here when the
  # caller gave none), which the sidecar puts in `context.runId` of every `pipeline/execute`
  # of the run; the connection keeps run id => executor while the run's request is pending
  # and its dispatcher picks the executor by that id. An executor whose module has
  # `for_run/1` may need a process for the run (the cluster executor's dispatcher): it is
  # started here under the instance's run-executor supervisor, then linked to the connection,
  # which stops it when the run's request ends (answer, error, timeout, cancel, caller exit,
  # sidecar exit), and it dies with the connection.

  alias Pipeline.DSPy.Error

  @typedoc "What the connection keeps for a run: its id, its executor, the process started for it."
  @type t :: %{run_id: String.t(), executor: Pipeline.DSPy.Executor.t(), pid: pid | nil}

  @doc """
  Prepares the run's executor: `{:ok, params, run}` with `params` carrying the run id, or
  `{:error, %Error{reason: :invalid_option}}` naming `executor`. `run` is `nil` without
  the option.
  """
  @spec prepare(atom, map, keyword) :: {:ok, map, t | nil} | {:error, Error.t()}
  def prepare(server, params, opts) do
    case opts[:executor] do
      nil ->
        {:ok, params, nil}

      executor ->
        run_id = params["runId"] || new_run_id()

        with {:ok, executor, pid} <- start(server, executor) do
          {:ok, Map.put(params, "runId", run_id), %{run_id: run_id, executor: executor, pid: pid}}
        end
    end
  end

  @doc "Stops what `prepare/3` started (a run that was not submitted after all)."
  @spec stop(t | nil) :: :ok
  def stop(%{pid: pid}) when is_pid(pid) do
    Process.exit(pid, :shutdown)
    :ok
  end

  def stop(_), do: :ok

  defp start(server, {mod, opts} = executor) do
    if function_exported?(mod, :for_run, 1) do
      case mod.for_run(opts) do
        :as_is ->
          {:ok, executor, nil}

        {:start, spec, to_executor} ->
          spec = Supervisor.child_spec(spec, restart: :temporary)

          case DynamicSupervisor.start_child(Pipeline.DSPy.run_executors(server), spec) do
            {:ok, pid} ->
              {:ok, to_executor.(pid), pid}

            {:error, reason} ->
              invalid("#{inspect(mod)} could not be started for the run: #{inspect(reason)}")
          end

        {:error, message} ->
          invalid(message)
      end
    else
      {:ok, executor, nil}
    end
  catch
    :exit, {:noproc, _} -> invalid("no Pipeline.DSPy instance #{inspect(server)} is running")
  end

  defp start(_server, executor), do: {:ok, executor, nil}

  defp invalid(message), do: {:error, Error.new(:invalid_option, "executor: #{message}")}

  # The sidecar's own form (run-YYYYMMDDTHHMMSS-xxxxxx), so run directories look alike.
  defp new_run_id do
    stamp = Calendar.strftime(DateTime.utc_now(), "%Y%m%dT%H%M%S")
    suffix = :rand.uniform(0x1000000) - 1
    suffix = suffix |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(6, "0")
    "run-#{stamp}-#{suffix}"
  end
end
