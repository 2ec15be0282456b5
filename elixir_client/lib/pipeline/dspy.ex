defmodule Pipeline.DSPy do
  @moduledoc """
  Learn the prompts of pipeline_ex pipelines, DSPy-style, from a Node sidecar supervised here.

  Add an instance to your supervision tree:

      children = [
        {Pipeline.DSPy, executor: Pipeline.DSPy.Executor.PipelineEx}
      ]

  With no options at all (`{Pipeline.DSPy, []}`) it starts the sidecar built in this
  repository (`node <repo>/dist/cli.js serve`; run `npm run build` at the repo root first).
  Options are documented in `Pipeline.DSPy.Options` (unknown or ill-typed ones raise).

  Each instance is a supervisor whose children are a `Task.Supervisor` for the executor
  tasks (`pipeline/execute` callbacks), a `DynamicSupervisor` for the processes an executor
  needs for one run (the `:executor` option below), the telemetry forwarder and the Port
  owner (`Pipeline.DSPy.Connection`). Functions take the instance as `server` (the `:name`
  option, default `Pipeline.DSPy`), as a first argument or as the `:server` option.

  Every function returns `{:error, %Pipeline.DSPy.Error{}}` on failure; see that module for
  the `reason`s. Requests made while the sidecar is (re)starting wait for it up to their own
  timeout, then fail with `:sidecar_unavailable`.

  ## Async forms

  `optimize_async/2` and `evaluate_async/2` return `{:ok, ref}` and send the caller

      {:dspy_progress, ref, value}    # each $/progress of the run (a map from the sidecar)
      {:dspy_result, ref, {:ok, result} | {:error, %Pipeline.DSPy.Error{}}}   # exactly once

  The blocking forms monitor the connection process; an async caller that must survive a
  crash of the connection process itself (not of the sidecar, which is reported as
  `:sidecar_exited`) should monitor `Process.whereis(Pipeline.DSPy.connection(server))`.
  Notifications (`notify/3`) sent while the sidecar is not ready are dropped.

  A request belongs to the process that made it (as a `GenServer.call/3` or a `Task.async/1`
  does): if that process exits before the answer, the request is dropped and the sidecar gets
  `$/cancelRequest` (a run nobody can receive the result of stops spending). Start a
  long-lived process to own runs that must outlive their starter.

  `cancel/2` stops such a run: the caller gets `{:dspy_result, ref, {:error, %{reason: :cancelled}}}`
  at once and the sidecar gets `$/cancelRequest`.

  ## Continuous learning

  The sidecar stores the executions your app reports through telemetry, turns the good ones
  into training examples, re-optimizes registered pipelines on a schedule and promotes a
  candidate only when it beats the config in force on held-out examples (PROTOCOL.md §8).
  Start the instance with `:learning` (which pipelines, schedule, policy, guard) and, in
  production, a `:data_dir` (see `Pipeline.DSPy.Options`). Then:

    * `current_config/2` - the config in force for a pipeline (`nil`: run it as written);
    * `subscribe_promotions/1` - `{:dspy_promoted, name, info}` on each promotion (also a
      `[:pipeline, :dspy, :promoted]` telemetry event and a `Logger.info`);
    * `optimize_now/2` - re-optimize a registered pipeline now, blocking until the decision;
    * `flush_telemetry/2` - make every event emitted so far durable.

  The README's "Reloading a promoted config" shows a host process that keeps the config and
  swaps it on promotion.

  ## Pipelines

  `pipeline` is a YAML path (sent as `{path: absolute_path}`; the sidecar reads and parses the
  file since there is no YAML parser on this side) or a config map (sent as `{config: map}`).
  `load_workflow/2` turns a workflow file into that map (for `Pipeline.execute/2` or an
  executor), and refuses what pipeline_ex's own loader refuses.
  """

  alias Pipeline.DSPy.{Connection, Error, Options}
  alias Pipeline.DSPy.Executor.PerRun
  require Logger

  @type server :: atom
  @type result :: {:ok, term} | {:error, Error.t()}

  @default_optimize_timeout :timer.minutes(30)

  @doc false
  @spec child_spec(keyword) :: Supervisor.child_spec()
  def child_spec(opts) do
    # not a keyword list: start_link/1 raises naming it (it was silently replaced by [])
    name = if Keyword.keyword?(opts), do: Keyword.get(opts, :name, __MODULE__), else: __MODULE__
    %{id: {__MODULE__, name}, start: {__MODULE__, :start_link, [opts]}, type: :supervisor}
  end

  @doc "Starts an instance (see `Pipeline.DSPy.Options` for the options)."
  @spec start_link(keyword) :: Supervisor.on_start()
  def start_link(opts \\ []) do
    opts = Options.validate!(opts)
    name = opts.name
    key = {__MODULE__, name, :request_timeout}

    if :persistent_term.get(key, nil) != opts.request_timeout,
      do: :persistent_term.put(key, opts.request_timeout)

    opts =
      Map.merge(opts, %{
        connection_name: connection(name),
        forwarder_name: forwarder(name),
        task_supervisor_name: task_supervisor(name)
      })

    children =
      [
        Pipeline.DSPy.Promotions.child_spec(name),
        {Task.Supervisor, name: opts.task_supervisor_name},
        # processes an executor needs for one run (`executor:` of optimize/evaluate)
        {DynamicSupervisor, name: run_executors(name), strategy: :one_for_one}
      ] ++
        if(opts.telemetry,
          do: [%{id: :forwarder, start: {Pipeline.DSPy.Telemetry.Forwarder, :start_link, [opts]}}],
          else: []
        ) ++
        [%{id: :connection, start: {Connection, :start_link, [opts]}, shutdown: 5_000}]

    Supervisor.start_link(children,
      strategy: :one_for_one,
      name: name,
      max_restarts: 10,
      max_seconds: 5
    )
  end

  @doc false
  @spec connection(server) :: atom
  def connection(name), do: :"#{name}.Connection"
  @doc false
  @spec forwarder(server) :: atom
  def forwarder(name), do: :"#{name}.Forwarder"
  @doc false
  @spec task_supervisor(server) :: atom
  def task_supervisor(name), do: :"#{name}.TaskSupervisor"
  @doc false
  @spec run_executors(server) :: atom
  def run_executors(name), do: :"#{name}.RunExecutors"

  @doc "Round trip to the sidecar: `:ok` or an error."
  @spec ping(server, timeout) :: :ok | {:error, Error.t()}
  def ping(server \\ __MODULE__, timeout \\ 5_000) do
    case Connection.request(connection(server), "ping", %{}, timeout) do
      {:ok, _} -> :ok
      err -> err
    end
  end

  @doc "The OS pid of the running Node sidecar (nil while it is (re)starting)."
  @spec sidecar_os_pid(server) :: non_neg_integer | nil
  def sidecar_os_pid(server \\ __MODULE__), do: safe_call(server, :os_pid, nil)

  @doc "Whether the sidecar has completed its handshake (`:ready`), or `:starting` / `:down`."
  @spec status(server) :: :ready | :starting | :down
  def status(server \\ __MODULE__), do: safe_call(server, :status, :down)

  # :down / nil while the connection process itself is restarting or not started.
  defp safe_call(server, msg, default) do
    GenServer.call(connection(server), msg)
  catch
    :exit, _ -> default
  end

  @doc """
  Optimizes the prompts of `pipeline` (a YAML path or a config map); blocks until done.

  Options (`Pipeline.DSPy.Options.Optimize` has the table): `:training_data` (a directory or
  a list of examples), `:optimizer` with `:optimizer_options`, `:metric` with
  `:metric_options`, `:lm`, `:reflection_lm` (GEPA), `:seed`, `:budget_usd` or `:budget`, `:out`, `:run_id`,
  `:concurrency`, `:val_fraction`, `:steps`, `:signatures`, `:name`,
  `:execution_timeout_ms`, `:dry_run`, `:write_anyway`, `:params`, `:executor`, `:on_progress`,
  `:timeout` (default 30 minutes), `:server`. An unknown or ill-typed option returns
  `{:error, %Pipeline.DSPy.Error{reason: :invalid_option}}` naming it; nothing is sent.

  `:executor` runs this run's executions with another executor than the instance's, while
  other runs keep the instance's: a module, `{module, opts}` or a 3-arity function, e.g.
  `{Pipeline.DSPy.Executor.Cluster, nodes: [:"a@host", :"b@host"]}` (a cluster executor
  started for this run and stopped when it ends) or `{Pipeline.DSPy.Executor.Cluster, MyApp.Cluster}`
  (one already running). The run is told apart by its id (`:run_id`, generated when absent).
  """
  @spec optimize(Path.t() | map, keyword) :: result
  def optimize(pipeline, opts \\ []) do
    with {:ok, opts} <- Options.Optimize.validate(opts), do: blocking("optimize", pipeline, opts)
  end

  @doc "Async `optimize/2`: returns `{:ok, ref}`; see the moduledoc for the messages."
  @spec optimize_async(Path.t() | map, keyword) :: {:ok, reference} | {:error, Error.t()}
  def optimize_async(pipeline, opts \\ []) do
    with {:ok, opts} <- Options.Optimize.validate(opts), do: async("optimize", pipeline, opts)
  end

  @doc """
  Scores `pipeline` as written on a dataset (the run options of `optimize/2` that apply;
  `Pipeline.DSPy.Options.Evaluate` has the table).
  """
  @spec evaluate(Path.t() | map, keyword) :: result
  def evaluate(pipeline, opts \\ []) do
    with {:ok, opts} <- Options.Evaluate.validate(opts), do: blocking("evaluate", pipeline, opts)
  end

  @doc "Async `evaluate/2`."
  @spec evaluate_async(Path.t() | map, keyword) :: {:ok, reference} | {:error, Error.t()}
  def evaluate_async(pipeline, opts \\ []) do
    with {:ok, opts} <- Options.Evaluate.validate(opts), do: async("evaluate", pipeline, opts)
  end

  @doc """
  Loads a pipeline_ex workflow file into the map `Pipeline.execute/2` and the executors take,
  for an app with no YAML library: the sidecar reads and decodes it (`pipeline/load`).

  Returns `{:ok, config}` (string keys, every key as written) when pipeline_ex's own loader
  would accept the file, else `{:error, %Pipeline.DSPy.Error{reason: :invalid_input}}` whose
  `message` names the problem's path, step type and reason and whose `data` is the whole
  answer (`"config"`, `"refusal"`, `"warnings"`). A missing or non-YAML file is also
  `:invalid_input`. Warnings (problems in loop/pipeline bodies that pipeline_ex only meets at
  run time) are logged. Options: `:server`, `:timeout`.
  """
  @spec load_workflow(Path.t(), keyword) :: {:ok, map} | {:error, Error.t()}
  def load_workflow(path, opts \\ []) when is_binary(path) do
    with {:ok, %{} = answer} <-
           request(opts[:server] || __MODULE__, "pipeline/load", %{path: Path.expand(path)}, opts) do
      for w <- answer["warnings"] || [], do: Logger.warning("#{path}: #{w}")

      case answer do
        %{"accepted" => true, "config" => config} ->
          {:ok, config}

        %{"refusal" => %{"path" => at, "type" => type, "reason" => why}} ->
          {:error, Error.new(:invalid_input, "#{path}: #{at} (#{type}): #{why}", answer)}
      end
    end
  end

  @doc """
  One LM call through the sidecar (`lm/generate`), using its provider config, cache and budget.

  `messages` is a list of `%{role: "system" | "user" | "assistant", content: text}` or a
  plain prompt string (one user message). Options (`Pipeline.DSPy.Options.Generate`): `:lm`
  (spec), `:run_id` (attributes the call to a run's meter and budget), `:temperature`,
  `:max_tokens`, `:stop`, `:rollout_id`, `:timeout`, `:server`. Returns `{:ok, %{"text" => ..., "usage" => ..., "model" => ...,
  "cached" => bool, "costUsd" => ...}}`.
  """
  @spec generate([map] | String.t(), keyword) :: result
  def generate(messages, opts \\ []) do
    with {:ok, opts} <- Options.Generate.validate(opts), do: do_generate(messages, opts)
  end

  defp do_generate(messages, opts) do
    messages = if is_binary(messages), do: [%{role: "user", content: messages}], else: messages

    options =
      %{}
      |> put_opt(:temperature, opts[:temperature])
      |> put_opt(:maxTokens, opts[:max_tokens])
      |> put_opt(:stop, opts[:stop])
      |> put_opt(:rolloutId, opts[:rollout_id])

    params =
      %{messages: messages}
      |> put_opt(:lm, opts[:lm])
      |> put_opt(:runId, opts[:run_id])
      |> put_opt(:options, if(options == %{}, do: nil, else: options))

    do_request(opts[:server] || __MODULE__, "lm/generate", params, opts)
  end

  @doc "Cancels an async run started by `optimize_async/2`, `evaluate_async/2` or `request_async/4`."
  @spec cancel(server, reference) :: :ok | {:error, Error.t()}
  def cancel(server \\ __MODULE__, ref) when is_reference(ref),
    do:
      safe_call(
        server,
        {:cancel, ref},
        {:error, Error.new(:sidecar_exited, "the Pipeline.DSPy connection is not running")}
      )

  @doc """
  Any JSON-RPC request to the sidecar (`params` a map or nil). Options
  (`Pipeline.DSPy.Options.Request`): `:timeout` (ms or `:infinity`, default the instance's
  `:request_timeout`).
  """
  @spec request(server, String.t(), map | nil, keyword) :: result
  def request(server, method, params, opts \\ []) do
    with {:ok, opts} <- Options.Request.validate(opts, "request/4"),
         do: do_request(server, method, params, opts)
  end

  defp do_request(server, method, params, opts),
    do: Connection.request(connection(server), method, params, timeout(server, opts))

  @doc "Async `request/4`: `{:ok, ref}`; `{:dspy_result, ref, result}` follows (and `:dspy_progress` when `progress: true`)."
  @spec request_async(server, String.t(), map, keyword) :: {:ok, reference} | {:error, Error.t()}
  def request_async(server, method, params, opts \\ []) do
    with {:ok, opts} <- Options.Request.validate(opts, "request_async/4") do
      Connection.request_async(
        connection(server),
        method,
        params,
        timeout(server, opts),
        Keyword.get(opts, :progress, false)
      )
    end
  end

  @doc """
  Sends what the telemetry forwarder has buffered (waiting for a busy port), then asks the
  sidecar to make it durable (`telemetry/flush`): `{:ok, %{"durable" => n}}`, `n` being the
  execution records this sidecar process has made durable so far. Every event emitted by
  the calling process before this call is covered (the sidecar answers once it is fsynced);
  `:telemetry_buffer` overflow dropped before it is not.
  """
  @spec flush_telemetry(server, keyword) :: result
  def flush_telemetry(server \\ __MODULE__, opts \\ []) do
    with {:ok, opts} <- Options.Request.validate(opts, "flush_telemetry/2"),
         do: do_flush_telemetry(server, opts)
  end

  defp do_flush_telemetry(server, opts) do
    t = timeout(server, opts)

    flushed =
      case Process.whereis(forwarder(server)) do
        nil ->
          :ok

        pid ->
          try do
            Pipeline.DSPy.Telemetry.Forwarder.flush(pid, t)
          catch
            # the port stayed busy: an error to return, not an exit of the caller
            :exit, {:timeout, _} ->
              {:error,
               Error.new(
                 :timeout,
                 "telemetry/flush: the forwarder's buffer was not written within #{t} ms"
               )}

            # the forwarder is restarting: what it buffered is gone, flush the rest
            :exit, _ ->
              :ok
          end
      end

    with :ok <- flushed, do: do_request(server, "telemetry/flush", %{}, opts)
  end

  ## Continuous learning

  @doc """
  Subscribes the calling process to the instance's promotions: each time the sidecar
  promotes a re-optimized config (scheduled run or `optimize_now/2`) the caller gets

      {:dspy_promoted, pipeline_name, %{"version" => v, "config" => workflow_map,
                                        "decision" => guard_summary, "ledgerId" => id,
                                        "promotedAt" => iso8601, "pipeline" => pipeline_name}}

  Idempotent; ends with the caller (or `unsubscribe_promotions/1`); survives sidecar
  restarts. A promotion missed while nobody listened (or while disconnected) is recovered
  with `current_config/2`. See `Pipeline.DSPy.Promotions` for the telemetry event.
  """
  @spec subscribe_promotions(server) :: :ok | {:error, Error.t()}
  def subscribe_promotions(server \\ __MODULE__), do: Pipeline.DSPy.Promotions.subscribe(server)

  @doc "Undoes `subscribe_promotions/1` for the calling process."
  @spec unsubscribe_promotions(server) :: :ok
  def unsubscribe_promotions(server \\ __MODULE__),
    do: Pipeline.DSPy.Promotions.unsubscribe(server)

  @doc """
  The config currently in force for pipeline `name` (`learning/config`):
  `{:ok, %{"pipeline" => name, "version" => v, "promotedAt" => iso8601, "ledgerId" => id,
  "config" => workflow_map}}`, or `{:ok, nil}` when nothing was promoted yet (run the
  pipeline as written). Durable across sidecar restarts. Options: `:server`, `:timeout`.
  """
  @spec current_config(String.t(), keyword) :: {:ok, map | nil} | {:error, Error.t()}
  def current_config(name, opts \\ []) when is_binary(name) do
    with {:ok, opts} <- Options.Request.validate(opts, "current_config/2"),
         do: do_request(opts[:server] || __MODULE__, "learning/config", %{pipeline: name}, opts)
  end

  @doc """
  Re-optimizes the registered pipeline `name` now (`learning/optimize`: what the scheduler
  runs), blocking until the decision: `{:ok, %{"decision" => "promoted" | "rejected" |
  "skipped" | "failed", "reason" => ..., "ledgerId" => ..., "guard" => ..., "version" => ...}}`.
  On `"promoted"` the `{:dspy_promoted, ...}` messages were sent before this returns.

  `name` must be registered under `learning: [pipelines: ...]` at start. Options: `:mode`
  (`"light"`, the default, or `"full"`), `:on_progress` (1-arity fun called with each
  progress map, as `optimize/2`), `:timeout` (ms, default 30 minutes), `:server`.
  """
  @spec optimize_now(String.t(), keyword) :: result
  def optimize_now(name, opts \\ []) when is_binary(name) do
    with {:ok, opts} <- Options.OptimizeNow.validate(opts),
         do: blocking_request("learning/optimize", learning_optimize_params(name, opts), opts)
  end

  @doc "Async `optimize_now/2`: `{:ok, ref}`, then `:dspy_progress` / `:dspy_result` messages."
  @spec optimize_now_async(String.t(), keyword) :: {:ok, reference} | {:error, Error.t()}
  def optimize_now_async(name, opts \\ []) when is_binary(name) do
    with {:ok, opts} <- Options.OptimizeNow.validate(opts) do
      opts = Keyword.put_new(opts, :timeout, @default_optimize_timeout)
      server = opts[:server] || __MODULE__

      Connection.request_async(
        connection(server),
        "learning/optimize",
        learning_optimize_params(name, opts),
        timeout(server, opts),
        true
      )
    end
  end

  defp learning_optimize_params(name, opts),
    do: put_opt(%{pipeline: name}, :mode, opts[:mode] && to_string(opts[:mode]))

  @doc "A JSON-RPC notification to the sidecar."
  @spec notify(server, String.t(), map) :: :ok | {:error, Error.t()}
  def notify(server, method, params), do: Connection.notify(connection(server), method, params)

  ## Internals

  defp timeout(server, opts) do
    case Keyword.fetch(opts, :timeout) do
      {:ok, t} -> t
      :error -> default_timeout(server)
    end
  end

  defp default_timeout(server),
    do: :persistent_term.get({__MODULE__, server, :request_timeout}, 30_000)

  defp blocking(method, pipeline, opts) do
    with {:ok, params} <- Options.Run.to_params(pipeline, opts),
         {:ok, params, run} <- PerRun.prepare(opts[:server] || __MODULE__, params, opts),
         do: blocking_request(method, params, opts, run)
  end

  defp blocking_request(method, params, opts, run \\ nil) do
    opts = Keyword.put_new(opts, :timeout, @default_optimize_timeout)
    on_progress = opts[:on_progress]
    server = opts[:server] || __MODULE__

    # The process that takes the request is the one monitored (looked up once: a connection
    # restarted in between would never answer, and the wait would have no end).
    case Process.whereis(connection(server)) do
      nil ->
        PerRun.stop(run)

        {:error,
         Error.new(:sidecar_exited, "#{method}: the Pipeline.DSPy connection is not running")}

      conn ->
        mon = Process.monitor(conn)

        result =
          with {:ok, ref} <-
                 Connection.request_async(conn, method, params, timeout(server, opts), true, run) do
            await_or_cancel(conn, ref, mon, on_progress)
          end

        Process.demonitor(mon, [:flush])
        result
    end
  end

  # An on_progress that raises (or throws, or exits) ends the wait: the run is cancelled and
  # its remaining messages are dropped, so nothing keeps running or lands in the mailbox.
  defp await_or_cancel(conn, ref, mon, on_progress) do
    await(ref, mon, on_progress)
  catch
    kind, reason ->
      stack = __STACKTRACE__

      try do
        GenServer.call(conn, {:cancel, ref})
      catch
        :exit, _ -> :ok
      end

      flush_run(ref)
      :erlang.raise(kind, reason, stack)
  end

  defp flush_run(ref) do
    receive do
      {:dspy_progress, ^ref, _} -> flush_run(ref)
      {:dspy_result, ^ref, _} -> flush_run(ref)
    after
      0 -> :ok
    end
  end

  defp await(ref, mon, on_progress) do
    receive do
      {:dspy_progress, ^ref, value} ->
        if on_progress, do: on_progress.(value)
        await(ref, mon, on_progress)

      {:dspy_result, ^ref, result} ->
        result

      {:DOWN, ^mon, :process, _, reason} ->
        {:error, Error.new(:sidecar_exited, "the Pipeline.DSPy connection stopped", reason)}
    end
  end

  defp async(method, pipeline, opts) do
    server = opts[:server] || __MODULE__

    with {:ok, params} <- Options.Run.to_params(pipeline, opts),
         {:ok, params, run} <- PerRun.prepare(server, params, opts) do
      Connection.request_async(
        connection(server),
        method,
        params,
        timeout(server, opts),
        true,
        run
      )
    end
  end

  defp put_opt(map, _k, nil), do: map
  defp put_opt(map, k, v), do: Map.put(map, k, v)
end
