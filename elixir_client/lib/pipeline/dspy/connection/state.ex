defmodule Pipeline.DSPy.Connection.State do
  @moduledoc """
  The pure half of the connection, in the manner of Mint's connection struct: the handshake
  status, the table of requests sent to the sidecar, and the frames waiting to be written.
  No function here sends a message, touches the Port or reads a clock, so all of it is
  unit-tested without a process (`test/pipeline/dspy/connection/state_test.exs`).

  Functions return the new state and a list of **actions** for the Port owner
  (`Pipeline.DSPy.Connection`) to perform, in order:

    * `{:reply, reply_to, result}` - answer a caller: `GenServer.reply/2` for a `{:call, from}`,
      `{:dspy_result, ref, result}` to the pid of an `{:async, pid, ref}`;
    * `{:start_timer, id, ms}` - arm the request's timeout (`{:request_timeout, id}` after
      `ms`) and hand the timer back with `put_timer/3`;
    * `{:cancel_timer, timer}` / `{:demonitor, monitor}` - drop what a finished request held;
    * `{:log, level, message}`;
    * from `handle_frame/2` only: `:ready` (handshake done), `{:init_refused, error}`,
      `{:incoming_request, method, key, params}` (a request from the sidecar, `key` its id
      JSON-encoded) and `{:notification, method, params}`, for the owner to route.

  Frames to write are not actions: they go to the **outbox** (`queue_frame/2`), which the
  owner drains into the Port with `:nosuspend` writes (`next_frame/1`, `frame_written/1`),
  so a sidecar that stops reading its stdin cannot suspend the owner: timeouts, cancels and
  crash handling keep working, and the frames stay in order. A request that ends (timeout,
  cancel, caller exit) while its frame is still in the outbox is taken out of it: the
  sidecar never sees it, so it gets no `$/cancelRequest` either.

  A request is *sent* once its frame is in the outbox. Requests made before the handshake
  completed are kept with their frame and queued, in id order, when it does; a sent request
  is failed with `:sidecar_exited` when the sidecar goes down, an unsent one keeps waiting
  for the next sidecar up to its own timeout.
  """

  alias Pipeline.DSPy.{Error, JSON}
  alias Pipeline.DSPy.Connection.Frame

  @typedoc "The id of a request sent to the sidecar."
  @type id :: pos_integer
  @typedoc "Where the answer of a request goes."
  @type reply_to :: {:call, GenServer.from()} | {:async, pid, reference}
  @type result :: {:ok, term} | {:error, Error.t()}
  @type status :: :down | :starting | :ready

  @type action ::
          {:reply, reply_to, result}
          | {:start_timer, id, non_neg_integer}
          | {:cancel_timer, term}
          | {:demonitor, reference}
          | {:log, Logger.level(), String.t()}
          | :ready
          | {:init_refused, term}
          | {:incoming_request, String.t(), binary, term}
          | {:notification, String.t(), term}

  @typedoc """
  A request to send: `params` is its encoded JSON object (or `nil`), `monitor` the monitor
  of the process that owns it, `progress` whether the sidecar should report its progress
  (async requests only: `$/progress` goes to the `{pid, ref}` of `reply_to`).
  """
  @type request :: %{
          required(:method) => String.t(),
          required(:params) => iodata | nil,
          required(:timeout) => timeout,
          required(:reply_to) => reply_to,
          required(:monitor) => reference,
          optional(:progress) => boolean
        }

  @type t :: %__MODULE__{
          status: status,
          next_id: id,
          init_id: id | nil,
          pending: %{id => map},
          callers: %{reference => id},
          refs: %{reference => id},
          progress: %{String.t() => {pid, reference}},
          outbox: :queue.queue({id | nil, iodata}),
          unwritten: MapSet.t(id)
        }

  defstruct status: :down,
            next_id: 1,
            init_id: nil,
            # id => %{reply_to, monitor, timer, sent, frame, method, timeout, token}
            pending: %{},
            # monitor of the requesting process => id (a caller that dies cancels its request)
            callers: %{},
            # async ref => id (what cancel/2 names a request by)
            refs: %{},
            # progress token => {pid, ref}
            progress: %{},
            # {request id or nil, frame}, oldest first
            outbox: :queue.new(),
            # ids of the requests whose frame is still in the outbox
            unwritten: MapSet.new()

  @doc "A connection with no sidecar yet."
  @spec new() :: t
  def new, do: %__MODULE__{}

  @doc "Whether nothing is pending: no request, no async ref, no progress token."
  @spec idle?(t) :: boolean
  def idle?(%__MODULE__{pending: p, callers: c, refs: r, progress: g}),
    do: p == %{} and c == %{} and r == %{} and g == %{}

  ## Handshake

  @doc """
  A sidecar was started: queues its `initialize` request (params already encoded) and
  returns the request's id (the owner arms the handshake timeout with it).
  """
  @spec connecting(t, iodata) :: {id, t}
  def connecting(%__MODULE__{} = s, init_params) do
    id = s.next_id
    s = %{s | status: :starting, init_id: id, next_id: id + 1}
    {id, queue_frame(s, Frame.request(id, "initialize", init_params))}
  end

  @doc """
  The sidecar is gone (exit, closed port, handshake refused or timed out): every request
  already sent fails with `:sidecar_exited`, unsent ones wait for the next sidecar, and
  frames not yet written are dropped.
  """
  @spec sidecar_down(t, String.t()) :: {t, [action]}
  def sidecar_down(%__MODULE__{} = s, why) do
    s = %{s | status: :down, init_id: nil, outbox: :queue.new(), unwritten: MapSet.new()}
    err = Error.new(:sidecar_exited, "the sidecar exited (#{why})")
    sent = for {id, %{sent: true}} <- s.pending, do: id
    finish_all(s, Enum.sort(sent), {:error, err})
  end

  @doc """
  The owner is stopping: every async caller gets `:sidecar_exited` (a blocking caller gets
  the owner's exit). When the sidecar is ready, a `shutdown` request is queued and its id
  returned, for the owner to await before it sends `exit` and closes the port.
  """
  @spec shutdown(t) :: {id | nil, t, [action]}
  def shutdown(%__MODULE__{} = s) do
    err = Error.new(:sidecar_exited, "Pipeline.DSPy is stopping")

    replies =
      for {_id, %{reply_to: {:async, _, _} = to}} <- s.pending, do: {:reply, to, {:error, err}}

    if s.status == :ready do
      id = s.next_id
      s = queue_frame(%{s | next_id: id + 1}, Frame.request(id, "shutdown", "{}"))
      {id, s, replies}
    else
      {nil, s, replies}
    end
  end

  ## Outgoing requests

  @doc """
  Adds a request to the table and queues its frame when the sidecar is ready (otherwise it
  is queued when the handshake completes). Returns its id and a `{:start_timer, id, ms}`
  action unless its timeout is `:infinity`.
  """
  @spec submit(t, request) :: {id, t, [action]}
  def submit(%__MODULE__{} = s, %{method: method, params: params, timeout: timeout} = req) do
    id = s.next_id
    # progress goes to an async caller's {pid, ref}; a blocking call has no way to receive it
    token = if req[:progress] && match?({:async, _, _}, req.reply_to), do: token(id)

    {params, progress} =
      case {token, req.reply_to} do
        {nil, _} ->
          {params, s.progress}

        {t, {:async, pid, ref}} ->
          {Frame.put_progress_token(params, t), Map.put(s.progress, t, {pid, ref})}
      end

    frame = Frame.request(id, method, params)
    sent = s.status == :ready

    entry = %{
      reply_to: req.reply_to,
      monitor: req.monitor,
      timer: nil,
      sent: sent,
      frame: if(sent, do: nil, else: frame),
      method: method,
      timeout: timeout,
      token: token
    }

    refs =
      case req.reply_to do
        {:async, _pid, ref} -> Map.put(s.refs, ref, id)
        {:call, _from} -> s.refs
      end

    s = %{
      s
      | next_id: id + 1,
        pending: Map.put(s.pending, id, entry),
        callers: Map.put(s.callers, req.monitor, id),
        refs: refs,
        progress: progress
    }

    s = if sent, do: queue_request(s, id, frame), else: s
    {id, s, if(timeout == :infinity, do: [], else: [{:start_timer, id, timeout}])}
  end

  @doc "Records the timer armed for request `id` (a no-op if it is already finished)."
  @spec put_timer(t, id, term) :: t
  def put_timer(%__MODULE__{} = s, id, timer) do
    case s.pending do
      %{^id => e} -> %{s | pending: %{s.pending | id => %{e | timer: timer}}}
      _ -> s
    end
  end

  @doc """
  The timeout of request `id` fired: a sent request fails with `:timeout` and the sidecar
  gets `$/cancelRequest` (or never sees it, if its frame was still in the outbox); one still
  waiting for the sidecar fails with
  `:sidecar_unavailable`. Ignored if the request already finished.
  """
  @spec timeout(t, id) :: {t, [action]}
  def timeout(%__MODULE__{} = s, id) do
    case s.pending do
      %{^id => %{sent: true, method: m, timeout: t}} ->
        s = withdraw(s, id)
        finish(s, id, {:error, Error.new(:timeout, "#{m}: no answer within #{t} ms")}, false)

      %{^id => %{sent: false, method: m, timeout: t}} ->
        err = Error.new(:sidecar_unavailable, "#{m}: the sidecar was not ready within #{t} ms")
        finish(s, id, {:error, err}, false)

      _ ->
        {s, []}
    end
  end

  @doc """
  The caller cancels the async request `ref`: it gets `:cancelled` at once, the sidecar gets
  `$/cancelRequest` if the request was sent. `:error` when no such request is pending.
  """
  @spec cancel(t, reference) :: {:ok, t, [action]} | :error
  def cancel(%__MODULE__{} = s, ref) do
    case s.refs do
      %{^ref => id} ->
        {s, actions} = cancel_pending(s, id, "cancelled by the caller")
        {:ok, s, actions}

      _ ->
        :error
    end
  end

  @doc "Whether `monitor` is the monitor of a process with a pending request."
  @spec caller?(t, reference) :: boolean
  def caller?(%__MODULE__{callers: c}, monitor), do: is_map_key(c, monitor)

  @doc """
  The process that made a request died before its answer: nobody wants the result, so the
  request is dropped and the sidecar stops the work (`$/cancelRequest`).
  """
  @spec caller_down(t, reference) :: {t, [action]}
  def caller_down(%__MODULE__{} = s, monitor) do
    case s.callers do
      %{^monitor => id} -> cancel_pending(s, id, "the caller exited")
      _ -> {s, []}
    end
  end

  @doc "Who gets the `$/progress` notifications carrying `token`: `{pid, ref}` or `nil`."
  @spec progress_owner(t, term) :: {pid, reference} | nil
  def progress_owner(%__MODULE__{progress: p}, token), do: Map.get(p, token)

  ## Incoming frames

  @doc """
  Takes one frame from the sidecar (a JSON-RPC message or a batch of them): answers to our
  requests finish them; the handshake's answer makes the connection ready (queuing the
  requests that waited for it); requests and notifications from the sidecar come back as
  actions to route. An unparsable frame is answered `-32700`, an invalid message `-32600`.
  """
  @spec handle_frame(t, binary) :: {t, [action]}
  def handle_frame(%__MODULE__{} = s, bin) when is_binary(bin) do
    case JSON.decode(bin) do
      {:ok, [_ | _] = msgs} ->
        Enum.reduce(msgs, {s, []}, fn msg, {s, acc} ->
          {s, actions} = handle_message(s, msg)
          {s, acc ++ actions}
        end)

      {:ok, msg} ->
        handle_message(s, msg)

      {:error, e} ->
        msg = "Parse error: " <> Exception.message(e)
        s = queue_frame(s, Frame.error("null", -32700, msg, nil))

        {s,
         [
           {:log, :error,
            "Pipeline.DSPy: unparsable frame from the sidecar: #{Exception.message(e)}"}
         ]}
    end
  end

  # (init_id is nil once ready: an `id: null` error must not be taken for the handshake's reply)
  defp handle_message(%{init_id: id} = s, %{"id" => id} = msg)
       when is_integer(id) and not is_map_key(msg, "method") do
    case msg do
      %{"result" => _} ->
        queued = for {id, %{sent: false} = e} <- s.pending, do: {id, e}

        s =
          queued
          |> Enum.sort()
          |> Enum.reduce(%{s | status: :ready, init_id: nil}, fn {id, e}, s ->
            s = %{s | pending: %{s.pending | id => %{e | sent: true, frame: nil}}}
            queue_request(s, id, e.frame)
          end)

        {s, [:ready]}

      %{"error" => err} ->
        {%{s | init_id: nil},
         [
           {:log, :error, "Pipeline.DSPy: initialize refused by the sidecar: #{inspect(err)}"},
           {:init_refused, err}
         ]}
    end
  end

  defp handle_message(s, %{"method" => method, "id" => id} = msg) when is_binary(method),
    do: {s, [{:incoming_request, method, JSON.encode!(id), msg["params"]}]}

  defp handle_message(s, %{"method" => method} = msg) when is_binary(method),
    do: {s, [{:notification, method, msg["params"]}]}

  defp handle_message(s, %{"id" => id, "result" => result}) when is_integer(id),
    do: finish(s, id, {:ok, result})

  defp handle_message(s, %{"id" => id, "error" => err}) when is_integer(id),
    do: finish(s, id, {:error, Error.from_jsonrpc(err)})

  defp handle_message(s, %{"id" => nil, "error" => err}),
    do: {s, [{:log, :error, "Pipeline.DSPy: the sidecar rejected a message: #{inspect(err)}"}]}

  defp handle_message(s, other) do
    s = queue_frame(s, Frame.error("null", -32600, "Invalid Request", nil))

    {s,
     [
       {:log, :warning,
        "Pipeline.DSPy: invalid message from the sidecar: #{inspect(other, limit: 20)}"}
     ]}
  end

  ## Outbox

  @doc "Appends a frame to write to the sidecar."
  @spec queue_frame(t, iodata) :: t
  def queue_frame(%__MODULE__{} = s, frame), do: %{s | outbox: :queue.in({nil, frame}, s.outbox)}

  @doc """
  The oldest frame not yet written, or `:empty`. It stays in the outbox until
  `frame_written/1` (a write refused by a busy port is simply tried again later).
  """
  @spec next_frame(t) :: {:ok, iodata} | :empty
  def next_frame(%__MODULE__{outbox: q}) do
    case :queue.peek(q) do
      {:value, {_id, frame}} -> {:ok, frame}
      :empty -> :empty
    end
  end

  @doc "The frame given by `next_frame/1` was written: takes it out of the outbox."
  @spec frame_written(t) :: t
  def frame_written(%__MODULE__{} = s) do
    case :queue.out(s.outbox) do
      {{:value, {nil, _}}, rest} -> %{s | outbox: rest}
      {{:value, {id, _}}, rest} -> %{s | outbox: rest, unwritten: MapSet.delete(s.unwritten, id)}
      {:empty, _} -> s
    end
  end

  @doc "The frames not yet written, oldest first."
  @spec queued_frames(t) :: [iodata]
  def queued_frames(%__MODULE__{outbox: q}), do: for({_id, frame} <- :queue.to_list(q), do: frame)

  ## Internals

  defp token(id), do: "p#{id}"

  defp queue_request(s, id, frame),
    do: %{s | outbox: :queue.in({id, frame}, s.outbox), unwritten: MapSet.put(s.unwritten, id)}

  # A sent request ends early: if its frame is still in the outbox the sidecar never saw it,
  # so it is taken out; otherwise the sidecar is told to stop ($/cancelRequest).
  defp withdraw(s, id) do
    if MapSet.member?(s.unwritten, id) do
      outbox = :queue.filter(fn {i, _} -> i != id end, s.outbox)
      %{s | outbox: outbox, unwritten: MapSet.delete(s.unwritten, id)}
    else
      queue_cancel(s, id)
    end
  end

  defp queue_cancel(s, id),
    do: queue_frame(s, Frame.notification("$/cancelRequest", JSON.encode!(%{id: id})))

  defp cancel_pending(s, id, why) do
    s = if s.pending[id].sent, do: withdraw(s, id), else: s
    finish(s, id, {:error, Error.new(:cancelled, why)})
  end

  defp finish_all(s, ids, result) do
    Enum.reduce(ids, {s, []}, fn id, {s, acc} ->
      {s, actions} = finish(s, id, result)
      {s, acc ++ actions}
    end)
  end

  # Removes request `id` and answers its caller (a no-op for an id already finished: a late
  # answer after a timeout, or an answer to a request we never made). The timer is left
  # alone when it is the one that fired.
  defp finish(s, id, result, cancel_timer? \\ true) do
    case Map.pop(s.pending, id) do
      {nil, _} ->
        {s, []}

      {e, pending} ->
        refs =
          case e.reply_to do
            {:async, _pid, ref} -> Map.delete(s.refs, ref)
            {:call, _from} -> s.refs
          end

        s = %{
          s
          | pending: pending,
            refs: refs,
            progress: if(e.token, do: Map.delete(s.progress, e.token), else: s.progress),
            callers: Map.delete(s.callers, e.monitor)
        }

        timer = if cancel_timer? and e.timer, do: [{:cancel_timer, e.timer}], else: []
        {s, timer ++ [{:demonitor, e.monitor}, {:reply, e.reply_to, result}]}
    end
  end
end
