defmodule Pipeline.DSPy.Executor.Reference.Calls do
  @moduledoc """
  The LM prompts one execution sent, in order, each with its predictor path (the
  `pipeline/execute` wire's `calls`). Kept in the executing process's dictionary: pipeline_ex
  drops the contexts of loop iterations and parallel tasks (loop.ex:161-167,
  parallel_claude.ex:31-45), so a call cannot be threaded back through them.
  """

  @typedoc "One LM call as the wire lists it: `path`, `prompt`, `text`, `success`, `usage`, ..."
  @type call :: %{optional(String.t()) => term}

  @key {__MODULE__, :calls}

  @doc "Starts recording for this process; returns what was being recorded (to restore)."
  @spec start() :: [call] | nil
  def start, do: Process.put(@key, [])

  @doc "Stops recording and returns the calls in the order they were sent."
  @spec stop([call] | nil) :: [call]
  def stop(previous) do
    calls = Process.get(@key) || []
    if previous == nil, do: Process.delete(@key), else: Process.put(@key, previous)
    Enum.reverse(calls)
  end

  @doc "How many calls were sent so far."
  @spec count() :: non_neg_integer
  def count, do: length(Process.get(@key) || [])

  @doc "Records one call sent."
  @spec record(call) :: :ok
  def record(call) do
    Process.put(@key, [call | Process.get(@key) || []])
    :ok
  end

  @doc """
  A predictor path: `segments` are the enclosing steps' names from the top (`["review_loop",
  "analyze"]` -> `review_loop.steps.analyze`), then an optional task suffix
  (`tasks[ID]`, `parallel_tasks[ID]`).
  """
  @spec path([String.t()], String.t() | nil) :: String.t()
  def path(segments, suffix \\ nil) do
    base = Enum.join(segments, ".steps.")
    if suffix, do: base <> "." <> suffix, else: base
  end
end
