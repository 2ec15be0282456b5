defmodule Pipeline.DSPy.Connection.Frame do
  @moduledoc """
  JSON-RPC 2.0 frames as iodata, assembled by hand around bodies that are already encoded.

  Params and results are encoded once, by whoever produced them (the caller's process for a
  request, the executor's worker for a `pipeline/execute` result); the envelope is spliced
  around them here, so a big `optimize` request costs the Port owner no re-encoding. Every
  function is pure. The `{:packet, 4}` length prefix is added by the Port itself.

  `key` (the id of a request that came *from* the sidecar) is the id exactly as it was
  received, JSON-encoded (`"7"`, `"\\"abc\\""`), so it is answered with the same id whatever
  its type; `"null"` for an error that cannot be correlated.
  """

  alias Pipeline.DSPy.JSON

  # iodata may end in a binary tail ([head | "rest"]): spliced on purpose, no copy
  @dialyzer :no_improper_lists

  @typedoc "An encoded JSON value (a frame body, or a part of one)."
  @type json_io :: iodata

  @doc """
  A request. `params_io` is an encoded JSON object, or `nil` (the `params` member is then
  left out: JSON-RPC 2.0 does not allow `"params": null`).
  """
  @spec request(pos_integer, String.t(), json_io | nil) :: iodata
  def request(id, method, params_io) when is_integer(id),
    do: [
      ~s({"jsonrpc":"2.0","id":),
      Integer.to_string(id),
      ~s(,"method":),
      JSON.encode!(method) | params(params_io)
    ]

  @doc "A notification (no id, no answer); `params_io` as for `request/3`."
  @spec notification(String.t(), json_io | nil) :: iodata
  def notification(method, params_io),
    do: [~s({"jsonrpc":"2.0","method":), JSON.encode!(method) | params(params_io)]

  @doc "The successful answer to the sidecar's request `key` (`result_io`: encoded JSON)."
  @spec result(json_io, json_io) :: iodata
  def result(key, result_io), do: [~s({"jsonrpc":"2.0","id":), key, ~s(,"result":), result_io, ?}]

  @doc "An error answer to the sidecar's request `key` (`data` left out when `nil`)."
  @spec error(json_io, integer, String.t(), term) :: iodata
  def error(key, code, message, data) do
    err =
      if data == nil,
        do: %{code: code, message: message},
        else: %{code: code, message: message, data: data}

    [~s({"jsonrpc":"2.0","id":), key, ~s(,"error":), JSON.encode!(err), ?}]
  end

  @doc """
  Adds `"progressToken": token` to encoded params (an object, or `nil` for none), so the
  sidecar reports the run's progress as `$/progress` notifications with that token. Params
  that are not an object are returned as they are.
  """
  @spec put_progress_token(json_io | nil, String.t()) :: json_io
  def put_progress_token(params_io, token) do
    member = [~s({"progressToken":), JSON.encode!(token)]

    case params_io && IO.iodata_to_binary(params_io) do
      nil -> [member, ?}]
      "{}" -> [member, ?}]
      "{" <> rest -> [member, ?, | rest]
      _ -> params_io
    end
  end

  defp params(nil), do: [?}]
  defp params(params_io), do: [~s(,"params":), params_io, ?}]
end
