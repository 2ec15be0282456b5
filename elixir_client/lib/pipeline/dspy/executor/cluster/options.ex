defmodule Pipeline.DSPy.Executor.Cluster.Options do
  @moduledoc false
  # The cluster executor's options: one table that validates them and writes their docs.

  @schema [
    name:
      {:required, "atom",
       "the dispatcher's registered name; the executor is `{Pipeline.DSPy.Executor.Cluster, name}`"},
    nodes:
      {:connected, "`:connected` | `[node]` | `{:pg, scope, group}`",
       "worker nodes: every connected node, a fixed list (connected when reachable), or the nodes with a process in a `:pg` group"},
    per_node: {8, "pos_integer", "executions at once on each node"},
    executor:
      {Pipeline.DSPy.Executor.Reference, "module | {module, opts}",
       "the executor that runs on the worker nodes (must be loaded there)"},
    side_effects:
      {:retry, "`:retry` | `:at_most_once`",
       "after a node loss, retry executions whose workflow writes files (see below)"}
  ]

  @doc false
  @spec docs() :: String.t()
  def docs do
    rows =
      for {key, {default, type, doc}} <- @schema do
        d = if default == :required, do: "required", else: "`#{inspect(default)}`"
        "| `#{inspect(key)}` | #{type} | #{d} | #{doc} |"
      end

    Enum.join(["| option | type | default | what |", "|---|---|---|---|" | rows], "\n")
  end

  @doc false
  @spec validate!(keyword) :: keyword
  def validate!(opts) when is_list(opts) do
    known = Keyword.keys(@schema)

    case Keyword.keys(opts) -- known do
      [] ->
        :ok

      unknown ->
        raise ArgumentError,
              "Pipeline.DSPy.Executor.Cluster: unknown option(s) #{inspect(unknown)}; known: #{inspect(known)}"
    end

    Enum.map(@schema, fn {key, {default, _, _}} ->
      value =
        case Keyword.fetch(opts, key) do
          {:ok, v} ->
            v

          :error when default == :required ->
            raise ArgumentError, "Pipeline.DSPy.Executor.Cluster: #{inspect(key)} is required"

          :error ->
            default
        end

      check!(key, value)
      {key, value}
    end)
  end

  defp check!(:name, v) when is_atom(v) and not is_nil(v), do: :ok
  defp check!(:nodes, :connected), do: :ok
  defp check!(:nodes, {:pg, scope, _group}) when is_atom(scope), do: :ok

  defp check!(:nodes, list) when is_list(list),
    do: if(Enum.all?(list, &is_atom/1), do: :ok, else: bad(:nodes, list))

  defp check!(:per_node, n) when is_integer(n) and n > 0, do: :ok
  defp check!(:executor, m) when is_atom(m), do: :ok
  defp check!(:executor, {m, _}) when is_atom(m), do: :ok
  defp check!(:side_effects, v) when v in [:retry, :at_most_once], do: :ok
  defp check!(key, v), do: bad(key, v)

  defp bad(key, v),
    do: raise(ArgumentError, "Pipeline.DSPy.Executor.Cluster: #{inspect(key)} got #{inspect(v)}")
end
