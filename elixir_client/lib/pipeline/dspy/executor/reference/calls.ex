defmodule Pipeline.DSPy.Executor.Reference.Calls do
  @moduledoc """
  The LM prompts one execution sent, in order, each with its predictor path (the
  `pipeline/execute` wire's `calls`). Kept in the executing process's dictionary: pipeline_ex
  drops the contexts of loop iterations and parallel tasks (loop.ex:161-167,
  parallel_claude.ex:31-45), so a call cannot be threaded back through them.
  """

  @key {__MODULE__, :calls}

  @doc "Starts recording for this process; returns what was being recorded (to restore)."
  def start, do: Process.put(@key, [])

  @doc "Stops recording and returns the calls in the order they were sent."
  def stop(previous) do
    calls = Process.get(@key) || []
    if previous == nil, do: Process.delete(@key), else: Process.put(@key, previous)
    Enum.reverse(calls)
  end

  @doc "How many calls were sent so far."
  def count, do: length(Process.get(@key) || [])

  def record(call), do: Process.put(@key, [call | Process.get(@key) || []])

  @doc """
  A predictor path: `segments` are the enclosing steps' names from the top (`["review_loop",
  "analyze"]` -> `review_loop.steps.analyze`), then an optional task suffix
  (`tasks[ID]`, `parallel_tasks[ID]`).
  """
  def path(segments, suffix \\ nil) do
    base = Enum.join(segments, ".steps.")
    if suffix, do: base <> "." <> suffix, else: base
  end
end
