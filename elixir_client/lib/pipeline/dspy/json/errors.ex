defmodule Pipeline.DSPy.JSON.DecodeError do
  @moduledoc "Invalid JSON input: `position` is the 0-based byte offset where decoding failed."
  defexception position: 0, message: "invalid JSON"
  @type t :: %__MODULE__{position: non_neg_integer, message: String.t()}

  @impl true
  def message(%{position: p, message: m}), do: "#{m} at byte #{p}"
end

defmodule Pipeline.DSPy.JSON.EncodeError do
  @moduledoc "A term that has no JSON representation (a tuple, a pid, invalid UTF-8, ...)."
  defexception message: "cannot encode", value: nil
  @type t :: %__MODULE__{message: String.t(), value: term}
end
