defmodule Pipeline.DSPy.Executor.PipelineEx.Dirs do
  @moduledoc """
  Per-candidate checkpoint, output and workspace directories.

  pipeline_ex keeps state between runs in directories: with `checkpoint_enabled: true` a run
  loads `CHECKPOINT_DIR/NAME_latest.json` and skips the steps it lists as done
  (executor.ex:203-224, 241; checkpoint_manager.ex:22-58), so a later candidate would get an
  earlier one's results back; `output_to_file` and `file_ops` write under the output dir, and
  Claude steps work in `./workspace` by default. Each execution therefore gets fresh
  directories under `System.tmp_dir!/0`, removed afterwards:

    * `Pipeline.execute/2` options `checkpoint_dir:`, `output_dir:`, `workspace_dir:` (which
      take precedence over the workflow's keys: executor.ex:136-162);
    * inline nested `pipeline`s get the same as workflow keys (`checkpoint_dir`,
      `workspace_dir`, `defaults.output_dir`), since pipeline_ex runs them without options
      (nested_pipeline.ex:331-337); a nested `pipeline_file` cannot be reached and uses its own;
    * Claude steps without `claude_options.cwd` get the workspace as their `cwd` (the SDK's
      default is `./workspace`: claude_provider.ex:49, enhanced_claude_provider.ex:64).
  """

  alias Pipeline.DSPy.Executor
  alias Pipeline.DSPy.Executor.PipelineEx.LMSettings

  @typedoc "What `create/0` made: the root and the three directories in it, and its watcher."
  @type t :: %{
          required(:root) => Path.t(),
          required(:checkpoint_dir) => Path.t(),
          required(:output_dir) => Path.t(),
          required(:workspace_dir) => Path.t(),
          optional(:watcher) => pid
        }

  @claude ~w(claude claude_smart claude_session claude_extract claude_robust claude_batch)

  @doc """
  Creates fresh directories; returns `%{root, checkpoint_dir, output_dir, workspace_dir}`.
  They are removed by `remove/1`, or when the calling process dies first (an execution killed
  on timeout or cancel never reaches its `after`): a small watcher process sees to that.
  """
  @spec create() :: t
  def create do
    root = Path.join(System.tmp_dir!(), "pipeline_dspy_run_#{System.unique_integer([:positive])}")

    dirs = %{
      root: root,
      checkpoint_dir: Path.join(root, "checkpoints"),
      output_dir: Path.join(root, "outputs"),
      workspace_dir: Path.join(root, "workspace")
    }

    Enum.each([dirs.checkpoint_dir, dirs.output_dir, dirs.workspace_dir], &File.mkdir_p!/1)
    Map.put(dirs, :watcher, watch(self(), root))
  end

  @doc "Removes what `create/0` made."
  @spec remove(t) :: {:ok, [Path.t()]} | {:error, File.posix(), Path.t()}
  def remove(%{root: root} = dirs) do
    if pid = dirs[:watcher], do: send(pid, :removed)
    File.rm_rf(root)
  end

  defp watch(owner, root) do
    spawn(fn ->
      ref = Process.monitor(owner)

      receive do
        :removed -> :ok
        {:DOWN, ^ref, _, _, _} -> File.rm_rf(root)
      end
    end)
  end

  @doc "The `Pipeline.execute/2` options for `dirs`."
  @spec execute_opts(t) :: [checkpoint_dir: Path.t(), output_dir: Path.t(), workspace_dir: Path.t()]
  def execute_opts(dirs),
    do: [
      checkpoint_dir: dirs.checkpoint_dir,
      output_dir: dirs.output_dir,
      workspace_dir: dirs.workspace_dir
    ]

  @doc "`config` with inline nested pipelines and Claude working directories pointed at `dirs`."
  @spec apply(Executor.workflow(), t) :: Executor.workflow()
  def apply(config, dirs) do
    LMSettings.map_steps(config, fn
      %{"type" => "pipeline", "pipeline" => %{} = inline} = s ->
        Map.put(s, "pipeline", nested(inline, dirs))

      %{"type" => t} = s when t in @claude ->
        o = if is_map(s["claude_options"]), do: s["claude_options"], else: %{}

        if Map.has_key?(o, "cwd"),
          do: s,
          else: Map.put(s, "claude_options", Map.put(o, "cwd", dirs.workspace_dir))

      s ->
        s
    end)
  end

  defp nested(%{"workflow" => %{} = wf} = p, dirs), do: Map.put(p, "workflow", nested(wf, dirs))

  defp nested(wf, dirs) do
    defaults = if is_map(wf["defaults"]), do: wf["defaults"], else: %{}

    wf
    |> Map.put("checkpoint_dir", dirs.checkpoint_dir)
    |> Map.put("workspace_dir", dirs.workspace_dir)
    |> Map.put("defaults", Map.put(defaults, "output_dir", dirs.output_dir))
  end
end
