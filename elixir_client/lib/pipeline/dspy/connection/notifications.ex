defmodule Pipeline.DSPy.Connection.Notifications do
  @moduledoc """
  Where the sidecar's notifications go (called in the Port owner's process):

    * `$/progress` - to the caller of the async request whose `progressToken` matches, as
      `{:dspy_progress, ref, value}`; dropped when that request is finished;
    * `log` - to `Logger`, at the level the sidecar gave (`[sidecar] message`);
    * `learning/promoted` - `Logger.info`, then the instance's promotion subscribers and the
      `[:pipeline, :dspy, :promoted]` telemetry event (`Pipeline.DSPy.Promotions`);
    * anything else is ignored (logged at debug level).

  `$/cancelRequest` is not routed here: it stops an execution, which is the dispatcher's
  (`Pipeline.DSPy.Connection.Dispatcher.cancel/2`).
  """

  require Logger

  @typedoc """
  What routing needs: the instance name (for promotions) and who owns a progress token
  (a 1-arity function answering `{pid, ref}` or `nil`).
  """
  @type context :: %{server: atom, progress_owner: (term -> {pid, reference} | nil)}

  @doc "Routes notification `method` with `params` (see the moduledoc). Always `:ok`."
  @spec route(String.t(), term, context) :: :ok
  def route("$/progress", %{"token" => token} = params, ctx) do
    case ctx.progress_owner.(token) do
      {pid, ref} -> send(pid, {:dspy_progress, ref, params["value"]})
      nil -> :ok
    end

    :ok
  end

  def route("log", params, _ctx) when is_map(params) do
    Logger.log(
      log_level(params["level"]),
      "[sidecar] " <> to_string(params["message"] || params["msg"] || inspect(params))
    )
  end

  def route("learning/promoted", %{"pipeline" => pipeline} = params, ctx)
      when is_binary(pipeline) do
    Logger.info(
      "Pipeline.DSPy: promoted a re-optimized config of #{pipeline} " <>
        "(version #{params["version"]}, ledger #{params["ledgerId"]}, " <>
        "held-out mean #{fmt(decision(params, "currentMean"))} -> " <>
        "#{fmt(decision(params, "candidateMean"))})"
    )

    Pipeline.DSPy.Promotions.broadcast(ctx.server, pipeline, params)
    :ok
  end

  def route(method, _params, _ctx) do
    Logger.debug("Pipeline.DSPy: ignoring notification #{method} from the sidecar")
  end

  @doc "The `Logger` level of a sidecar log level (pino's names); unknown ones are `:info`."
  @spec log_level(term) :: :error | :warning | :info | :debug
  def log_level(l) when l in ["error", "fatal"], do: :error
  def log_level(l) when l in ["warn", "warning"], do: :warning
  def log_level(l) when l in ["debug", "trace"], do: :debug
  def log_level(_), do: :info

  defp decision(%{"decision" => %{} = d}, key), do: d[key]
  defp decision(_, _), do: nil

  defp fmt(x) when is_float(x), do: :erlang.float_to_binary(x, decimals: 3)
  defp fmt(x), do: inspect(x)
end
