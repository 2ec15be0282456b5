defmodule Pipeline.DSPy.Executor.Cluster do
  @moduledoc """
  Runs candidate executions on the nodes of a BEAM cluster with distributed Erlang, while the
  sidecar stays one process on this node. Each `pipeline/execute` goes to the least-loaded
  worker node (`:erpc`), at most `:per_node` at a time on each; the inner executor (the
  Reference executor by default) runs there, its LM calls come back to this node's sidecar,
  and its telemetry is relayed here, where the sidecar's forwarder receives it.

  Start it in your supervision tree, then name it as the executor:

      children = [
        {Pipeline.DSPy.Executor.Cluster, name: MyApp.Cluster, nodes: :connected, per_node: 8},
        {Pipeline.DSPy, executor: {Pipeline.DSPy.Executor.Cluster, MyApp.Cluster}}
      ]

  Or give it to one run, started for that run and stopped when it ends (other runs of the
  instance keep the instance's executor):

      Pipeline.DSPy.optimize("pipeline.yaml",
        training_data: "training_data",
        executor: {Pipeline.DSPy.Executor.Cluster, nodes: [:"a@host", :"b@host"], per_node: 8})

  (`executor: {Pipeline.DSPy.Executor.Cluster, MyApp.Cluster}` gives a run one that is
  already running). `mix dspy.optimize` and `mix dspy.evaluate` take `--cluster-nodes
  a@host,b@host`.

  ## Options

  #{Pipeline.DSPy.Executor.Cluster.Options.docs()}

  Given to one run as `{Pipeline.DSPy.Executor.Cluster, opts}`, `:name` is optional (the
  run's dispatcher is then unnamed; `stats/1` takes its pid).

  ## Membership

  Nodes that join are used at once (a new node is the least loaded); nodes that leave are
  removed at once (`:nodedown`). With a list, nodes not yet reachable are tried again every
  250 ms; with `{:pg, scope, group}`, the group's members (any process of the node in the
  group) are read every 250 ms. Worker nodes need this project's modules loaded (the same
  release or code path); nothing has to be started on them.

  ## When a node dies

  An execution running on a node that goes down is retried once on another node and is
  never scored as a failure (counted in `stats/1` as `retries`); the run ends with the
  result it would have had on one node, because executions are deterministic given their
  inputs and LM answers (cached or replayed by the sidecar). A second loss of the same
  execution makes it a failed execution (`not_retried`).

  Steps with side effects outside the execution (`file_ops`, `output_to_file`): with
  `side_effects: :retry` (the default) they are retried like everything else, i.e. they may
  run twice; with `:at_most_once` an execution of a workflow that has such a step is not
  retried after a node loss (it fails instead, counted as `not_retried`).
  """

  @behaviour Pipeline.DSPy.Executor

  alias Pipeline.DSPy.Executor.Cluster.{Dispatcher, Options, Remote}

  @doc false
  @spec child_spec(keyword) :: Supervisor.child_spec()
  def child_spec(opts) do
    opts = Options.validate!(opts)
    %{id: {__MODULE__, opts[:name]}, start: {__MODULE__, :start_link, [opts]}, type: :worker}
  end

  @doc "Starts the cluster's dispatcher (see the options above)."
  @spec start_link(keyword) :: GenServer.on_start()
  def start_link(opts) do
    opts = Options.validate!(opts)

    :persistent_term.put(
      {__MODULE__, opts[:name]},
      Map.new(Keyword.take(opts, [:executor, :side_effects]))
    )

    Dispatcher.start_link(Keyword.take(opts, [:name, :nodes, :per_node]))
  end

  @doc "Figures so far: per node `running`/`dispatched`, `retries`, `not_retried`, `lost`, `waiting`, relayed telemetry."
  @spec stats(atom | pid) :: map
  def stats(name), do: Dispatcher.stats(name)

  @impl true
  # One run's cluster: a running one by name, or one started for the run from options.
  def for_run(name) when is_atom(name) and not is_nil(name) do
    if GenServer.whereis(name),
      do: :as_is,
      else: {:error, "no #{inspect(__MODULE__)} named #{inspect(name)} is running"}
  end

  def for_run(opts) when is_list(opts) do
    named = Keyword.has_key?(opts, :name)
    opts = Options.validate!(Keyword.put_new(opts, :name, __MODULE__))
    dispatcher_opts = Keyword.take(opts, [:nodes, :per_node])

    dispatcher_opts =
      if named, do: [{:name, opts[:name]} | dispatcher_opts], else: dispatcher_opts

    conf = Map.new(Keyword.take(opts, [:executor, :side_effects]))

    {:start, %{id: __MODULE__, start: {Dispatcher, :start_link, [dispatcher_opts]}},
     fn pid -> {__MODULE__, Map.put(conf, :dispatcher, pid)} end}
  rescue
    e in ArgumentError -> {:error, Exception.message(e)}
  end

  def for_run(other),
    do:
      {:error,
       "#{inspect(__MODULE__)} takes a running cluster's name or options, got #{inspect(other)}"}

  @impl true
  def execute(config, input, ctx) do
    {dispatcher, conf} = conf(ctx[:executor_opts])
    deadline = System.monotonic_time(:millisecond) + (ctx[:timeout_ms] || 120_000)

    remote_ctx =
      ctx
      |> Map.drop([:executor_opts, :request])
      |> Map.merge(%{origin_node: node(), dispatcher: dispatcher})

    run(dispatcher, conf, config, input, remote_ctx, [], deadline, 0)
  end

  # started for a run: everything is in the executor term; else by name
  defp conf(%{dispatcher: pid} = conf), do: {pid, conf}

  defp conf(other) do
    name = cluster_name(other)
    {name, :persistent_term.get({__MODULE__, name})}
  end

  defp run(name, conf, config, input, ctx, exclude, deadline, attempt) do
    ref = make_ref()
    remaining = max(0, deadline - System.monotonic_time(:millisecond))

    case Dispatcher.checkout(name, ref, exclude, remaining) do
      {:error, :no_node} ->
        {:error,
         "no worker node of cluster #{inspect(name)} was free within the execution's timeout"}

      {:ok, node} ->
        outcome =
          try do
            {:done,
             :erpc.call(
               node,
               Remote,
               :run,
               [conf.executor, config, input, ctx],
               max(1, deadline - System.monotonic_time(:millisecond))
             )}
          catch
            :error, {:erpc, :noconnection} -> :node_lost
          after
            Dispatcher.checkin(name, ref)
          end

        case outcome do
          {:done, result} ->
            result

          :node_lost ->
            if attempt == 0 and retry_allowed?(conf, config) do
              Dispatcher.node_lost(name, node, :retried)
              run(name, conf, config, input, ctx, [node | exclude], deadline, 1)
            else
              Dispatcher.node_lost(name, node, :not_retried)

              {:error,
               "worker node #{node} was lost during the execution (not retried: #{why_not(attempt)})"}
            end
        end
    end
  end

  defp why_not(0), do: "the workflow has steps with side effects and side_effects: :at_most_once"
  defp why_not(_), do: "already retried once"

  defp retry_allowed?(%{side_effects: :retry}, _config), do: true
  defp retry_allowed?(%{side_effects: :at_most_once}, config), do: not side_effects?(config)

  @doc false
  # A workflow has side effects outside its execution when a step (at any depth) is file_ops
  # or writes output_to_file.
  @spec side_effects?(term) :: boolean
  def side_effects?(term) when is_map(term) do
    Map.get(term, "type") == "file_ops" or Map.has_key?(term, "output_to_file") or
      Enum.any?(term, fn {_k, v} -> side_effects?(v) end)
  end

  def side_effects?(list) when is_list(list), do: Enum.any?(list, &side_effects?/1)
  def side_effects?(_), do: false

  defp cluster_name(name) when is_atom(name) and not is_nil(name), do: name
  defp cluster_name(opts) when is_list(opts), do: Keyword.fetch!(opts, :name)

  defp cluster_name(other),
    do:
      raise(
        ArgumentError,
        "Pipeline.DSPy.Executor.Cluster: name the cluster, {Cluster, Name}; got #{inspect(other)}"
      )
end
