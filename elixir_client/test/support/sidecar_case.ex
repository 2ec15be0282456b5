defmodule Pipeline.DSPy.SidecarCase do
  @moduledoc false
  # Helpers for tests that run a real sidecar (dist/cli.js) or, where the real one cannot yet
  # be driven to do something, the test-only fake peer (test/support/fake_peer.mjs).
  use ExUnit.CaseTemplate

  @repo Path.expand("../../..", __DIR__)

  def repo_root, do: @repo
  def cli_path, do: Path.join(@repo, "dist/cli.js")
  def fake_peer_path, do: Path.expand("fake_peer.mjs", __DIR__)
  def node_exe, do: System.find_executable("node") || raise("node not found on PATH")

  using do
    quote do
      import Pipeline.DSPy.SidecarCase
      alias Pipeline.DSPy.Error
    end
  end

  @doc """
  Starts an instance under the test supervisor with a unique name; waits until ready. Each
  instance gets its own temporary `:data_dir` (removed when the test ends) unless the test
  passes one, so no two sidecars share (and lock) a data directory and nothing is left in
  `elixir_client/.elexirion/`.
  """
  def start_instance(opts \\ []) do
    name =
      Keyword.get_lazy(opts, :name, fn -> :"dspy_test_#{System.unique_integer([:positive])}" end)

    own_dir = if Keyword.has_key?(opts, :data_dir), do: nil, else: tmp_dir("dspy_data")
    opts = if own_dir, do: Keyword.put(opts, :data_dir, own_dir), else: opts
    opts = Keyword.merge([name: name, restart_backoff: {20, 200}], opts)
    {:ok, sup} = ExUnit.Callbacks.start_supervised({Pipeline.DSPy, opts})
    :ok = wait_ready(name)

    if own_dir do
      os_pid = Pipeline.DSPy.sidecar_os_pid(name)
      ExUnit.Callbacks.on_exit(fn -> remove_data_dir(own_dir, os_pid) end)
    end

    {name, sup}
  end

  @doc """
  Removes a sidecar's data dir once every sidecar started on it is gone: a sidecar flushes
  its store at exit (up to 1 s after stdin EOF), which would recreate files removed earlier.
  The sidecars are found by their environment (`ELEXIRION_DATA_DIR=dir`, how `:data_dir` is
  passed), so ones restarted during the test are waited for too; `os_pid` as well.
  """
  def remove_data_dir(dir, os_pid \\ nil) do
    pids = Enum.uniq(Enum.filter([os_pid | sidecars_on(dir)], &is_integer/1))
    for pid <- pids, do: wait_os_exit(pid, 3_000)
    File.rm_rf(dir)
  end

  defp sidecars_on(dir) do
    needle = "ELEXIRION_DATA_DIR=" <> dir <> <<0>>

    for entry <- File.ls!("/proc"),
        {pid, ""} <- [Integer.parse(entry)],
        {:ok, env} <- [File.read("/proc/#{entry}/environ")],
        String.contains?(env <> <<0>>, needle),
        do: pid
  end

  @doc "A fresh path under the system temp dir (not created)."
  def tmp_dir(prefix),
    do: Path.join(System.tmp_dir!(), "#{prefix}_#{System.unique_integer([:positive])}")

  @doc "Starts an instance against the fake peer."
  def start_fake(opts \\ []),
    do: start_instance(Keyword.merge([command: [node_exe(), fake_peer_path()]], opts))

  def wait_ready(name, timeout \\ 10_000) do
    deadline = System.monotonic_time(:millisecond) + timeout
    do_wait(name, deadline)
  end

  defp do_wait(name, deadline) do
    cond do
      Pipeline.DSPy.status(name) == :ready -> :ok
      System.monotonic_time(:millisecond) > deadline -> {:error, :not_ready}
      true -> Process.sleep(10) && do_wait(name, deadline)
    end
  end

  @doc "Whether an OS process is alive (a zombie counts as gone)."
  def os_alive?(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:ok, stat} -> not String.contains?(stat, ") Z ")
      _ -> false
    end
  end

  @doc "Polls until the OS process is gone; returns the ms it took or :timeout."
  def wait_os_exit(pid, timeout) do
    t0 = System.monotonic_time(:millisecond)

    loop = fn loop ->
      el = System.monotonic_time(:millisecond) - t0

      cond do
        not os_alive?(pid) -> {:ok, el}
        el > timeout -> :timeout
        true -> Process.sleep(5) && loop.(loop)
      end
    end

    loop.(loop)
  end

  def kill9(pid), do: System.cmd("kill", ["-9", Integer.to_string(pid)])
end
