defmodule Pipeline.DSPy.Connection do
  @moduledoc """
  The Port owner: one GenServer per `Pipeline.DSPy` instance that runs the Node sidecar and
  speaks JSON-RPC 2.0 with it over `{:packet, 4}` frames.

  Design notes (why it is built this way):

    * **Never blocks.** `handle_call/3` only records the caller and writes a frame; the reply
      comes later through `GenServer.reply/2` when the response frame arrives. Params are
      JSON-encoded in the *caller's* process and only wrapped in the envelope here, so a big
      `optimize` request costs the owner nothing but a port write.
    * **Port writes** use `Port.command/2`: when the port's queue is busy this suspends the
      writer, which is the backpressure we want for requests (the Node side reading is what
      unblocks it; frames coming *from* Node are still queued into our mailbox by the runtime,
      so this cannot deadlock). The telemetry forwarder writes with `:nosuspend` instead and
      keeps buffering (bounded) while the port is busy. Replies to `pipeline/execute` are
      written by the executor's process itself (any process may write to a port), one hop
      less on the round trip; each frame is one `Port.command/2`, so frames never interleave.
    * **stderr** of the sidecar never reaches the frames (`:stderr_to_stdout` is not used): by
      default the child inherits the BEAM's stderr (its pino JSON logs land on the console);
      with `stderr: {:file, path}` the sidecar is started as
      `/bin/sh -c 'exec "$0" "$@" 2>>"$path"' node script args...` (exec keeps the OS pid).
    * **Handshake**: `initialize` (`protocolVersion`, `clientInfo`) is sent from
      `handle_continue/2`; requests made before the sidecar is ready are queued, their
      timeouts running, and written once it is.
    * **Timeouts**: each request has a timer here; on expiry the caller gets `:timeout` and
      the sidecar gets `$/cancelRequest`. A request still queued at expiry (sidecar starting or
      restarting) gets `:sidecar_unavailable`.
    * **Crash semantics**: on the Port's `exit_status` (crash, `kill -9`) every request already
      written gets `reason: :sidecar_exited` at once, running executor tasks are killed (there
      is nobody left to answer), and the sidecar is restarted after a backoff
      (`:restart_backoff`, doubled per consecutive failure, reset after a good handshake).
      Requests made during the restart wait for the new sidecar up to their own timeout.
    * **Stop**: `terminate/2` sends `shutdown`, waits up to 1 s for its answer, sends `exit`
      and closes the port. If the owner is killed or the BEAM dies, the port closes anyway:
      the sidecar sees EOF on stdin and exits (it must exit within 1 s on stdin EOF). One
      still running 2 s after this process closed its port (hung) is killed (`reap/1`).
    * **Callers are monitored**: a request whose caller exits is dropped and cancelled on
      the sidecar (`$/cancelRequest`).
    * **Callbacks from Node** (`pipeline/execute`) run in `Task.Supervisor` children (see
      `Pipeline.DSPy.Executor.run_request/3`): a few pre-started ones
      (`Pipeline.DSPy.Executor.Worker`, 4 per instance) take a job with one message, more
      concurrent jobs get `Task.Supervisor.async_nolink/3` tasks; all with a timeout (`params.timeoutMs`, else
      `:execute_timeout`). Exactly one reply per request: the result; `-32800` when
      `$/cancelRequest` killed it; `-32000` with `data.reason = "timeout"` when it timed out;
      `-32603` when the executor crashed. Unknown methods get `-32601`. Who answers is
      decided by an `:atomics` claim word per job (`Executor.run_and_reply/4`): the worker
      swaps it when its result is ready, this process swaps it on timeout, cancel or crash;
      only the winner writes. A timeout or cancel that loses the race leaves the worker alone
      (its reply is on its way; killing it mid-write could lose it).
      `$/progress` is routed to the caller of the async request whose `progressToken`
      matches; `log` goes to `Logger`; `learning/promoted` goes to `Logger.info`, the
      instance's promotion subscribers and a `[:pipeline, :dspy, :promoted]` telemetry event
      (`Pipeline.DSPy.Promotions`).
  """

  use GenServer
  require Logger

  alias Pipeline.DSPy.{Error, Executor, JSON}

  @protocol_version "1.0"
  @pool_size 4

  defstruct [
    :opts,
    :name,
    :port,
    :os_pid,
    :init_id,
    :init_timer,
    :forwarder,
    :task_sup,
    status: :down,
    next_id: 1,
    # pre-started executor workers (Task.Supervisor children) as {pid, claim}, see
    # Executor.Worker
    idle: [],
    # job numbers written in the claim words (see Executor.run_and_reply/4), never 0
    next_job: 1,
    starting: 0,
    attempt: 0,
    # id => %{reply_to, timer, sent, frame, token, mon}
    pending: %{},
    # monitor of the requesting process => id (a caller that dies cancels its request)
    callers: %{},
    # async ref => id
    refs: %{},
    # progress token => {pid, ref}
    progress: %{},
    # node request id (encoded JSON iodata key as binary) => %{pid, mref, timer, timeout,
    # claim, job, worker}
    inbound: %{},
    # task monitor ref => node request id key
    tasks: %{}
  ]

  ## Client side helpers (run in the caller's process)

  @doc false
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: opts.connection_name)

  @doc false
  def request(conn, method, params, timeout) do
    with :ok <- check_timeout(method, timeout),
         {:ok, params_io} <- encode_params(params) do
      call_timeout = if timeout == :infinity, do: :infinity, else: timeout + 5_000

      try do
        GenServer.call(conn, {:request, method, params_io, timeout, nil}, call_timeout)
      catch
        :exit, {:timeout, _} ->
          {:error, Error.new(:timeout, "#{method}: no answer within #{timeout} ms")}

        :exit, {reason, _} ->
          {:error, Error.new(:sidecar_exited, "#{method}: connection process down", reason)}
      end
    end
  end

  @doc false
  def request_async(conn, method, params, timeout, progress?) do
    ref = make_ref()

    with :ok <- check_timeout(method, timeout),
         {:ok, params_io} <- encode_params(params) do
      try do
        :ok =
          GenServer.call(
            conn,
            {:request_async, method, params_io, timeout, progress?, self(), ref}
          )

        {:ok, ref}
      catch
        :exit, reason ->
          {:error, Error.new(:sidecar_exited, "#{method}: connection process down", reason)}
      end
    end
  end

  @doc false
  def notify(conn, method, params) do
    with {:ok, params_io} <- encode_params(params) do
      GenServer.cast(conn, {:notify, method, params_io})
    end
  end

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
      do_init(opts)
    end
  end

  defp do_init(opts) do
    state = %__MODULE__{
      opts: opts,
      name: opts.name,
      forwarder: opts.forwarder_name,
      task_sup: opts.task_supervisor_name
    }

    {:ok, state, {:continue, :open}}
  end

  @impl true
  def handle_continue(:open, state) do
    state = replenish(state)
    {:noreply, open(state)}
  end

  @impl true
  def handle_call({:request, method, params_io, timeout, token_owner}, from, state) do
    {_id, state} = submit(state, method, params_io, timeout, {:call, from}, token_owner)
    {:noreply, state}
  end

  def handle_call({:request_async, method, params_io, timeout, progress?, pid, ref}, _from, state) do
    owner = if progress?, do: {pid, ref}, else: nil
    {id, state} = submit(state, method, params_io, timeout, {:async, pid, ref}, owner)
    {:reply, :ok, %{state | refs: Map.put(state.refs, ref, id)}}
  end

  def handle_call({:cancel, ref}, _from, state) do
    case Map.fetch(state.refs, ref) do
      {:ok, id} ->
        state =
          case Map.fetch(state.pending, id) do
            {:ok, %{sent: true}} ->
              send_notification(state, "$/cancelRequest", %{id: id})
              state

            _ ->
              state
          end

        state = finish(state, id, {:error, Error.new(:cancelled, "cancelled by the caller")})
        {:reply, :ok, state}

      :error ->
        {:reply, {:error, Error.new(:invalid_argument, "no pending request for #{inspect(ref)}")},
         state}
    end
  end

  def handle_call(:os_pid, _from, state), do: {:reply, state.os_pid, state}
  def handle_call(:status, _from, state), do: {:reply, state.status, state}

  def handle_call(:port, _from, state),
    do: {:reply, if(state.status == :ready, do: state.port), state}

  @impl true
  def handle_cast({:notify, method, params_io}, state) do
    if state.status == :ready, do: write(state, notification_frame(method, params_io))
    {:noreply, state}
  end

  @impl true
  def handle_info({port, {:data, bin}}, %{port: port} = state) do
    state =
      case JSON.decode(bin) do
        {:ok, msgs} when is_list(msgs) and msgs != [] ->
          Enum.reduce(msgs, state, &dispatch/2)

        {:ok, msg} ->
          dispatch(msg, state)

        {:error, e} ->
          Logger.error(
            "Pipeline.DSPy: unparsable frame from the sidecar: #{Exception.message(e)}"
          )

          write(state, error_frame("null", -32700, "Parse error: " <> Exception.message(e), nil))
          state
      end

    {:noreply, state}
  end

  def handle_info({port, {:exit_status, status}}, %{port: port} = state),
    do: {:noreply, sidecar_down(state, "exit status #{status}")}

  def handle_info({:EXIT, port, reason}, %{port: port} = state),
    do: {:noreply, sidecar_down(state, "port closed: #{inspect(reason)}")}

  def handle_info({:EXIT, _other, _reason}, state), do: {:noreply, state}

  # Stray messages of a port we already gave up on.
  def handle_info({port, _}, state) when is_port(port), do: {:noreply, state}

  def handle_info(:restart, state), do: {:noreply, open(state)}

  def handle_info({:executor_worker_idle, pid, claim}, state) do
    state = %{state | starting: max(state.starting - 1, 0)}
    {:noreply, idle_worker(state, pid, claim)}
  end

  def handle_info({:init_timeout, id}, %{init_id: id} = state) do
    Logger.error(
      "Pipeline.DSPy: the sidecar did not answer initialize in #{state.opts.init_timeout} ms"
    )

    {:noreply, kill_port(state, "initialize timed out")}
  end

  def handle_info({:init_timeout, _}, state), do: {:noreply, state}

  def handle_info({:request_timeout, id}, state) do
    case Map.fetch(state.pending, id) do
      {:ok, %{sent: true, method: method, timeout: t}} ->
        send_notification(state, "$/cancelRequest", %{id: id})

        {:noreply,
         finish(
           state,
           id,
           {:error, Error.new(:timeout, "#{method}: no answer within #{t} ms")},
           false
         )}

      {:ok, %{sent: false, method: method, timeout: t}} ->
        err =
          Error.new(:sidecar_unavailable, "#{method}: the sidecar was not ready within #{t} ms")

        {:noreply, finish(state, id, {:error, err}, false)}

      :error ->
        {:noreply, state}
    end
  end

  # An execution finished: its worker or task already wrote the reply to the port (see
  # Executor.run_and_reply/4); only the bookkeeping is left. A pooled worker that is not
  # retiring goes back to the idle pool.
  def handle_info({mref, outcome}, state)
      when is_reference(mref) and is_map_key(state.tasks, mref) do
    Process.demonitor(mref, [:flush])
    {_key, entry, state} = pop_task(state, mref)

    state =
      case {outcome, entry} do
        {{:done, _, :idle}, %{worker: true, pid: pid, claim: claim}} ->
          idle_worker(state, pid, claim)

        {{:done, _, :retiring}, _} ->
          # it started its replacement, which registers itself
          %{state | starting: state.starting + 1}

        _ ->
          state
      end

    {:noreply, state}
  end

  def handle_info({:DOWN, mref, :process, _pid, reason}, state)
      when is_map_key(state.tasks, mref) do
    {key, entry, state} = pop_task(state, mref)

    # a worker that died after winning the claim may have written its reply already
    if claim(entry) do
      write(
        state,
        error_frame(key, -32603, "executor crashed: #{Exception.format_exit(reason)}", nil)
      )
    end

    {:noreply, replenish(state)}
  end

  # The process that made a request died before its answer: nobody wants the result, so the
  # sidecar stops the work (an optimize run would otherwise go on spending for its whole
  # timeout) and the entry goes.
  def handle_info({:DOWN, mon, :process, _pid, _reason}, state)
      when is_map_key(state.callers, mon) do
    id = Map.fetch!(state.callers, mon)

    case Map.fetch(state.pending, id) do
      {:ok, %{sent: true}} -> send_notification(state, "$/cancelRequest", %{id: id})
      _ -> :ok
    end

    {:noreply, finish(state, id, {:error, Error.new(:cancelled, "the caller exited")})}
  end

  def handle_info({:execute_timeout, key}, state) do
    case stop_inbound(state, key) do
      {:ok, t, state} ->
        write(
          state,
          error_frame(key, -32000, "pipeline/execute timed out after #{t} ms", %{
            reason: "timeout",
            timeoutMs: t
          })
        )

        {:noreply, replenish(state)}

      :error ->
        {:noreply, state}
    end
  end

  # The reply of an execution task that finished just as Node cancelled it (or it timed out):
  # its request was already answered, so the result has nowhere to go.
  def handle_info({ref, _late_result}, state) when is_reference(ref) do
    Logger.debug(
      "Pipeline.DSPy.Connection: dropped the late result of an execution already answered"
    )

    {:noreply, state}
  end

  def handle_info(msg, state) do
    Logger.debug("Pipeline.DSPy.Connection: unexpected message #{inspect(msg, limit: 20)}")
    {:noreply, state}
  end

  @impl true
  def terminate(_reason, state) do
    for {_id, %{reply_to: {:async, pid, ref}}} <- state.pending do
      send(
        pid,
        {:dspy_result, ref, {:error, Error.new(:sidecar_exited, "Pipeline.DSPy is stopping")}}
      )
    end

    if state.port do
      if state.status == :ready do
        id = state.next_id
        write(state, request_frame(id, "shutdown", "{}"))
        await_shutdown(state.port, id, System.monotonic_time(:millisecond) + 1_000)
        write(state, notification_frame("exit", "{}"))
      end

      try do
        Port.close(state.port)
      rescue
        _ -> :ok
      end

      reap(state.os_pid)
    end

    :ok
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
        :ok
    after
      left -> :timeout
    end
  end

  ## Opening and losing the sidecar

  defp open(state) do
    try do
      {exe, args} = command(state.opts)

      port_opts =
        [:binary, {:packet, 4}, :exit_status, :use_stdio, :hide, args: args, env: env(state.opts)] ++
          if(state.opts.cd, do: [cd: state.opts.cd], else: [])

      port = Port.open({:spawn_executable, exe}, port_opts)
      {:os_pid, os_pid} = Port.info(port, :os_pid)
      id = state.next_id
      params = %{protocolVersion: @protocol_version, clientInfo: state.opts.client_info}

      params =
        if state.opts[:learning],
          do: Map.put(params, :options, %{learning: state.opts.learning}),
          else: params

      state = %{
        state
        | port: port,
          os_pid: os_pid,
          status: :starting,
          init_id: id,
          next_id: id + 1
      }

      write(state, request_frame(id, "initialize", JSON.encode!(params)))
      timer = Process.send_after(self(), {:init_timeout, id}, state.opts.init_timeout)
      %{state | init_timer: timer}
    rescue
      e ->
        Logger.error(
          "Pipeline.DSPy: cannot start the sidecar (#{inspect(state.opts.command || [state.opts.node, state.opts.script])}): #{Exception.message(e)}"
        )

        schedule_restart(%{state | port: nil, os_pid: nil, status: :down})
    end
  end

  @doc false
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

  defp sidecar_down(state, why) do
    Logger.warning("Pipeline.DSPy: sidecar (os pid #{state.os_pid}) down: #{why}")
    if state.init_timer, do: Process.cancel_timer(state.init_timer)
    forwarder_port(state, nil)

    # Everything already written is lost with the process: fail it now.
    state =
      Enum.reduce(state.pending, state, fn
        {id, %{sent: true}}, acc ->
          finish(acc, id, {:error, Error.new(:sidecar_exited, "the sidecar exited (#{why})")})

        _, acc ->
          acc
      end)

    # Executor tasks have nobody left to answer to.
    for {_key, %{pid: pid}} <- state.inbound, do: Process.exit(pid, :kill)
    for {mref, _} <- state.tasks, do: Process.demonitor(mref, [:flush])

    for {_key, %{timer: t}} <- state.inbound, do: Process.cancel_timer(t)

    state = %{
      state
      | port: nil,
        os_pid: nil,
        status: :down,
        init_id: nil,
        init_timer: nil,
        inbound: %{},
        tasks: %{}
    }

    state |> schedule_restart() |> replenish()
  end

  defp kill_port(state, why) do
    port = state.port

    try do
      Port.close(port)
    rescue
      _ -> :ok
    end

    reap(state.os_pid)
    sidecar_down(state, why)
  end

  # Closing the port closes the sidecar's stdin, on which it exits within 1 s (PROTOCOL.md
  # §3). One that is hung (or a :command that ignores stdin) would live on as an orphan: a
  # throwaway process kills it after a grace period, if it is still the same process (same
  # start time in /proc, so a recycled pid is never hit; no /proc, no reaping).
  @reap_after 2_000

  defp reap(nil), do: :ok

  defp reap(os_pid) do
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

  # Field 22 of /proc/PID/stat (the fields after the command name, which ends at the last ")").
  defp os_start_time(os_pid) do
    with {:ok, stat} <- File.read("/proc/#{os_pid}/stat"),
         [{at, 1} | _] <- stat |> :binary.matches(")") |> Enum.reverse() do
      stat |> binary_part(at + 2, byte_size(stat) - at - 2) |> String.split(" ") |> Enum.at(19)
    else
      _ -> nil
    end
  end

  defp schedule_restart(state) do
    {min, max} = state.opts.restart_backoff
    delay = min(min * Integer.pow(2, min(state.attempt, 20)), max)
    Process.send_after(self(), :restart, delay)
    %{state | attempt: state.attempt + 1}
  end

  defp forwarder_port(state, port) do
    case state.forwarder && Process.whereis(state.forwarder) do
      pid when is_pid(pid) -> send(pid, {:sidecar_port, port})
      _ -> :ok
    end
  end

  ## Outgoing requests

  defp submit(state, method, params_io, timeout, reply_to, progress_owner) do
    id = state.next_id

    {params_io, progress} =
      case progress_owner do
        nil -> {params_io, state.progress}
        owner -> {add_token(params_io, id), Map.put(state.progress, token(id), owner)}
      end

    frame = request_frame(id, method, params_io)

    timer =
      if timeout == :infinity,
        do: nil,
        else: Process.send_after(self(), {:request_timeout, id}, timeout)

    sent = state.status == :ready
    if sent, do: write(state, frame)

    mon =
      case reply_to do
        {:call, {pid, _tag}} -> Process.monitor(pid)
        {:async, pid, _ref} -> Process.monitor(pid)
      end

    entry = %{
      reply_to: reply_to,
      mon: mon,
      timer: timer,
      sent: sent,
      frame: if(sent, do: nil, else: frame),
      method: method,
      timeout: timeout,
      token: progress_owner && token(id)
    }

    {id,
     %{
       state
       | next_id: id + 1,
         pending: Map.put(state.pending, id, entry),
         callers: Map.put(state.callers, mon, id),
         progress: progress
     }}
  end

  defp token(id), do: "p#{id}"

  # params_io is an encoded JSON object (or null): splice `"progressToken"` in.
  defp add_token(nil, id), do: [~s({"progressToken":"), token(id), ~s("})]

  defp add_token(params_io, id) do
    case IO.iodata_to_binary(params_io) do
      "{}" -> [~s({"progressToken":"), token(id), ~s("})]
      "{" <> rest -> [~s({"progressToken":"), token(id), ~s(",) | rest]
      _ -> params_io
    end
  end

  defp finish(state, id, result, cancel_timer? \\ true) do
    case Map.pop(state.pending, id) do
      {nil, _} ->
        state

      {entry, pending} ->
        if cancel_timer? and entry.timer, do: Process.cancel_timer(entry.timer)
        Process.demonitor(entry.mon, [:flush])

        refs =
          case entry.reply_to do
            {:call, from} ->
              GenServer.reply(from, result)
              state.refs

            {:async, pid, ref} ->
              send(pid, {:dspy_result, ref, result})
              Map.delete(state.refs, ref)
          end

        progress =
          if entry.token, do: Map.delete(state.progress, entry.token), else: state.progress

        %{
          state
          | pending: pending,
            refs: refs,
            progress: progress,
            callers: Map.delete(state.callers, entry.mon)
        }
    end
  end

  defp flush_queued(state) do
    queued = for {id, %{sent: false} = e} <- state.pending, do: {id, e}

    queued
    |> Enum.sort()
    |> Enum.reduce(state, fn {id, e}, acc ->
      write(acc, e.frame)
      %{acc | pending: Map.put(acc.pending, id, %{e | sent: true, frame: nil})}
    end)
  end

  ## Incoming messages

  # (init_id is nil once ready: an `id: null` error must not be taken for the handshake's reply)
  defp dispatch(%{"id" => id} = msg, %{init_id: id} = state)
       when is_integer(id) and not is_map_key(msg, "method") do
    Process.cancel_timer(state.init_timer)

    case msg do
      %{"result" => _} ->
        Logger.debug("Pipeline.DSPy: sidecar ready (os pid #{state.os_pid})")
        state = %{state | status: :ready, init_id: nil, init_timer: nil, attempt: 0}
        forwarder_port(state, state.port)
        flush_queued(state)

      %{"error" => err} ->
        Logger.error("Pipeline.DSPy: initialize refused by the sidecar: #{inspect(err)}")
        kill_port(%{state | init_id: nil, init_timer: nil}, "initialize refused")
    end
  end

  defp dispatch(%{"method" => method, "id" => id} = msg, state) do
    handle_node_request(method, JSON.encode!(id), msg["params"], state)
  end

  defp dispatch(%{"method" => method} = msg, state) do
    handle_node_notification(method, msg["params"], state)
  end

  defp dispatch(%{"id" => id, "result" => result}, state) when is_integer(id),
    do: finish(state, id, {:ok, result})

  defp dispatch(%{"id" => id, "error" => err}, state) when is_integer(id),
    do: finish(state, id, {:error, Error.from_jsonrpc(err)})

  defp dispatch(%{"id" => nil, "error" => err}, state) do
    Logger.error("Pipeline.DSPy: the sidecar rejected a message: #{inspect(err)}")
    state
  end

  defp dispatch(other, state) do
    Logger.warning(
      "Pipeline.DSPy: invalid message from the sidecar: #{inspect(other, limit: 20)}"
    )

    write(state, error_frame("null", -32600, "Invalid Request", nil))
    state
  end

  defp handle_node_request("pipeline/execute", key, params, state) when is_map(params) do
    ctx = %{
      server: state.name,
      executor: state.opts.executor,
      task_supervisor: state.task_sup
    }

    key_bin = IO.iodata_to_binary(key)
    {task, state} = start_execution(state, key_bin, params, ctx)

    t = params["timeoutMs"]
    t = if is_integer(t) and t > 0, do: t, else: state.opts.execute_timeout
    timer = Process.send_after(self(), {:execute_timeout, key_bin}, t)
    task = Map.merge(task, %{timer: timer, timeout: t})

    %{
      state
      | inbound: Map.put(state.inbound, key_bin, task),
        tasks: Map.put(state.tasks, task.mref, key_bin)
    }
  end

  defp handle_node_request("pipeline/execute", key, _params, state) do
    write(
      state,
      error_frame(
        key,
        -32602,
        "Invalid params: params must be an object with config and inputs",
        nil
      )
    )

    state
  end

  defp handle_node_request(method, key, _params, state) do
    write(state, error_frame(key, -32601, "Method not found: #{method}", nil))
    state
  end

  defp handle_node_notification("$/cancelRequest", %{"id" => id}, state) do
    key = JSON.encode!(id)

    case stop_inbound(state, key) do
      {:ok, _t, state} ->
        write(state, error_frame(key, -32800, "Request cancelled", nil))
        replenish(state)

      :error ->
        state
    end
  end

  defp handle_node_notification("$/progress", %{"token" => token} = params, state) do
    case Map.fetch(state.progress, token) do
      {:ok, {pid, ref}} -> send(pid, {:dspy_progress, ref, params["value"]})
      :error -> :ok
    end

    state
  end

  defp handle_node_notification("log", params, state) when is_map(params) do
    level =
      case params["level"] do
        l when l in ["error", "fatal"] -> :error
        l when l in ["warn", "warning"] -> :warning
        l when l in ["debug", "trace"] -> :debug
        _ -> :info
      end

    Logger.log(
      level,
      "[sidecar] " <> to_string(params["message"] || params["msg"] || inspect(params))
    )

    state
  end

  defp handle_node_notification("learning/promoted", %{"pipeline" => pipeline} = params, state)
       when is_binary(pipeline) do
    Logger.info(
      "Pipeline.DSPy: promoted a re-optimized config of #{pipeline} " <>
        "(version #{params["version"]}, ledger #{params["ledgerId"]}, " <>
        "held-out mean #{fmt(decision(params, "currentMean"))} -> " <>
        "#{fmt(decision(params, "candidateMean"))})"
    )

    Pipeline.DSPy.Promotions.broadcast(state.name, pipeline, params)
    state
  end

  defp handle_node_notification(method, _params, state) do
    Logger.debug("Pipeline.DSPy: ignoring notification #{method} from the sidecar")
    state
  end

  defp decision(%{"decision" => %{} = d}, key), do: d[key]
  defp decision(_, _), do: nil

  defp fmt(x) when is_float(x), do: :erlang.float_to_binary(x, decimals: 3)
  defp fmt(x), do: inspect(x)

  # A pre-started worker when one is idle (one message), else a fresh Task.Supervisor child.
  # Either writes the reply to the port itself once it wins the job's claim (see
  # Executor.run_and_reply/4). Workers killed (timeout, cancel, sidecar exit) or crashed
  # are replaced via replenish/1.
  defp start_execution(state, key_bin, params, ctx) do
    job = state.next_job
    state = %{state | next_job: job + 1}

    case state.idle do
      [{pid, claim} | rest] ->
        if Process.alive?(pid) do
          :atomics.put(claim, 1, job)
          mref = Process.monitor(pid)

          send(
            pid,
            {:run, mref, state.opts.executor, params, ctx, {state.port, key_bin, claim, job}}
          )

          {%{pid: pid, mref: mref, claim: claim, job: job, worker: true}, %{state | idle: rest}}
        else
          # died while idle (e.g. its Task.Supervisor restarted): skip it, top the pool up
          start_execution(replenish(%{state | idle: rest}), key_bin, params, ctx)
        end

      [] ->
        claim = :atomics.new(1, signed: false)
        :atomics.put(claim, 1, job)

        task =
          Task.Supervisor.async_nolink(state.task_sup, Executor, :run_and_reply, [
            state.opts.executor,
            params,
            ctx,
            {state.port, key_bin, claim, job}
          ])

        {%{pid: task.pid, mref: task.ref, claim: claim, job: job, worker: false}, state}
    end
  end

  defp idle_worker(state, pid, claim) do
    if length(state.idle) < @pool_size do
      %{state | idle: [{pid, claim} | state.idle]}
    else
      send(pid, :stop)
      state
    end
  end

  # Takes the right to answer an execution (false: its worker or task already has it).
  defp claim(%{claim: claim, job: job}), do: :atomics.compare_exchange(claim, 1, job, 0) == :ok
  defp claim(nil), do: false

  # Tops the pool up to @pool_size (workers started asynchronously, off the latency path).
  defp replenish(state) do
    if length(state.idle) + state.starting < @pool_size do
      Executor.Worker.start(state.task_sup, self())
      replenish(%{state | starting: state.starting + 1})
    else
      state
    end
  end

  # Stops an execution to answer it here (timeout, cancel): only if its worker has not
  # claimed the reply yet; otherwise the reply is already on its way and the worker's done
  # message cleans up.
  defp stop_inbound(state, key) do
    case Map.fetch(state.inbound, key) do
      {:ok, %{pid: pid, mref: mref, timer: timer, timeout: t} = entry} ->
        if claim(entry) do
          Process.exit(pid, :kill)
          Process.demonitor(mref, [:flush])
          Process.cancel_timer(timer)
          inbound = Map.delete(state.inbound, key)
          {:ok, t, %{state | inbound: inbound, tasks: Map.delete(state.tasks, mref)}}
        else
          :error
        end

      :error ->
        :error
    end
  end

  defp pop_task(state, mref) do
    {key, tasks} = Map.pop(state.tasks, mref)
    {entry, inbound} = Map.pop(state.inbound, key)
    if entry, do: Process.cancel_timer(entry.timer)
    {key, entry, %{state | tasks: tasks, inbound: inbound}}
  end

  ## Frames

  defp write(%{port: nil}, _frame), do: false

  defp write(%{port: port}, frame) do
    Port.command(port, frame)
  rescue
    ArgumentError -> false
  end

  defp send_notification(state, method, params),
    do: write(state, notification_frame(method, JSON.encode!(params)))

  # Absent params (nil) are omitted: JSON-RPC 2.0 does not allow `"params": null`.
  defp request_frame(id, method, nil),
    do: [
      ~s({"jsonrpc":"2.0","id":),
      Integer.to_string(id),
      ~s(,"method":),
      JSON.encode!(method),
      ?}
    ]

  defp request_frame(id, method, params_io),
    do: [
      ~s({"jsonrpc":"2.0","id":),
      Integer.to_string(id),
      ~s(,"method":),
      JSON.encode!(method),
      ~s(,"params":),
      params_io,
      ?}
    ]

  @doc false
  def notification_frame(method, nil),
    do: [~s({"jsonrpc":"2.0","method":), JSON.encode!(method), ?}]

  def notification_frame(method, params_io),
    do: [~s({"jsonrpc":"2.0","method":), JSON.encode!(method), ~s(,"params":), params_io, ?}]

  @doc false
  def result_frame(key, io), do: [~s({"jsonrpc":"2.0","id":), key, ~s(,"result":), io, ?}]

  @doc false
  def error_frame(key, code, message, data) do
    err =
      if data == nil,
        do: %{code: code, message: message},
        else: %{code: code, message: message, data: data}

    [~s({"jsonrpc":"2.0","id":), key, ~s(,"error":), JSON.encode!(err), ?}]
  end
end
