defmodule Pipeline.DSPy.Connection do
  @moduledoc """
  The Port owner: one GenServer per `Pipeline.DSPy` instance that runs the Node sidecar and
  speaks JSON-RPC 2.0 with it over `{:packet, 4}` frames. It is thin: it receives the port's
  data and the timers' messages, feeds them to the pure parts and performs what they return.

  | module | owns |
  |---|---|
  | `Pipeline.DSPy.Connection` (this) | the port's lifecycle: start, handshake timeout, crash, restart backoff, stop; performing actions; writing frames |
  | `Pipeline.DSPy.Connection.State` | pure: handshake status, the table of requests to the sidecar (ids, callers, timers, cancels), decoding frames, the outbox of frames to write |
  | `Pipeline.DSPy.Connection.Dispatcher` | the sidecar's requests to Elixir (`pipeline/execute`) in workers, exactly one reply each |
  | `Pipeline.DSPy.Connection.Notifications` | routing `$/progress`, `log`, `learning/promoted` |
  | `Pipeline.DSPy.Connection.Frame` | building frames around already-encoded bodies |
  | `Pipeline.DSPy.Connection.Sidecar` | the OS process: command line, stderr file, reaping a hung one |

  Design notes (why it is built this way):

    * **Never blocks.** `handle_call/3` only records the caller and queues a frame; the
      reply comes later through `GenServer.reply/2` when the response frame arrives. Params
      are JSON-encoded in the *caller's* process and only wrapped in the envelope here, so a
      big `optimize` request costs the owner nothing but a port write.
    * **Port writes** are `:nosuspend`: frames wait in the state's outbox, in order, while
      the port is busy, and are retried every 2 ms. A sidecar that stops reading its stdin
      therefore cannot suspend this process: request timeouts, cancels, crash handling and
      `status/1` keep working. (Frames coming *from* Node are queued into the mailbox by the
      runtime whatever we do.) Replies to `pipeline/execute` are written by the executor's
      process itself (any process may write to a port), one hop less on the round trip; the
      telemetry forwarder writes its own frames too; each frame is one port command, so
      frames never interleave.
    * **Handshake**: `initialize` (`protocolVersion`, `clientInfo`) is sent as soon as the
      port is open; requests made before the sidecar is ready are kept, their timeouts
      running, and written once it is.
    * **Timeouts**: each request has a timer; on expiry the caller gets `:timeout` and the
      sidecar gets `$/cancelRequest`. A request still waiting at expiry (sidecar starting or
      restarting) gets `:sidecar_unavailable`.
    * **Crash semantics**: on the Port's `exit_status` (crash, `kill -9`) every request already
      written gets `reason: :sidecar_exited` at once, running executions are killed (there
      is nobody left to answer), and the sidecar is restarted after a backoff
      (`:restart_backoff`, doubled per consecutive failure, reset after a good handshake).
      Requests made during the restart wait for the new sidecar up to their own timeout.
    * **Stop**: `terminate/2` sends `shutdown`, waits up to 1 s for its answer, sends `exit`
      and closes the port. If the owner is killed or the BEAM dies, the port closes anyway:
      the sidecar sees EOF on stdin and exits (it must exit within 1 s on stdin EOF). One
      still running 2 s after its port was closed (hung) is killed
      (`Pipeline.DSPy.Connection.Sidecar.close/2`).
    * **Callers are monitored**: a request whose caller exits is dropped and cancelled on
      the sidecar (`$/cancelRequest`).
  """

  use GenServer
  require Logger

  alias Pipeline.DSPy.{Error, JSON}
  alias Pipeline.DSPy.Connection.{Dispatcher, Frame, Notifications, Sidecar, State}

  @protocol_version "1.0"
  # how often frames refused by a busy port are tried again
  @retry_write_ms 2

  defstruct [
    :opts,
    :name,
    :port,
    :os_pid,
    :init_timer,
    :forwarder,
    :dispatcher,
    :drain_timer,
    requests: State.new(),
    attempt: 0,
    # monitor of a run request's caller => Pipeline.DSPy.Executor.PerRun (runs with their own executor)
    runs: %{}
  ]

  ## Client side (runs in the caller's process)

  @doc false
  @spec start_link(map) :: GenServer.on_start()
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: opts.connection_name)

  @doc false
  # Sends `method` and waits for its answer, up to `timeout` (ms or :infinity).
  @spec request(GenServer.server(), String.t(), map | nil, timeout) ::
          {:ok, term} | {:error, Error.t()}
  def request(conn, method, params, timeout) do
    with :ok <- check_timeout(method, timeout),
         {:ok, params_io} <- encode_params(params) do
      call_timeout = if timeout == :infinity, do: :infinity, else: timeout + 5_000

      try do
        GenServer.call(conn, {:request, method, params_io, timeout}, call_timeout)
      catch
        :exit, {:timeout, _} ->
          {:error, Error.new(:timeout, "#{method}: no answer within #{timeout} ms")}

        :exit, {reason, _} ->
          {:error, Error.new(:sidecar_exited, "#{method}: connection process down", reason)}
      end
    end
  end

  @doc false
  # Sends `method`; the answer comes as `{:dspy_result, ref, result}` (and `$/progress` as
  # `{:dspy_progress, ref, value}` when `progress?`). `run` (`Pipeline.DSPy.Executor.PerRun`):
  # the executor of the run this request starts, kept while the request is pending.
  @spec request_async(
          GenServer.server(),
          String.t(),
          map | nil,
          timeout,
          boolean,
          Pipeline.DSPy.Executor.PerRun.t() | nil
        ) ::
          {:ok, reference} | {:error, Error.t()}
  def request_async(conn, method, params, timeout, progress?, run \\ nil) do
    ref = make_ref()

    result =
      with :ok <- check_timeout(method, timeout),
           {:ok, params_io} <- encode_params(params) do
        try do
          GenServer.call(
            conn,
            {:request_async, method, params_io, timeout, progress?, self(), ref, run}
          )
        catch
          :exit, reason ->
            {:error, Error.new(:sidecar_exited, "#{method}: connection process down", reason)}
        end
      end

    case result do
      :ok ->
        {:ok, ref}

      {:error, _} = error ->
        Pipeline.DSPy.Executor.PerRun.stop(run)
        error
    end
  end

  @doc false
  # A notification; dropped when the sidecar is not ready.
  @spec notify(GenServer.server(), String.t(), map | nil) :: :ok | {:error, Error.t()}
  def notify(conn, method, params) do
    with {:ok, params_io} <- encode_params(params) do
      GenServer.cast(conn, {:notify, method, params_io})
    end
  end

  # Kept for callers that build reply frames (Pipeline.DSPy.Executor.run_and_reply/4).
  @doc false
  @spec result_frame(iodata, iodata) :: iodata
  defdelegate result_frame(key, io), to: Frame, as: :result
  @doc false
  @spec error_frame(iodata, integer, String.t(), term) :: iodata
  defdelegate error_frame(key, code, message, data), to: Frame, as: :error
  @doc false
  @spec notification_frame(String.t(), iodata | nil) :: iodata
  defdelegate notification_frame(method, params_io), to: Frame, as: :notification

  # Checked here, in the caller: a bad value reaching Process.send_after/3 in the connection
  # would crash it, failing every other caller's requests with it.
  defp check_timeout(_method, t) when (is_integer(t) and t >= 0) or t == :infinity, do: :ok

  defp check_timeout(method, t),
    do:
      {:error,
       Error.new(
         :invalid_argument,
         "#{method}: timeout must be a non-negative integer (ms) or :infinity, got: #{inspect(t)}"
       )}

  defp encode_params(nil), do: {:ok, nil}

  defp encode_params(params) do
    case JSON.encode_to_iodata(params) do
      {:ok, io} -> {:ok, io}
      {:error, e} -> {:error, Error.new(:encode_error, Exception.message(e), e.value)}
    end
  end

  ## Server

  @impl true
  def init(opts) do
    if opts.command == nil and not File.regular?(opts.script) do
      {:stop,
       "Pipeline.DSPy: the sidecar script #{opts.script} does not exist " <>
         "(run `npm run build` at the repository root, or pass :script / :command)"}
    else
      Process.flag(:trap_exit, true)

      dispatcher =
        Dispatcher.new(
          task_supervisor: opts.task_supervisor_name,
          executor: opts.executor,
          server: opts.name,
          execute_timeout: opts.execute_timeout
        )

      s = %__MODULE__{
        opts: opts,
        name: opts.name,
        forwarder: opts.forwarder_name,
        dispatcher: dispatcher
      }

      {:ok, s, {:continue, :open}}
    end
  end

  @impl true
  def handle_continue(:open, s),
    do: {:noreply, open(%{s | dispatcher: Dispatcher.replenish(s.dispatcher)})}

  @impl true
  def handle_call({:request, method, params_io, timeout}, {pid, _} = from, s) do
    req = %{method: method, params: params_io, timeout: timeout, reply_to: {:call, from}}
    {:noreply, submit(s, req, pid)}
  end

  def handle_call(
        {:request_async, method, params_io, timeout, progress?, pid, ref, run},
        _from,
        s
      ) do
    req = %{
      method: method,
      params: params_io,
      timeout: timeout,
      reply_to: {:async, pid, ref},
      progress: progress?
    }

    cond do
      run == nil ->
        {:reply, :ok, submit(s, req, pid)}

      Dispatcher.run_executor?(s.dispatcher, run.run_id) ->
        {:reply,
         {:error,
          Error.new(
            :invalid_option,
            "executor: run #{run.run_id} is already running with its own executor on this instance"
          )}, s}

      true ->
        {:reply, :ok, submit_run(s, req, pid, run)}
    end
  end

  def handle_call({:cancel, ref}, _from, s) do
    case State.cancel(s.requests, ref) do
      {:ok, requests, actions} ->
        {:reply, :ok, run(%{s | requests: requests}, actions)}

      :error ->
        {:reply, {:error, Error.new(:invalid_argument, "no pending request for #{inspect(ref)}")},
         s}
    end
  end

  def handle_call(:os_pid, _from, s), do: {:reply, s.os_pid, s}
  def handle_call(:status, _from, s), do: {:reply, s.requests.status, s}

  def handle_call(:port, _from, s),
    do: {:reply, if(s.requests.status == :ready, do: s.port), s}

  @impl true
  def handle_cast({:notify, method, params_io}, s) do
    if s.requests.status == :ready,
      do: {:noreply, queue(s, [Frame.notification(method, params_io)])},
      else: {:noreply, s}
  end

  @impl true
  def handle_info({port, {:data, bin}}, %{port: port} = s) do
    {requests, actions} = State.handle_frame(s.requests, bin)
    {:noreply, run(%{s | requests: requests}, actions)}
  end

  def handle_info({port, {:exit_status, status}}, %{port: port} = s),
    do: {:noreply, sidecar_down(s, "exit status #{status}")}

  def handle_info({:EXIT, port, reason}, %{port: port} = s),
    do: {:noreply, sidecar_down(s, "port closed: #{inspect(reason)}")}

  def handle_info({:EXIT, _other, _reason}, s), do: {:noreply, s}

  # Stray messages of a port we already gave up on.
  def handle_info({port, _}, s) when is_port(port), do: {:noreply, s}

  def handle_info(:restart, s), do: {:noreply, open(s)}

  def handle_info(:drain, s), do: {:noreply, drain(%{s | drain_timer: nil})}

  def handle_info({:init_timeout, id}, %{requests: %State{init_id: id}} = s) do
    Logger.error(
      "Pipeline.DSPy: the sidecar did not answer initialize in #{s.opts.init_timeout} ms"
    )

    {:noreply, kill_port(s, "initialize timed out")}
  end

  def handle_info({:init_timeout, _}, s), do: {:noreply, s}

  def handle_info({:request_timeout, id}, s) do
    {requests, actions} = State.timeout(s.requests, id)
    {:noreply, run(%{s | requests: requests}, actions)}
  end

  def handle_info(msg, s) do
    case Dispatcher.handle_info(s.dispatcher, msg) do
      {:ok, d, frames} -> {:noreply, queue(%{s | dispatcher: d}, frames)}
      :unknown -> {:noreply, other_message(msg, s)}
    end
  end

  # The process that made a request died before its answer (see State.caller_down/2).
  defp other_message({:DOWN, mon, :process, _pid, _reason}, s) do
    {requests, actions} = State.caller_down(s.requests, mon)
    run(%{s | requests: requests}, actions)
  end

  # The reply of an execution task that finished just as Node cancelled it (or it timed out):
  # its request was already answered, so the result has nowhere to go.
  defp other_message({ref, _late_result}, s) when is_reference(ref) do
    Logger.debug(
      "Pipeline.DSPy.Connection: dropped the late result of an execution already answered"
    )

    s
  end

  defp other_message(msg, s) do
    Logger.debug("Pipeline.DSPy.Connection: unexpected message #{inspect(msg, limit: 20)}")
    s
  end

  @impl true
  def terminate(_reason, s) do
    {shutdown_id, requests, actions} = State.shutdown(s.requests)
    s = run_actions(%{s | requests: requests}, actions)

    if s.port do
      deadline = System.monotonic_time(:millisecond) + 1_000

      with id when id != nil <- shutdown_id,
           {:ok, s} <- write_all(s, deadline),
           :ok <- await_shutdown(s.port, id, deadline) do
        write(s.port, Frame.notification("exit", "{}"))
      end

      Sidecar.close(s.port, s.os_pid)
    end

    :ok
  end

  # Frames still queued are written before shutdown, waiting for a busy port until deadline.
  defp write_all(s, deadline) do
    case write_out(s) do
      {:done, s} ->
        {:ok, s}

      {:busy, s} ->
        if System.monotonic_time(:millisecond) < deadline,
          do: Process.sleep(@retry_write_ms) && write_all(s, deadline),
          else: :timeout
    end
  end

  defp await_shutdown(port, id, deadline) do
    left = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^port, {:data, bin}} ->
        case JSON.decode(bin) do
          {:ok, %{"id" => ^id}} -> :ok
          _ -> await_shutdown(port, id, deadline)
        end

      {^port, {:exit_status, _}} ->
        :closed
    after
      left -> :timeout
    end
  end

  ## Performing what the pure parts return

  defp submit(s, req, caller) do
    req = Map.put(req, :monitor, Process.monitor(caller))
    {_id, requests, actions} = State.submit(s.requests, req)
    run(%{s | requests: requests}, actions)
  end

  # A run with its own executor: the dispatcher picks it for the run's executions until the
  # request ends (its monitor is dropped: answer, error, timeout, cancel, caller exit, sidecar
  # exit); a process started for the run is linked here, so it dies with this process too.
  defp submit_run(s, req, caller, run) do
    if run.pid, do: Process.link(run.pid)
    mon = Process.monitor(caller)

    s = %{
      s
      | runs: Map.put(s.runs, mon, run),
        dispatcher: Dispatcher.put_run(s.dispatcher, run.run_id, run.executor)
    }

    {_id, requests, actions} = State.submit(s.requests, Map.put(req, :monitor, mon))
    run(%{s | requests: requests}, actions)
  end

  defp end_run(s, mon) do
    case Map.pop(s.runs, mon) do
      {nil, _} ->
        s

      {run, runs} ->
        if run.pid do
          Process.unlink(run.pid)
          Process.exit(run.pid, :shutdown)
        end

        %{s | runs: runs, dispatcher: Dispatcher.drop_run(s.dispatcher, run.run_id)}
    end
  end

  defp run(s, actions), do: s |> run_actions(actions) |> drain()

  defp run_actions(s, actions), do: Enum.reduce(actions, s, &perform/2)

  defp perform({:reply, {:call, from}, result}, s) do
    GenServer.reply(from, result)
    s
  end

  defp perform({:reply, {:async, pid, ref}, result}, s) do
    send(pid, {:dspy_result, ref, result})
    s
  end

  defp perform({:start_timer, id, ms}, s) do
    timer = Process.send_after(self(), {:request_timeout, id}, ms)
    %{s | requests: State.put_timer(s.requests, id, timer)}
  end

  defp perform({:cancel_timer, timer}, s) do
    Process.cancel_timer(timer)
    s
  end

  defp perform({:demonitor, mon}, s) do
    Process.demonitor(mon, [:flush])
    end_run(s, mon)
  end

  defp perform({:log, level, message}, s) do
    Logger.log(level, message)
    s
  end

  defp perform(:ready, s) do
    Logger.debug("Pipeline.DSPy: sidecar ready (os pid #{s.os_pid})")
    cancel_timer(s.init_timer)
    forwarder_port(s, s.port)
    %{s | init_timer: nil, attempt: 0}
  end

  defp perform({:init_refused, _error}, s), do: kill_port(s, "initialize refused")

  defp perform({:incoming_request, method, key, params}, s) do
    {d, frames} = Dispatcher.handle_request(s.dispatcher, s.port, method, key, params)
    queue(%{s | dispatcher: d}, frames)
  end

  defp perform({:notification, "$/cancelRequest", %{"id" => id}}, s) do
    {d, frames} = Dispatcher.cancel(s.dispatcher, JSON.encode!(id))
    queue(%{s | dispatcher: d}, frames)
  end

  defp perform({:notification, method, params}, s) do
    requests = s.requests
    ctx = %{server: s.name, progress_owner: &State.progress_owner(requests, &1)}
    Notifications.route(method, params, ctx)
    s
  end

  ## Writing frames

  defp queue(s, []), do: s

  defp queue(s, frames),
    do: drain(%{s | requests: Enum.reduce(frames, s.requests, &State.queue_frame(&2, &1))})

  # Writes queued frames until the port is busy; then tries again in @retry_write_ms.
  defp drain(%{drain_timer: nil} = s) do
    case write_out(s) do
      {:done, s} ->
        s

      {:busy, s} ->
        %{s | drain_timer: Process.send_after(self(), :drain, @retry_write_ms)}
    end
  end

  # a retry is already armed: keep the order, the frames wait for it
  defp drain(s), do: s

  defp write_out(%{port: nil} = s), do: {:done, s}

  defp write_out(s) do
    case State.next_frame(s.requests) do
      :empty ->
        {:done, s}

      {:ok, frame} ->
        case write(s.port, frame) do
          :busy -> {:busy, s}
          # written, or the port is gone (its exit message follows and fails what was sent)
          _ -> write_out(%{s | requests: State.frame_written(s.requests)})
        end
    end
  end

  defp write(port, frame) do
    if Port.command(port, frame, [:nosuspend]), do: :ok, else: :busy
  rescue
    ArgumentError -> :closed
  end

  ## Opening and losing the sidecar

  defp open(s) do
    case Sidecar.open(s.opts) do
      {:ok, port, os_pid} ->
        params = %{protocolVersion: @protocol_version, clientInfo: s.opts.client_info}

        params =
          if s.opts[:learning],
            do: Map.put(params, :options, %{learning: s.opts.learning}),
            else: params

        {id, requests} = State.connecting(s.requests, JSON.encode!(params))
        timer = Process.send_after(self(), {:init_timeout, id}, s.opts.init_timeout)
        drain(%{s | port: port, os_pid: os_pid, requests: requests, init_timer: timer})

      {:error, e} ->
        Logger.error(
          "Pipeline.DSPy: cannot start the sidecar (#{inspect(s.opts.command || [s.opts.node, s.opts.script])}): #{Exception.message(e)}"
        )

        schedule_restart(%{s | port: nil, os_pid: nil})
    end
  end

  defp sidecar_down(s, why) do
    Logger.warning("Pipeline.DSPy: sidecar (os pid #{s.os_pid}) down: #{why}")
    cancel_timer(s.init_timer)
    cancel_timer(s.drain_timer)
    forwarder_port(s, nil)
    {requests, actions} = State.sidecar_down(s.requests, why)

    %{
      s
      | port: nil,
        os_pid: nil,
        init_timer: nil,
        drain_timer: nil,
        requests: requests,
        dispatcher: Dispatcher.sidecar_down(s.dispatcher)
    }
    |> run_actions(actions)
    |> schedule_restart()
  end

  defp kill_port(s, why) do
    Sidecar.close(s.port, s.os_pid)
    sidecar_down(s, why)
  end

  defp schedule_restart(s) do
    {min, max} = s.opts.restart_backoff
    delay = min(min * Integer.pow(2, min(s.attempt, 20)), max)
    Process.send_after(self(), :restart, delay)
    %{s | attempt: s.attempt + 1}
  end

  defp cancel_timer(nil), do: :ok

  defp cancel_timer(timer) do
    Process.cancel_timer(timer)
    :ok
  end

  defp forwarder_port(s, port) do
    case s.forwarder && Process.whereis(s.forwarder) do
      pid when is_pid(pid) -> send(pid, {:sidecar_port, port})
      _ -> :ok
    end
  end
end
