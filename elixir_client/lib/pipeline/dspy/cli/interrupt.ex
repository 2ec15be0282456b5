defmodule Pipeline.DSPy.CLI.Interrupt do
  @moduledoc false
  # Ctrl-C for a command-line run, without the BEAM's break menu.
  #
  # The BEAM cannot catch SIGINT (`:os.set_signal(:sigint, _)` is refused; the signal opens
  # the break menu, or is ignored under `+Bi`). So:
  #   * on a terminal, the terminal stops turning Ctrl-C into a signal (`stty -isig`) and the
  #     byte it sends (0x03) is read from stdin here; nothing else in the process group (the
  #     Node sidecar) is signalled either;
  #   * SIGTERM (what a parent such as scripts/demo.mjs forwards) is taken from
  #     erl_signal_server, where it would otherwise stop the VM at once.
  # The first interrupt is sent to the owner as `{:cli_interrupt, pid}` (the owner cancels the
  # run and winds down); a second one quits at once with status 130 (never 0).
  # Without a terminal nothing here can see SIGINT: the sidecar and every port program run
  # in a session of their own (erl_child_setup calls setsid), and the BEAM only opens its break
  # menu (or ignores it under `+Bi`). A parent forwards SIGINT as SIGTERM (scripts/demo.mjs).

  alias Pipeline.DSPy.CLI.Terminal

  @ctrl_c 3

  @typedoc "What `start/1` started: the watcher, the stdin reader and saved terminal settings (on a terminal), whether SIGTERM is taken."
  @type handle :: %{
          watcher: pid,
          reader: pid | nil,
          tty: {device :: String.t(), saved :: String.t()} | nil,
          sigterm: boolean
        }

  @doc "Starts watching for interrupts on behalf of `owner`; returns a handle for `stop/1`."
  @spec start(pid) :: handle
  def start(owner \\ self()) do
    tty = if device = Terminal.device(0), do: raw_terminal(device)
    watcher = spawn(fn -> watch(owner, tty, 0) end)
    reader = if tty, do: spawn(fn -> read_stdin(watcher) end)
    sigterm? = install_sigterm(watcher)
    %{watcher: watcher, reader: reader, tty: tty, sigterm: sigterm?}
  end

  @doc "Restores the terminal and SIGTERM's default handling."
  @spec stop(handle) :: :ok
  def stop(%{watcher: watcher, reader: reader, tty: tty, sigterm: sigterm?}) do
    if sigterm?, do: restore_sigterm()
    if reader, do: Process.exit(reader, :kill)
    Process.exit(watcher, :kill)
    restore_terminal(tty)
    :ok
  end

  defp watch(owner, tty, count) do
    receive do
      {:interrupt, _source} when count == 0 ->
        send(owner, {:cli_interrupt, self()})
        watch(owner, tty, 1)

      {:interrupt, _source} ->
        restore_terminal(tty)
        IO.write(:stderr, "\ninterrupted again: quitting without waiting (exit status 130)\n")
        System.halt(130)
    end
  end

  defp read_stdin(watcher) do
    case IO.binread(:stdio, 1) do
      <<@ctrl_c>> ->
        send(watcher, {:interrupt, :ctrl_c})
        read_stdin(watcher)

      data when is_binary(data) ->
        read_stdin(watcher)

      _eof_or_error ->
        :ok
    end
  end

  # Saves the terminal's settings and makes Ctrl-C a byte: no signal, no line buffering, no
  # echo (typed keys would break the progress line). nil when the terminal cannot be set.
  defp raw_terminal(device) do
    with {saved, 0} <- Terminal.stty(device, ["-g"]),
         {_, 0} <- Terminal.stty(device, ["-isig", "-icanon", "-echo", "min", "1", "time", "0"]) do
      {device, String.trim(saved)}
    else
      _ -> nil
    end
  end

  defp restore_terminal(nil), do: :ok
  defp restore_terminal({device, saved}), do: Terminal.stty(device, [saved])

  defp install_sigterm(watcher) do
    with :ok <- :gen_event.delete_handler(:erl_signal_server, :erl_signal_handler, :ok),
         :ok <- :gen_event.add_handler(:erl_signal_server, __MODULE__.Sigterm, watcher) do
      :os.set_signal(:sigterm, :handle)
      true
    else
      _ -> false
    end
  catch
    _, _ -> false
  end

  defp restore_sigterm do
    :gen_event.delete_handler(:erl_signal_server, __MODULE__.Sigterm, :ok)
    :gen_event.add_handler(:erl_signal_server, :erl_signal_handler, [])
  catch
    _, _ -> :ok
  end

  defmodule Sigterm do
    @moduledoc false
    # erl_signal_server handler: SIGTERM becomes an interrupt of the run.
    @behaviour :gen_event

    @impl true
    def init(watcher), do: {:ok, watcher}

    @impl true
    def handle_event(:sigterm, watcher) do
      send(watcher, {:interrupt, :sigterm})
      {:ok, watcher}
    end

    def handle_event(_signal, watcher), do: {:ok, watcher}

    @impl true
    def handle_call(_request, watcher), do: {:ok, :ok, watcher}
  end
end
