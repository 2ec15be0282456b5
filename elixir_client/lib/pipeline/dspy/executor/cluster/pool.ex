defmodule Pipeline.DSPy.Executor.Cluster.Pool do
  @moduledoc """
  The cluster executor's bookkeeping as a pure data structure (no process, no I/O): the worker
  nodes, the executions running on each, the per-node limit, least-loaded choice, and the
  counters the executor reports. `Pipeline.DSPy.Executor.Cluster.Dispatcher` owns one.

  Least loaded: the node with the fewest executions running; ties go to the node that has
  been given the fewest executions so far, then to the one that joined first. So a node that
  joins mid-run is used at once (it is the least loaded), and equal nodes share work evenly.
  """

  @enforce_keys [:per_node]
  defstruct per_node: 8, nodes: %{}, order: [], retries: 0, lost: 0

  @type node_state :: %{
          running: non_neg_integer,
          dispatched: non_neg_integer,
          joined: non_neg_integer
        }
  @type t :: %__MODULE__{
          per_node: pos_integer,
          nodes: %{node => node_state},
          order: [node],
          retries: non_neg_integer,
          lost: non_neg_integer
        }

  @spec new(pos_integer) :: t
  def new(per_node) when is_integer(per_node) and per_node > 0,
    do: %__MODULE__{per_node: per_node}

  @doc "Adds a node (no-op when it is there already)."
  @spec add_node(t, node) :: t
  def add_node(%__MODULE__{} = p, node) do
    if Map.has_key?(p.nodes, node) do
      p
    else
      joined = length(p.order)

      %{
        p
        | nodes: Map.put(p.nodes, node, %{running: 0, dispatched: 0, joined: joined}),
          order: p.order ++ [node]
      }
    end
  end

  @doc "Removes a node; returns the pool and how many executions were running on it."
  @spec remove_node(t, node) :: {t, non_neg_integer}
  def remove_node(%__MODULE__{} = p, node) do
    case Map.pop(p.nodes, node) do
      {nil, _} ->
        {p, 0}

      {%{running: r}, nodes} ->
        {%{p | nodes: nodes, order: List.delete(p.order, node), lost: p.lost + r}, r}
    end
  end

  @spec nodes(t) :: [node]
  def nodes(%__MODULE__{order: order}), do: order

  @doc "Takes a slot on the least-loaded node not in `exclude`: `{:ok, node, pool}` or `:full`."
  @spec checkout(t, [node]) :: {:ok, node, t} | :full
  def checkout(%__MODULE__{} = p, exclude \\ []) do
    candidates =
      for {n, s} <- p.nodes,
          s.running < p.per_node,
          n not in exclude,
          do: {{s.running, s.dispatched, s.joined}, n}

    case Enum.min_by(candidates, &elem(&1, 0), fn -> nil end) do
      nil ->
        :full

      {_, node} ->
        nodes =
          Map.update!(
            p.nodes,
            node,
            &%{&1 | running: &1.running + 1, dispatched: &1.dispatched + 1}
          )

        {:ok, node, %{p | nodes: nodes}}
    end
  end

  @doc "Gives a slot back (a node removed meanwhile is ignored)."
  @spec checkin(t, node) :: t
  def checkin(%__MODULE__{} = p, node) do
    case p.nodes do
      %{^node => s} when s.running > 0 ->
        %{p | nodes: Map.put(p.nodes, node, %{s | running: s.running - 1})}

      _ ->
        p
    end
  end

  @doc "Counts an execution retried after its node was lost."
  @spec count_retry(t) :: t
  def count_retry(%__MODULE__{} = p), do: %{p | retries: p.retries + 1}

  @doc "Per-node and total figures."
  @spec stats(t) :: map
  def stats(%__MODULE__{} = p) do
    %{
      nodes:
        Map.new(p.nodes, fn {n, s} -> {n, %{running: s.running, dispatched: s.dispatched}} end),
      retries: p.retries,
      lost: p.lost,
      per_node: p.per_node
    }
  end
end
