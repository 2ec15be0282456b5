defmodule Pipeline.DSPy.Options do
  @default_script Path.expand("../../../../dist/cli.js", __DIR__)

  alias Pipeline.DSPy.Options.Schema

  @schema [
    name: [
      type: :atom,
      default: Pipeline.DSPy,
      doc: "instance name; pass it as `server` to every function so several instances can run"
    ],
    node: [
      type: :string,
      default: "node",
      doc_default: "`\"node\"` found on `PATH`",
      doc: "the Node executable (a path or a name looked up on `PATH`)"
    ],
    script: [
      type: :string,
      doc_default: "`<repo>/dist/cli.js` (or `config :pipeline_dspy, :script`)",
      doc: "the sidecar's entry script"
    ],
    args: [type: {:list, :string}, default: ["serve"], doc: "arguments after the script"],
    command: [
      type: {:list, :string},
      doc: "full command `[exe | args]`; replaces `:node`, `:script` and `:args`"
    ],
    env: [
      type: {:custom, {__MODULE__, :env?}, "a map or keyword list of name => string value"},
      default: %{},
      doc: "extra environment for the sidecar"
    ],
    cd: [type: :string, doc: "working directory of the sidecar"],
    stderr: [
      type: {:custom, {__MODULE__, :stderr?}, ":inherit or {:file, path}"},
      default: :inherit,
      doc:
        "where the sidecar's stderr (its pino logs) goes: the BEAM's own stderr, or appended to a file (through `/bin/sh -c 'exec ... 2>>path'`)"
    ],
    framing: [
      type: {:in, [:packet4]},
      default: :packet4,
      doc:
        "the Port framing: 4-byte big-endian length, Erlang `{:packet, 4}`, the sidecar's default"
    ],
    executor: [
      type:
        {:custom, {__MODULE__, :executor?},
         "a module implementing Pipeline.DSPy.Executor (execute/3), {module, opts} or a 3-arity function"},
      default: Pipeline.DSPy.Executor.Reference,
      doc: "runs `pipeline/execute` callbacks"
    ],
    request_timeout: [
      type: :pos_integer,
      default: 30_000,
      doc: "default timeout (ms) of a request to the sidecar"
    ],
    execute_timeout: [
      type: :pos_integer,
      default: 60_000,
      doc: "`pipeline/execute` timeout (ms) when the request carries no `timeoutMs`"
    ],
    init_timeout: [
      type: :pos_integer,
      default: 10_000,
      doc: "how long (ms) the `initialize` handshake may take"
    ],
    restart_backoff: [
      type: {:custom, {__MODULE__, :backoff?}, "{min_ms, max_ms} with 0 < min_ms <= max_ms"},
      default: {100, 5_000},
      doc: "delay before restarting a dead sidecar, doubled per failed attempt up to max"
    ],
    telemetry: [
      type: :boolean,
      default: true,
      doc: "forward `[:pipeline, ...]` telemetry events to the sidecar"
    ],
    telemetry_buffer: [
      type: :pos_integer,
      default: 10_000,
      doc: "max events queued for forwarding; more are dropped and counted"
    ],
    telemetry_batch: [
      type: :pos_integer,
      default: 1_000,
      doc: "max events per `telemetry/events` notification"
    ],
    telemetry_flush_ms: [type: :pos_integer, default: 5, doc: "flush interval of the forwarder"],
    client_info: [
      type: :map,
      doc_default: "`%{name: \"pipeline_dspy\", version: ...}`",
      doc: "`clientInfo` sent in `initialize`"
    ],
    data_dir: [
      type: :string,
      doc_default: "the sidecar's default, `<its cwd>/.elexirion`",
      doc:
        "the sidecar's data directory (execution store, promoted configs, ledger; PROTOCOL.md §7), passed as `ELEXIRION_DATA_DIR` (made absolute against the BEAM's cwd). One live sidecar per directory: give each instance its own"
    ],
    learning: [
      type: :keyword_or_map,
      doc_default: "the sidecar's defaults: enabled, no pipelines registered",
      doc: "continuous learning, sent as `initialize` `options.learning` (see below)"
    ]
  ]

  @moduledoc """
  The options of `Pipeline.DSPy.start_link/1`, validated by `Pipeline.DSPy.Options.Schema`
  (a tiny stand-in for NimbleOptions, which cannot be fetched here) against the schema this
  table is generated from. Unknown keys and wrong types are rejected with an
  `ArgumentError` that names the option, what it got and what it expects.

  Each function's own options have a schema and a table of their own, validated the same
  way (a bad one returns `{:error, %Pipeline.DSPy.Error{reason: :invalid_option}}`):
  `Pipeline.DSPy.Options.Optimize`, `Pipeline.DSPy.Options.Evaluate`,
  `Pipeline.DSPy.Options.Generate`, `Pipeline.DSPy.Options.OptimizeNow`,
  `Pipeline.DSPy.Options.Request`.

  #{Pipeline.DSPy.Options.Schema.docs(@schema)}

  ## `:learning`

  Keys (atoms in snake_case or strings in the wire's camelCase; PROTOCOL.md §8 has the
  semantics and defaults):

    * `:enabled` - boolean (default `true`); `false` makes `telemetry/*` and `learning/*`
      answer errors and drops forwarded events
    * `:pipelines` - map of pipeline name (the name telemetry reports, `metadata.pipeline_name`)
      to a keyword or map with `:path` (the pipeline YAML; required) and optionally
      `:training_data` (a directory), `:metric`, `:optimizer` (`%{name: ..., options: ...}`),
      `:lm`, `:seed`, `:val_fraction`, `:budget`, `:concurrency`, `:execution_timeout_ms`.
      `:path` and `:training_data` are made absolute against the BEAM's cwd (and must exist)
    * `:schedule` - `timeZone`/`:time_zone` (IANA), `:daily`, `:weekly`, `:feedback`
      (cron expressions, or `nil` to disable that job)
    * `:policy` - `:baseline_success_rate`, `:min_new_examples`
    * `:guard` - `:margin`, `:confidence`, `:resamples`, `:seed`, `:min_examples`
    * `:example_threshold` - number (default 8.0)
    * `:lm` - LM spec the runs use by default (e.g. `"offline"`)

  Example:

      {Pipeline.DSPy,
       data_dir: "/var/lib/my_app/elexirion",
       learning: [
         pipelines: %{
           "code_analysis" => [path: "pipelines/code_analysis.yaml",
                               training_data: "training_data/code_analysis"]
         },
         schedule: [time_zone: "Europe/Paris", daily: "0 2 * * *"],
         guard: [margin: 0.02]
       ]}

  Atom keys at any depth under `:learning` are converted from snake_case to camelCase
  (`:min_new_examples` -> `"minNewExamples"`); string keys are sent as written. The sidecar
  validates the rest: a bad value makes it refuse `initialize` and the error (naming the
  field) is logged.
  """

  @doc "The schema of the start options (see `Pipeline.DSPy.Options.Schema`)."
  @spec schema() :: Schema.t()
  def schema, do: @schema

  @doc "The sidecar script used when none is given: `dist/cli.js` at this repository's root."
  @spec default_script() :: Path.t()
  def default_script, do: Application.get_env(:pipeline_dspy, :script, @default_script)

  @doc "Validates `opts`, fills defaults, returns a map. Raises `ArgumentError` on bad input."
  @spec validate!(keyword) :: map
  def validate!(opts) do
    # the app env (`config :pipeline_dspy, ...`) fills what the caller did not pass
    app_env = Application.get_all_env(:pipeline_dspy) |> Keyword.take(Keyword.keys(@schema))

    with true <- is_list(opts) and Keyword.keyword?(opts),
         {:ok, valid} <- Schema.validate(opts, @schema, "Pipeline.DSPy"),
         {:ok, from_env} <- Schema.validate(app_env, @schema, "config :pipeline_dspy") do
      map = Map.new(@schema, fn {key, _} -> {key, nil} end)

      map
      |> Map.merge(Map.new(Keyword.drop(from_env, Keyword.keys(opts))))
      |> Map.merge(Map.new(valid))
      |> Map.update!(:script, &(&1 || default_script()))
      |> Map.update!(:env, &Map.new(&1, fn {k, v} -> {to_string(k), to_string(v)} end))
      |> Map.update!(:client_info, &(&1 || %{name: "pipeline_dspy", version: version()}))
      |> Map.update!(:data_dir, &(&1 && Path.expand(&1)))
      |> Map.update!(:learning, &(&1 && learning!(&1)))
    else
      false ->
        raise ArgumentError,
              "Pipeline.DSPy options must be a keyword list, got: #{inspect(opts)}"

      {:error, message} ->
        raise ArgumentError, "invalid option for Pipeline.DSPy: #{message}"
    end
  end

  @doc false
  # A function's options against its schema: the error a caller can match on.
  @spec validate_call(term, Schema.t(), String.t()) ::
          {:ok, keyword} | {:error, Pipeline.DSPy.Error.t()}
  def validate_call(opts, schema, context) do
    case Schema.validate(opts, schema, context) do
      {:ok, valid} -> {:ok, valid}
      {:error, message} -> {:error, Pipeline.DSPy.Error.new(:invalid_option, message)}
    end
  end

  @learning_keys ~w(enabled pipelines schedule policy guard exampleThreshold lm)

  # The wire form of :learning (string camelCase keys, absolute paths).
  defp learning!(learning) do
    wire = wire_map(Map.new(learning))

    for {k, _} <- wire, k not in @learning_keys do
      bad!(
        "learning",
        "#{inspect(k)} is not a learning option (known: #{Enum.join(@learning_keys, ", ")})"
      )
    end

    if Map.has_key?(wire, "enabled") and not is_boolean(wire["enabled"]),
      do: bad!("learning.enabled", "expected a boolean, got: #{inspect(wire["enabled"])}")

    for key <- ~w(schedule policy guard), Map.has_key?(wire, key), not is_map(wire[key]) do
      bad!("learning.#{key}", "expected a keyword list or map, got: #{inspect(wire[key])}")
    end

    if Map.has_key?(wire, "exampleThreshold") and not is_number(wire["exampleThreshold"]),
      do:
        bad!(
          "learning.example_threshold",
          "expected a number, got: #{inspect(wire["exampleThreshold"])}"
        )

    case Map.fetch(wire, "pipelines") do
      :error ->
        wire

      {:ok, pipelines} when is_map(pipelines) ->
        Map.put(wire, "pipelines", Map.new(pipelines, &learning_pipeline!/1))

      {:ok, other} ->
        bad!(
          "learning.pipelines",
          "expected a map of name => [path: ...], got: #{inspect(other)}"
        )
    end
  end

  defp learning_pipeline!({name, entry}) do
    name = to_string(name)
    where = "learning.pipelines.#{name}"

    unless is_map(entry),
      do: bad!(where, "expected a keyword list or map with :path, got: #{inspect(entry)}")

    entry =
      case entry["path"] do
        p when is_binary(p) and p != "" ->
          abs = Path.expand(p)
          unless File.regular?(abs), do: bad!("#{where}.path", "no such file: #{abs}")
          Map.put(entry, "path", abs)

        other ->
          bad!(
            "#{where}.path",
            "expected the pipeline YAML path (a string), got: #{inspect(other)}"
          )
      end

    case entry["trainingData"] do
      nil ->
        {name, entry}

      d when is_binary(d) ->
        abs = Path.expand(d)
        unless File.dir?(abs), do: bad!("#{where}.training_data", "no such directory: #{abs}")
        {name, Map.put(entry, "trainingData", abs)}

      other ->
        bad!("#{where}.training_data", "expected a directory (a string), got: #{inspect(other)}")
    end
  end

  defp bad!(where, what),
    do: raise(ArgumentError, "invalid option for Pipeline.DSPy: #{where}: #{what}")

  @doc false
  # Keyword lists and maps to string-keyed maps, atom keys snake_case -> camelCase; lists of
  # other terms and scalars as they are.
  @spec wire_map(term) :: term
  def wire_map(v) when is_map(v), do: Map.new(v, fn {k, val} -> {wire_key(k), wire_map(val)} end)

  def wire_map([{k, _} | _] = v) when is_atom(k) do
    if Keyword.keyword?(v), do: wire_map(Map.new(v)), else: Enum.map(v, &wire_map/1)
  end

  def wire_map(v) when is_list(v), do: Enum.map(v, &wire_map/1)
  def wire_map(v), do: v

  defp wire_key(k) when is_atom(k) do
    [first | rest] = k |> Atom.to_string() |> String.split("_")
    Enum.join([first | Enum.map(rest, &String.capitalize/1)])
  end

  defp wire_key(k), do: to_string(k)

  defp version do
    case Application.spec(:pipeline_dspy, :vsn) do
      nil -> "0.1.0"
      v -> to_string(v)
    end
  end

  @doc false
  @spec env?(term) :: boolean
  def env?(v) when is_map(v) or is_list(v), do: Enum.all?(v, &env_pair?/1)
  def env?(_), do: false

  @doc false
  @spec stderr?(term) :: boolean
  def stderr?(:inherit), do: true
  def stderr?({:file, p}), do: is_binary(p)
  def stderr?(_), do: false

  @doc false
  @spec backoff?(term) :: boolean
  def backoff?({a, b}), do: is_integer(a) and is_integer(b) and a > 0 and b >= a
  def backoff?(_), do: false

  @doc false
  @spec executor?(term) :: boolean
  def executor?(f) when is_function(f, 3), do: true
  def executor?({m, _opts}) when is_atom(m), do: executor_module?(m)
  def executor?(m) when is_atom(m), do: executor_module?(m)
  def executor?(_), do: false

  defp executor_module?(m),
    do: Code.ensure_loaded?(m) and function_exported?(m, :execute, 3)

  defp env_pair?({k, v}),
    do: (is_binary(k) or is_atom(k)) and (is_binary(v) or is_atom(v) or is_number(v))

  defp env_pair?(_), do: false
end
