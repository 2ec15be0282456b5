defmodule Pipeline.DSPy.CLI do
  @moduledoc false
  # Shared plumbing of the mix tasks: strict flag parsing with clear errors, starting a
  # private instance, loading a workflow file.

  alias Pipeline.DSPy.{JSON, Options}

  @instance Pipeline.DSPy.CLI

  @doc """
  OptionParser in strict mode; unknown/invalid flags and stray arguments raise Mix.Error.
  `--help` or `-h` anywhere prints the task's documentation and returns `:help` (the task
  then does nothing else: exit status 0).
  """
  @spec parse!(String.t(), [String.t()], keyword, [atom]) :: keyword | :help
  def parse!(task, args, switches, required) do
    if Enum.any?(args, &(&1 in ["--help", "-h"])) do
      Mix.shell().info(help(task))
      :help
    else
      parse_flags!(task, args, switches, required)
    end
  end

  @doc "The documentation of `mix TASK`: its moduledoc (else its shortdoc)."
  @spec help(String.t()) :: String.t()
  def help(task) do
    module = Mix.Task.get!(task)

    doc =
      case Code.fetch_docs(module) do
        {:docs_v1, _, _, _, %{"en" => doc}, _, _} -> doc
        _ -> Mix.Task.shortdoc(module) || "(no documentation)"
      end

    "mix #{task}\n\n" <> String.trim_trailing(doc)
  end

  defp parse_flags!(task, args, switches, required) do
    {opts, rest, invalid} = OptionParser.parse(args, strict: switches)

    cond do
      invalid != [] ->
        flags = Enum.map_join(invalid, ", ", fn {f, v} -> if v, do: "#{f} #{v}", else: f end)

        Mix.raise(
          "mix #{task}: invalid option(s): #{flags}. Valid: #{flag_list(switches)} (--help for more)"
        )

      rest != [] ->
        Mix.raise(
          "mix #{task}: unexpected argument(s): #{Enum.join(rest, " ")}. Valid: #{flag_list(switches)}"
        )

      true ->
        for key <- required, not Keyword.has_key?(opts, key) do
          Mix.raise("mix #{task}: --#{flag(key)} is required. Valid: #{flag_list(switches)}")
        end

        opts
    end
  end

  defp flag(key), do: key |> Atom.to_string() |> String.replace("_", "-")

  defp flag_list(switches),
    do:
      Enum.map_join(switches, " ", fn {k, t} ->
        "--#{flag(k)}#{if t != :boolean, do: " #{t |> to_string() |> String.upcase()}"}"
      end)

  @doc "The absolute path of `--FLAG PATH`, which must be a regular file (else Mix.Error)."
  @spec file!(String.t(), String.t(), Path.t()) :: Path.t()
  def file!(task, flag, path) do
    abs = Path.expand(path)

    unless File.regular?(abs),
      do: Mix.raise("mix #{task}: --#{flag} #{path}: no such file (#{abs})")

    abs
  end

  @doc "The absolute path of `--FLAG PATH`, which must be a directory (else Mix.Error)."
  @spec dir!(String.t(), String.t(), Path.t()) :: Path.t()
  def dir!(task, flag, path) do
    abs = Path.expand(path)

    unless File.dir?(abs),
      do: Mix.raise("mix #{task}: --#{flag} #{path}: no such directory (#{abs})")

    abs
  end

  @doc """
  Makes this node distributed for a task that talks to other nodes: a name on the same host
  form as `peer` (long names when its host has a dot), epmd started if needed, and `cookie`
  when given.
  """
  @spec ensure_distributed!(String.t(), node, String.t() | nil) :: :ok
  def ensure_distributed!(task, peer, cookie) do
    unless Node.alive?() do
      host = peer |> Atom.to_string() |> String.split("@") |> List.last()
      mode = if String.contains?(host, "."), do: :longnames, else: :shortnames
      System.cmd("epmd", ["-daemon"], stderr_to_stdout: true)
      name = :"dspy_#{System.unique_integer([:positive])}@#{host}"

      case Node.start(name, mode) do
        {:ok, _} ->
          :ok

        {:error, reason} ->
          Mix.raise("mix #{task}: cannot start distribution as #{name}: #{inspect(reason)}")
      end
    end

    if cookie, do: Node.set_cookie(String.to_atom(cookie))
    :ok
  end

  @cluster Pipeline.DSPy.CLI.Cluster

  @doc "The flags of the tasks that run a pipeline: the run's and the cluster's."
  @spec run_switches() :: OptionParser.switches()
  def run_switches do
    [
      pipeline: :string,
      training_data: :string,
      lm: :string,
      metric: :string,
      concurrency: :integer,
      seed: :integer,
      run_id: :string,
      budget_usd: :float,
      timeout_min: :integer,
      cluster_nodes: :string,
      cluster_per_node: :integer,
      cookie: :string
    ]
  end

  @doc "Checks the values of `run_switches/0` the parser cannot (ranges); raises Mix.Error."
  @spec check_run_flags!(String.t(), keyword) :: :ok
  def check_run_flags!(task, opts) do
    if (b = opts[:budget_usd]) && b <= 0, do: Mix.raise("mix #{task}: --budget-usd must be > 0")
    if (c = opts[:concurrency]) && c < 1, do: Mix.raise("mix #{task}: --concurrency must be >= 1")
    if (t = opts[:timeout_min]) && t < 1, do: Mix.raise("mix #{task}: --timeout-min must be >= 1")
    :ok
  end

  @doc """
  `--cluster-nodes a@host,b@host [--cluster-per-node N] [--cookie C]`: makes this node
  distributed, starts a cluster executor over those nodes and returns the run's `executor:`
  option (`nil` without `--cluster-nodes`).
  """
  @spec cluster_executor!(String.t(), keyword) :: {module, atom} | nil
  def cluster_executor!(task, opts) do
    case opts[:cluster_nodes] do
      nil ->
        nil

      list ->
        nodes =
          list |> String.split(",", trim: true) |> Enum.map(&String.to_atom(String.trim(&1)))

        if nodes == [], do: Mix.raise("mix #{task}: --cluster-nodes needs at least one node name")

        per_node = opts[:cluster_per_node] || 8
        if per_node < 1, do: Mix.raise("mix #{task}: --cluster-per-node must be >= 1")

        ensure_distributed!(task, hd(nodes), opts[:cookie])

        case Pipeline.DSPy.Executor.Cluster.start_link(
               name: @cluster,
               nodes: nodes,
               per_node: per_node
             ) do
          {:ok, pid} -> Process.unlink(pid)
          {:error, {:already_started, _}} -> :ok
        end

        {Pipeline.DSPy.Executor.Cluster, @cluster}
    end
  end

  @doc "Prints where the executions ran (when a cluster was used) and stops the cluster."
  @spec cluster_summary({module, atom} | nil) :: :ok
  def cluster_summary(nil), do: :ok

  def cluster_summary({_, name}) do
    case Process.whereis(name) do
      nil ->
        :ok

      pid ->
        st = Pipeline.DSPy.Executor.Cluster.stats(name)

        per_node =
          st.nodes
          |> Enum.sort()
          |> Enum.map_join(", ", fn {n, %{dispatched: d}} -> "#{n} #{d}" end)

        Mix.shell().info(
          "cluster: executions per node: #{per_node}; retried after a node loss: #{st.retries}; not retried: #{st.not_retried}"
        )

        GenServer.stop(pid)
    end
  end

  @doc "Starts a private Pipeline.DSPy instance for the task (options from the app env)."
  @spec start_instance!(String.t(), keyword) :: Pipeline.DSPy.server()
  def start_instance!(task, extra \\ []) do
    {:ok, _} = Application.ensure_all_started(:pipeline_dspy)
    # A command-line run shows its own progress: keep library debug lines and the sidecar's
    # info-level JSON logs off the terminal unless the user asked for them.
    if Logger.level() in [:debug, :info], do: Logger.configure(level: :warning)
    sidecar_log = System.get_env("ELEXIRION_LOG_LEVEL") || "warn"

    opts =
      Keyword.merge(
        [name: @instance, telemetry: false, env: [{"ELEXIRION_LOG_LEVEL", sidecar_log}]],
        extra
      )

    case Pipeline.DSPy.start_link(opts) do
      {:ok, pid} ->
        Process.unlink(pid)
        wait_ready!(task, System.monotonic_time(:millisecond) + 15_000)
        @instance

      {:error, {:already_started, _}} ->
        @instance

      {:error, reason} ->
        Mix.raise("mix #{task}: cannot start the sidecar: #{format_reason(reason)}")
    end
  rescue
    e in ArgumentError -> Mix.raise("mix #{task}: #{Exception.message(e)}")
  end

  defp wait_ready!(task, deadline) do
    cond do
      Pipeline.DSPy.status(@instance) == :ready ->
        :ok

      System.monotonic_time(:millisecond) > deadline ->
        Mix.raise("mix #{task}: the sidecar did not become ready")

      true ->
        Process.sleep(20)
        wait_ready!(task, deadline)
    end
  end

  defp format_reason({{:shutdown, {:failed_to_start_child, _, msg}}, _}) when is_binary(msg),
    do: msg

  defp format_reason({:shutdown, {:failed_to_start_child, _, msg}}) when is_binary(msg), do: msg
  defp format_reason(r), do: inspect(r)

  @doc "Stops the task's instance, if it runs."
  @spec stop_instance() :: :ok
  def stop_instance do
    case Process.whereis(@instance) do
      nil -> :ok
      pid -> Supervisor.stop(pid)
    end
  end

  @doc """
  Loads a workflow file: `.json` with our codec; `.yaml`/`.yml` through Node and the js-yaml
  the sidecar itself depends on (this side has no YAML parser), run from the repository root.
  """
  @spec load_workflow!(String.t(), Path.t()) :: map
  def load_workflow!(task, path) do
    case Path.extname(path) do
      ext when ext in [".yaml", ".yml"] ->
        load_yaml!(task, path)

      _ ->
        case decode_json_file!(task, path) do
          m when is_map(m) -> m
          _ -> Mix.raise("mix #{task}: #{path} is not a JSON object")
        end
    end
  end

  @doc "The JSON value in the file at `path` (Mix.Error when it is not JSON)."
  @spec decode_json_file!(String.t(), Path.t()) :: JSON.value()
  def decode_json_file!(task, path) do
    case JSON.decode(File.read!(path)) do
      {:ok, v} -> v
      {:error, e} -> Mix.raise("mix #{task}: #{path} is not valid JSON: #{Exception.message(e)}")
    end
  end

  defp load_yaml!(task, path) do
    root = Path.dirname(Path.dirname(Options.default_script()))

    node =
      System.find_executable("node") ||
        Mix.raise("mix #{task}: node not found on PATH (needed to read YAML)")

    script = ~S"""
    const y = require('js-yaml'); const fs = require('fs');
    process.stdout.write(JSON.stringify(y.load(fs.readFileSync(process.argv[1], 'utf8'))));
    """

    case System.cmd(node, ["-e", script, path], cd: root, stderr_to_stdout: true) do
      {out, 0} ->
        case JSON.decode(out) do
          {:ok, m} when is_map(m) -> m
          _ -> Mix.raise("mix #{task}: #{path} is not a YAML mapping")
        end

      {out, _} ->
        Mix.raise(
          "mix #{task}: cannot read YAML #{path}: #{out |> String.split("\n") |> Enum.take(6) |> Enum.join("\n")}"
        )
    end
  end

  @doc "What to print for the reason of an `{:error, reason}`."
  @spec error_message(Pipeline.DSPy.Error.t() | term) :: String.t()
  def error_message(%Pipeline.DSPy.Error{} = e), do: Exception.message(e)
  def error_message(other), do: inspect(other)
end
