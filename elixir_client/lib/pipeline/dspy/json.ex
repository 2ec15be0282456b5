defmodule Pipeline.DSPy.JSON do
  @moduledoc """
  The JSON codec used on the wire.

  Picks, once per call site at runtime, the best implementation available:

    1. `Jason` when the host application has it loaded;
    2. Elixir's built-in `JSON` module (Elixir 1.18+);
    3. otherwise our own `Pipeline.DSPy.JSON.Encoder` / `Pipeline.DSPy.JSON.Decoder`.

  Whatever the backend, the results are normalised: `decode/1` returns
  `{:ok, term}` or `{:error, %Pipeline.DSPy.JSON.DecodeError{position: p, message: m}}`;
  objects decode to maps with string keys; `encode/1` returns `{:ok, binary}` or
  `{:error, %Pipeline.DSPy.JSON.EncodeError{}}`.
  """

  alias Pipeline.DSPy.JSON.{Decoder, DecodeError, Encoder, EncodeError}

  @typedoc "A JSON value as decoded (objects are maps with string keys)."
  @type value ::
          nil | boolean | number | String.t() | [value] | %{optional(String.t()) => value}

  @doc "The backend in use: `:jason`, `:elixir` or `:builtin` (our own)."
  @spec backend() :: :jason | :elixir | :builtin
  def backend do
    case :persistent_term.get({__MODULE__, :backend}, nil) do
      nil ->
        b =
          cond do
            Code.ensure_loaded?(Jason) ->
              :jason

            Code.ensure_loaded?(JSON) and function_exported?(JSON, :decode, 1) and
                function_exported?(JSON, :encode_to_iodata!, 1) ->
              :elixir

            true ->
              :builtin
          end

        :persistent_term.put({__MODULE__, :backend}, b)
        b

      b ->
        b
    end
  end

  @doc "Encodes a term to a JSON binary."
  @spec encode(term) :: {:ok, binary} | {:error, EncodeError.t()}
  def encode(term) do
    case encode_to_iodata(term) do
      {:ok, io} -> {:ok, IO.iodata_to_binary(io)}
      err -> err
    end
  end

  @doc "Like `encode/1` but returns iodata (cheaper when the result goes straight to a port)."
  @spec encode_to_iodata(term) :: {:ok, iodata} | {:error, EncodeError.t()}
  def encode_to_iodata(term) do
    case backend() do
      :builtin ->
        Encoder.encode(term)

      :jason ->
        case apply(Jason, :encode_to_iodata, [term]) do
          {:ok, io} -> {:ok, io}
          {:error, e} -> {:error, %EncodeError{message: Exception.message(e), value: term}}
        end

      :elixir ->
        try do
          {:ok, apply(JSON, :encode_to_iodata!, [term])}
        rescue
          e -> {:error, %EncodeError{message: Exception.message(e), value: term}}
        end
    end
  end

  @doc "Encodes or raises `Pipeline.DSPy.JSON.EncodeError`."
  @spec encode!(term) :: binary
  def encode!(term) do
    case encode(term) do
      {:ok, bin} -> bin
      {:error, e} -> raise e
    end
  end

  @doc "Decodes a JSON binary. Objects become maps with string keys."
  @spec decode(binary) :: {:ok, value} | {:error, DecodeError.t()}
  def decode(bin) when is_binary(bin) do
    case backend() do
      :builtin ->
        Decoder.decode(bin)

      :jason ->
        case apply(Jason, :decode, [bin]) do
          {:ok, v} ->
            {:ok, v}

          {:error, e} ->
            {:error,
             %DecodeError{position: Map.get(e, :position, 0), message: Exception.message(e)}}
        end

      :elixir ->
        case apply(JSON, :decode, [bin]) do
          {:ok, v} ->
            {:ok, v}

          {:error, reason} ->
            {:error, %DecodeError{position: elixir_pos(reason), message: inspect(reason)}}
        end
    end
  end

  @doc "Decodes or raises `Pipeline.DSPy.JSON.DecodeError`."
  @spec decode!(binary) :: value
  def decode!(bin) do
    case decode(bin) do
      {:ok, v} -> v
      {:error, e} -> raise e
    end
  end

  defp elixir_pos({_, pos}) when is_integer(pos), do: pos
  defp elixir_pos({_, _, pos}) when is_integer(pos), do: pos
  defp elixir_pos(_), do: 0
end
