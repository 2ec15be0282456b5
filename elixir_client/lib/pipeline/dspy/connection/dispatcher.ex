defmodule Pipeline.DSPy.Connection.Dispatcher do
  @moduledoc """
  Runs the sidecar's requests to Elixir (`pipeline/execute`) and guarantees each exactly one
  reply. Its functions run in the Port owner's process (`Pipeline.DSPy.Connection`), which
  hands it the messages meant for it; they return the new dispatcher and the frames the
  owner must write (error replies decided here).

    * **Where executions run**: a pre-started worker when one is idle
      (`Pipeline.DSPy.Executor.Worker`, `:pool_size` per instance, taking a job in one
      message), else a `Task.Supervisor.async_nolink/3` task. Workers killed (timeout,
      cancel, sidecar exit) or crashed are replaced off the latency path (`replenish/1`).
    * **Who answers**: an `:atomics` claim word per job holds the job number while nobody
      has answered. The worker or task swaps it when its result is ready and then writes its
      reply frame straight to the port (`Pipeline.DSPy.Executor.run_and_reply/4`); this
      module swaps it on timeout (`params.timeoutMs`, else `:execute_timeout`), on
      `$/cancelRequest` and when the executor crashed. Only the winner writes: the result,
      `-32000` with `data.reason = "timeout"`, `-32800` (cancelled) or `-32603` (crashed).
      A timeout or cancel that loses the race leaves the worker alone (its reply is on its
      way; killing it mid-write could lose it).
    * **Which executor**: the instance's, unless the execution's run (`params.context.runId`)
      was started with an executor of its own (the `executor:` option of
      `Pipeline.DSPy.optimize/2` / `evaluate/2`): the connection registers it with
      `put_run/3` when it sends the run's request and drops it with `drop_run/2` when the
      request ends.
    * Unknown methods get `-32601`, a `pipeline/execute` without an object for params `-32602`.
  """

  alias Pipeline.DSPy.Executor
  alias Pipeline.DSPy.Connection.Frame

  @typedoc "The id of a request from the sidecar, JSON-encoded as received."
  @type key :: binary

  @type t :: %__MODULE__{
          task_sup: atom | pid,
          executor: Executor.t(),
          server: atom,
          execute_timeout: pos_integer,
          pool_size: non_neg_integer,
          idle: [{pid, :atomics.atomics_ref()}],
          starting: non_neg_integer,
          next_job: pos_integer,
          inbound: %{key => map},
          tasks: %{reference => key},
          runs: %{String.t() => Executor.t()}
        }

  @enforce_keys [:task_sup, :executor, :server, :execute_timeout]
  defstruct [
    :task_sup,
    :executor,
    :server,
    :execute_timeout,
    pool_size: 4,
    # pre-started workers as {pid, claim}
    idle: [],
    # workers asked for and not yet registered
    starting: 0,
    # job numbers written in the claim words, never 0
    next_job: 1,
    # key => %{pid, mref, claim, job, worker, timer, timeout}
    inbound: %{},
    # monitor ref of a worker or task => key
    tasks: %{},
    # run id => the executor of a run started with its own
    runs: %{}
  ]

  @doc """
  A dispatcher with no workers yet. Options: `:task_supervisor` (where executions run),
  `:executor`, `:server` (the instance name given to executors), `:execute_timeout` (ms),
  `:pool_size` (pre-started workers, default 4).
  """
  @spec new(keyword) :: t
  def new(opts) do
    %__MODULE__{
      task_sup: Keyword.fetch!(opts, :task_supervisor),
      executor: Keyword.fetch!(opts, :executor),
      server: Keyword.fetch!(opts, :server),
      execute_timeout: Keyword.fetch!(opts, :execute_timeout),
      pool_size: Keyword.get(opts, :pool_size, 4)
    }
  end

  @doc "Starts workers (asynchronously) until the pool is full."
  @spec replenish(t) :: t
  def replenish(%__MODULE__{} = d) do
    if length(d.idle) + d.starting < d.pool_size do
      Executor.Worker.start(d.task_sup, self())
      replenish(%{d | starting: d.starting + 1})
    else
      d
    end
  end

  @doc """
  A request from the sidecar (`key`: its id, JSON-encoded). `pipeline/execute` starts an
  execution whose reply goes to `port`; anything else is answered with an error frame.
  """
  @spec handle_request(t, port, String.t(), key, term) :: {t, [iodata]}
  def handle_request(%__MODULE__{} = d, port, "pipeline/execute", key, params)
      when is_map(params) do
    {entry, d} = start_execution(d, port, key, params)
    t = params["timeoutMs"]
    t = if is_integer(t) and t > 0, do: t, else: d.execute_timeout
    timer = Process.send_after(self(), {:execute_timeout, key}, t)
    entry = Map.merge(entry, %{timer: timer, timeout: t})
    {%{d | inbound: Map.put(d.inbound, key, entry), tasks: Map.put(d.tasks, entry.mref, key)}, []}
  end

  def handle_request(d, _port, "pipeline/execute", key, _params),
    do:
      {d,
       [
         Frame.error(
           key,
           -32602,
           "Invalid params: params must be an object with config and inputs",
           nil
         )
       ]}

  def handle_request(d, _port, method, key, _params),
    do: {d, [Frame.error(key, -32601, "Method not found: #{method}", nil)]}

  @doc "The sidecar cancelled its request `key` (`$/cancelRequest`): answered `-32800` unless already answered."
  @spec cancel(t, key) :: {t, [iodata]}
  def cancel(%__MODULE__{} = d, key) do
    case stop(d, key) do
      {:ok, _t, d} -> {replenish(d), [Frame.error(key, -32800, "Request cancelled", nil)]}
      :error -> {d, []}
    end
  end

  @doc """
  Takes a message meant for the dispatcher: `{:execute_timeout, key}`, a worker's
  `{:executor_worker_idle, pid, claim}`, a worker's or task's `{mref, outcome}` and its
  `{:DOWN, ...}`. `:unknown` for any other message.
  """
  @spec handle_info(t, term) :: {:ok, t, [iodata]} | :unknown
  def handle_info(%__MODULE__{} = d, {:execute_timeout, key}) do
    case stop(d, key) do
      {:ok, t, d} ->
        data = %{reason: "timeout", timeoutMs: t}

        {:ok, replenish(d),
         [Frame.error(key, -32000, "pipeline/execute timed out after #{t} ms", data)]}

      :error ->
        {:ok, d, []}
    end
  end

  def handle_info(%__MODULE__{} = d, {:executor_worker_idle, pid, claim}),
    do: {:ok, idle_worker(%{d | starting: max(d.starting - 1, 0)}, pid, claim), []}

  # An execution finished: its worker or task already wrote the reply (or lost the claim);
  # only the bookkeeping is left. A pooled worker that is not retiring goes back to the pool.
  def handle_info(%__MODULE__{tasks: tasks} = d, {mref, outcome})
      when is_reference(mref) and is_map_key(tasks, mref) do
    Process.demonitor(mref, [:flush])
    {_key, entry, d} = pop_task(d, mref)

    d =
      case {outcome, entry} do
        {{:done, _, :idle}, %{worker: true, pid: pid, claim: claim}} -> idle_worker(d, pid, claim)
        # it started its replacement, which registers itself
        {{:done, _, :retiring}, _} -> %{d | starting: d.starting + 1}
        _ -> d
      end

    {:ok, d, []}
  end

  def handle_info(%__MODULE__{tasks: tasks} = d, {:DOWN, mref, :process, _pid, reason})
      when is_map_key(tasks, mref) do
    {key, entry, d} = pop_task(d, mref)

    # a worker that died after winning the claim may have written its reply already
    frames =
      if claim(entry),
        do: [Frame.error(key, -32603, "executor crashed: #{Exception.format_exit(reason)}", nil)],
        else: []

    {:ok, replenish(d), frames}
  end

  def handle_info(_d, _msg), do: :unknown

  @doc """
  The sidecar is gone: running executions have nobody left to answer to and are killed;
  the pool is topped up again.
  """
  @spec sidecar_down(t) :: t
  def sidecar_down(%__MODULE__{} = d) do
    for {_key, %{pid: pid}} <- d.inbound, do: Process.exit(pid, :kill)
    for {mref, _} <- d.tasks, do: Process.demonitor(mref, [:flush])
    for {_key, %{timer: t}} <- d.inbound, do: Process.cancel_timer(t)
    replenish(%{d | inbound: %{}, tasks: %{}})
  end

  @doc "Runs the executions of run `run_id` with `executor` (until `drop_run/2`)."
  @spec put_run(t, String.t(), Executor.t()) :: t
  def put_run(%__MODULE__{} = d, run_id, executor),
    do: %{d | runs: Map.put(d.runs, run_id, executor)}

  @doc "Run `run_id`'s executions go back to the instance's executor."
  @spec drop_run(t, String.t()) :: t
  def drop_run(%__MODULE__{} = d, run_id), do: %{d | runs: Map.delete(d.runs, run_id)}

  @doc "Whether run `run_id` has an executor of its own."
  @spec run_executor?(t, String.t()) :: boolean
  def run_executor?(%__MODULE__{runs: runs}, run_id), do: is_map_key(runs, run_id)

  @doc "The number of executions in flight."
  @spec running(t) :: non_neg_integer
  def running(%__MODULE__{inbound: i}), do: map_size(i)

  ## Internals

  defp start_execution(d, port, key, params) do
    job = d.next_job
    d = %{d | next_job: job + 1}
    executor = executor_for(d, params)
    ctx = %{server: d.server, executor: executor, task_supervisor: d.task_sup}

    case d.idle do
      [{pid, claim} | rest] ->
        if Process.alive?(pid) do
          :atomics.put(claim, 1, job)
          mref = Process.monitor(pid)
          send(pid, {:run, mref, executor, params, ctx, {port, key, claim, job}})
          {%{pid: pid, mref: mref, claim: claim, job: job, worker: true}, %{d | idle: rest}}
        else
          # died while idle (e.g. its Task.Supervisor restarted): skip it, top the pool up
          start_execution(replenish(%{d | idle: rest}), port, key, params)
        end

      [] ->
        claim = :atomics.new(1, signed: false)
        :atomics.put(claim, 1, job)

        task =
          Task.Supervisor.async_nolink(d.task_sup, Executor, :run_and_reply, [
            executor,
            params,
            ctx,
            {port, key, claim, job}
          ])

        {%{pid: task.pid, mref: task.ref, claim: claim, job: job, worker: false}, d}
    end
  end

  defp executor_for(%{runs: runs} = d, _params) when map_size(runs) == 0, do: d.executor

  defp executor_for(d, %{"context" => %{"runId" => run_id}}),
    do: Map.get(d.runs, run_id, d.executor)

  defp executor_for(d, _params), do: d.executor

  defp idle_worker(d, pid, claim) do
    if length(d.idle) < d.pool_size do
      %{d | idle: [{pid, claim} | d.idle]}
    else
      send(pid, :stop)
      d
    end
  end

  # Takes the right to answer an execution (false: its worker or task already has it).
  defp claim(%{claim: claim, job: job}), do: :atomics.compare_exchange(claim, 1, job, 0) == :ok
  defp claim(nil), do: false

  # Stops an execution to answer it here (timeout, cancel): only if its worker has not
  # claimed the reply yet; otherwise the reply is already on its way and the worker's done
  # message cleans up.
  defp stop(d, key) do
    case Map.fetch(d.inbound, key) do
      {:ok, %{pid: pid, mref: mref, timer: timer, timeout: t} = entry} ->
        if claim(entry) do
          Process.exit(pid, :kill)
          Process.demonitor(mref, [:flush])
          Process.cancel_timer(timer)
          {:ok, t, %{d | inbound: Map.delete(d.inbound, key), tasks: Map.delete(d.tasks, mref)}}
        else
          :error
        end

      :error ->
        :error
    end
  end

  defp pop_task(d, mref) do
    {key, tasks} = Map.pop(d.tasks, mref)
    {entry, inbound} = Map.pop(d.inbound, key)
    if entry, do: Process.cancel_timer(entry.timer)
    {key, entry, %{d | tasks: tasks, inbound: inbound}}
  end
end
