defmodule Pipeline.DSPy.Error do
  @moduledoc """
  The one error shape every `Pipeline.DSPy` function returns: `{:error, %Pipeline.DSPy.Error{}}`.

  Match on `reason`; show `message` to a person. `code` is the JSON-RPC error code when the
  error came from the sidecar (else `nil`), `data` its `error.data` (or local detail).

  | reason | when |
  |---|---|
  | `:sidecar_exited` | the Node process died (crash, `kill -9`, shutdown) while the request was pending |
  | `:sidecar_unavailable` | the sidecar was (re)starting and did not become ready before the request's timeout |
  | `:timeout` | no answer within the request's timeout (a `$/cancelRequest` was sent to the sidecar) |
  | `:cancelled` | cancelled by `Pipeline.DSPy.cancel/2` (locally) or answered -32800 by the sidecar |
  | `:parse_error` | -32700: the sidecar could not parse what we sent |
  | `:invalid_request` | -32600 |
  | `:method_not_found` | -32601: the sidecar does not (yet) implement the method |
  | `:invalid_params` | -32602: the params failed the sidecar's schema (`message` names the option as it is written on this side, e.g. `budget_usd`; `data.issues` keeps the wire paths) |
  | `:internal_error` | -32603 |
  | `:not_initialized` | -32002: a request before the `initialize` handshake completed |
  | `:budget_exceeded` | -32010: the call's or run's LM budget (calls/tokens/usd/wall) was exhausted (`data.kind` says which) |
  | `:lm_failed` | -32011: the LM provider failed after its retries (`data.provider`, `data.retryable`) |
  | `:invalid_input` | -32012: a pipeline file, training data or saved program is invalid (`data.path`, `data.issues`) |
  | `:execution_failed` | -32013: Elixir's executor failed a candidate (`data.error`) |
  | `:overloaded` | -32003: too many requests in flight at the sidecar; retry later |
  | `:server_error` | any other code from the sidecar (`code` and `data` tell more) |
  | `:invalid_option` | an option failed its schema before anything was sent (`message` names it as written) |
  | `:invalid_argument` | a local check failed before anything was sent (bad option, unreadable path) |
  | `:encode_error` | the params could not be encoded as JSON |
  """

  defexception reason: :internal_error, message: "error", code: nil, data: nil

  @type reason ::
          :sidecar_exited
          | :sidecar_unavailable
          | :timeout
          | :cancelled
          | :parse_error
          | :invalid_request
          | :method_not_found
          | :invalid_params
          | :internal_error
          | :not_initialized
          | :budget_exceeded
          | :lm_failed
          | :invalid_input
          | :execution_failed
          | :overloaded
          | :server_error
          | :invalid_option
          | :invalid_argument
          | :encode_error

  @type t :: %__MODULE__{reason: reason, message: String.t(), code: integer | nil, data: term}

  @impl true
  def message(%{reason: r, message: m, code: nil}), do: "#{r}: #{m}"
  def message(%{reason: r, message: m, code: c}), do: "#{r} (#{c}): #{m}"

  @doc false
  @spec new(reason, String.t(), term) :: t
  def new(reason, message, data \\ nil),
    do: %__MODULE__{reason: reason, message: message, data: data}

  @doc "Builds an error from a JSON-RPC `error` object received from the sidecar."
  @spec from_jsonrpc(map) :: t
  def from_jsonrpc(%{} = err) do
    code = err["code"]
    data = err["data"]
    message = option_names(err["message"] || "error", code, data)

    %__MODULE__{reason: reason_for(code, data, message), message: message, code: code, data: data}
  end

  def from_jsonrpc(other), do: %__MODULE__{reason: :server_error, message: inspect(other)}

  # The sidecar names the wire's fields (`budget.maxUsd`); say the options the caller wrote.
  defp option_names(message, -32602, %{"issues" => [_ | _] = issues}) do
    prefix = message |> String.split(":", parts: 2) |> hd()

    summary =
      issues
      |> Enum.take(3)
      |> Enum.map_join("; ", fn issue ->
        path = if is_list(issue["path"]), do: issue["path"], else: []
        name = if path == [], do: "(params)", else: Pipeline.DSPy.Options.Run.option_name(path)
        "#{name}: #{issue["message"]}"
      end)

    "#{prefix}: #{summary}"
  end

  defp option_names(message, _code, _data), do: message

  @budget_strings ["budget_exceeded", "BudgetExceeded", "BudgetExceededError", "budget"]

  defp reason_for(code, data, _message) do
    cond do
      is_map(data) and
          (data["reason"] in @budget_strings or data["type"] in @budget_strings or
             data["name"] in @budget_strings) ->
        :budget_exceeded

      true ->
        reason_for_code(code)
    end
  end

  defp reason_for_code(-32700), do: :parse_error
  defp reason_for_code(-32600), do: :invalid_request
  defp reason_for_code(-32601), do: :method_not_found
  defp reason_for_code(-32602), do: :invalid_params
  defp reason_for_code(-32603), do: :internal_error
  defp reason_for_code(-32002), do: :not_initialized
  defp reason_for_code(-32800), do: :cancelled
  defp reason_for_code(-32003), do: :overloaded
  defp reason_for_code(-32010), do: :budget_exceeded
  defp reason_for_code(-32011), do: :lm_failed
  defp reason_for_code(-32012), do: :invalid_input
  defp reason_for_code(-32013), do: :execution_failed
  defp reason_for_code(_), do: :server_error
end
