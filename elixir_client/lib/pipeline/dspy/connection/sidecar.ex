defmodule Pipeline.DSPy.Connection.Sidecar do
  @moduledoc """
  The sidecar as an OS process: how it is started (`open/1`), and how it is made sure to be
  gone (`close/2`). Called by the Port owner, which then owns the returned port.

    * Frames travel as `{:packet, 4}` on the child's stdin/stdout. Its stderr never reaches
      them (`:stderr_to_stdout` is not used): by default the child inherits the BEAM's stderr
      (its pino JSON logs land on the console); with `stderr: {:file, path}` it is started as
      `/bin/sh -c 'exec "$0" "$@" 2>>"$PIPELINE_DSPY_STDERR"' node script args...` (`exec`
      keeps the OS pid).
    * Closing the port closes the child's stdin, on which the sidecar exits within 1 s
      (PROTOCOL.md §3). One that is hung (or a `:command` that ignores stdin) would live on
      as an orphan: a throwaway process kills it after a grace period, if it is still the
      same process (same start time in /proc, so a recycled pid is never hit; no /proc, no
      reaping).
  """

  @reap_after 2_000

  @doc """
  Starts the sidecar described by the instance options (`:command`, or `:node`, `:script`
  and `:args`; `:stderr`, `:env`, `:data_dir`, `:cd`). Returns the port, linked to the
  calling process, and the child's OS pid.
  """
  @spec open(map) :: {:ok, port, non_neg_integer} | {:error, Exception.t()}
  def open(opts) do
    {exe, args} = command(opts)

    port_opts =
      [:binary, {:packet, 4}, :exit_status, :use_stdio, :hide, args: args, env: env(opts)] ++
        if(opts.cd, do: [cd: opts.cd], else: [])

    port = Port.open({:spawn_executable, exe}, port_opts)
    {:os_pid, os_pid} = Port.info(port, :os_pid)
    {:ok, port, os_pid}
  rescue
    e -> {:error, e}
  end

  @doc """
  The executable and arguments the sidecar is started with (raises `ArgumentError` when the
  executable is not found on PATH).
  """
  @spec command(map) :: {String.t(), [String.t()]}
  def command(opts) do
    {exe, args} =
      case opts.command do
        [exe | args] -> {exe, args}
        _ -> {opts.node, [opts.script | opts.args]}
      end

    exe = resolve_executable!(exe)

    case opts.stderr do
      :inherit ->
        {exe, args}

      {:file, _path} ->
        {"/bin/sh", ["-c", ~s(exec "$0" "$@" 2>>"$PIPELINE_DSPY_STDERR"), exe | args]}
    end
  end

  @doc """
  Closes the port (if still open) and, unless the process is gone #{@reap_after} ms later,
  kills it with `kill -9`.
  """
  @spec close(port | nil, non_neg_integer | nil) :: :ok
  def close(port, os_pid) do
    if port do
      try do
        Port.close(port)
      rescue
        _ -> :ok
      end
    end

    reap(os_pid)
  end

  @doc "Kills `os_pid` in #{@reap_after} ms if the same process is still running then."
  @spec reap(non_neg_integer | nil) :: :ok
  def reap(nil), do: :ok

  def reap(os_pid) do
    case os_start_time(os_pid) do
      nil ->
        :ok

      t0 ->
        spawn(fn ->
          Process.sleep(@reap_after)

          if os_start_time(os_pid) == t0,
            do: System.cmd("kill", ["-9", Integer.to_string(os_pid)], stderr_to_stdout: true)
        end)

        :ok
    end
  end

  defp resolve_executable!(exe) do
    cond do
      String.contains?(exe, "/") -> exe
      path = System.find_executable(exe) -> path
      true -> raise ArgumentError, "executable #{inspect(exe)} not found on PATH"
    end
  end

  defp env(opts) do
    extra =
      case opts.stderr do
        {:file, path} -> [{"PIPELINE_DSPY_STDERR", Path.expand(path)}]
        _ -> []
      end

    extra =
      case opts[:data_dir] do
        nil -> extra
        dir -> [{"ELEXIRION_DATA_DIR", dir} | extra]
      end

    Enum.map(Map.to_list(opts.env) ++ extra, fn {k, v} ->
      {String.to_charlist(k), String.to_charlist(v)}
    end)
  end

  # Field 22 of /proc/PID/stat (the fields after the command name, which ends at the last ")").
  defp os_start_time(os_pid) do
    with {:ok, stat} <- File.read("/proc/#{os_pid}/stat"),
         [{at, 1} | _] <- stat |> :binary.matches(")") |> Enum.reverse() do
      stat |> binary_part(at + 2, byte_size(stat) - at - 2) |> String.split(" ") |> Enum.at(19)
    else
      _ -> nil
    end
  end
end
