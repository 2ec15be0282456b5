defmodule Pipeline.DSPy.Executor.Cluster.Remote do
  @moduledoc false
  # What runs on a worker node for one execution (called with :erpc): make sure the node
  # relays its telemetry to the origin, point the inner executor's LM calls back at the
  # origin's sidecar, and run it. The result goes back raw: the origin normalises it and
  # emits the execution events, as for a local execution.

  alias Pipeline.DSPy.Executor.Cluster.Relay

  @spec run(term, map, map, map) :: {:ok, map} | {:error, term}
  def run(inner, config, input, ctx) do
    origin = ctx.origin_node

    ctx =
      if origin == node() do
        ctx
      else
        d = ctx.dispatcher
        :ok = Relay.ensure(if is_pid(d), do: d, else: {d, origin})
        timeout = ctx[:timeout_ms] || 120_000
        # The sidecar belongs to the origin node: the instance name means nothing here.
        generate = fn messages, opts ->
          :erpc.call(origin, Pipeline.DSPy, :generate, [messages, opts], timeout)
        end

        Map.put(ctx, :generate, generate)
      end

    case inner do
      {mod, opts} when is_atom(mod) ->
        mod.execute(config, input, Map.put(ctx, :executor_opts, with_generate(opts, ctx)))

      mod when is_atom(mod) ->
        mod.execute(config, input, Map.put(ctx, :executor_opts, with_generate([], ctx)))
    end
  end

  defp with_generate(opts, %{generate: g}) when is_list(opts),
    do: Keyword.put_new(opts, :generate, g)

  defp with_generate(opts, %{generate: g}) when is_map(opts), do: Map.put_new(opts, :generate, g)
  defp with_generate(opts, _ctx), do: opts
end
