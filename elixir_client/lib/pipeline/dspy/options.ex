defmodule Pipeline.DSPy.Options do
  @moduledoc """
  Validation of the options of `Pipeline.DSPy.start_link/1` (a tiny stand-in for
  NimbleOptions, which cannot be fetched here). Unknown keys and wrong types are rejected
  with an `ArgumentError` that names the option, what it got and what it expects.

  | option | type | default | meaning |
  |---|---|---|---|
  | `:name` | atom | `Pipeline.DSPy` | instance name; pass it as `server` to every function so several instances can run |
  | `:node` | string | `"node"` found on `PATH` | the Node executable (a path or a name looked up on `PATH`) |
  | `:script` | string | `<repo>/dist/cli.js` (or `config :pipeline_dspy, :script`) | the sidecar's entry script |
  | `:args` | list of strings | `["serve"]` | arguments after the script |
  | `:command` | list of strings | `nil` | full command `[exe \| args]`; replaces `:node`, `:script` and `:args` |
  | `:env` | map or keyword of strings | `%{}` | extra environment for the sidecar |
  | `:cd` | string | `nil` | working directory of the sidecar |
  | `:stderr` | `:inherit` or `{:file, path}` | `:inherit` | where the sidecar's stderr (its pino logs) goes: the BEAM's own stderr, or appended to a file (through `/bin/sh -c 'exec ... 2>>path'`) |
  | `:framing` | `:packet4` | `:packet4` | the Port framing: 4-byte big-endian length, Erlang `{:packet, 4}`, the sidecar's default |
  | `:executor` | module, `{module, opts}` or 3-arity fun | `Pipeline.DSPy.Executor.Reference` | runs `pipeline/execute` callbacks |
  | `:request_timeout` | pos integer (ms) | `30_000` | default timeout of a request to the sidecar |
  | `:execute_timeout` | pos integer (ms) | `60_000` | `pipeline/execute` timeout when the request carries no `timeoutMs` |
  | `:init_timeout` | pos integer (ms) | `10_000` | how long the `initialize` handshake may take |
  | `:restart_backoff` | `{min_ms, max_ms}` | `{100, 5_000}` | delay before restarting a dead sidecar, doubled per failed attempt up to max |
  | `:telemetry` | boolean | `true` | forward `[:pipeline, ...]` telemetry events to the sidecar |
  | `:telemetry_buffer` | pos integer | `10_000` | max events queued for forwarding; more are dropped and counted |
  | `:telemetry_batch` | pos integer | `1_000` | max events per `telemetry/events` notification |
  | `:telemetry_flush_ms` | pos integer | `5` | flush interval of the forwarder |
  | `:client_info` | map | `%{name: "pipeline_dspy", version: ...}` | `clientInfo` sent in `initialize` |
  | `:data_dir` | string | `nil`: the sidecar's default, `<its cwd>/.elexirion` | the sidecar's data directory (execution store, promoted configs, ledger; PROTOCOL.md §7), passed as `ELEXIRION_DATA_DIR` (made absolute against the BEAM's cwd). One live sidecar per directory: give each instance its own |
  | `:learning` | keyword or map | `nil` (the sidecar's defaults: enabled, no pipelines registered) | continuous learning, sent as `initialize` `options.learning` (see below) |

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

  @default_script Path.expand("../../../../dist/cli.js", __DIR__)

  @schema [
    name: {:atom, Pipeline.DSPy},
    node: {:string, "node"},
    script: {:string, nil},
    args: {{:list, :string}, ["serve"]},
    command: {{:list, :string}, nil},
    env: {:env, %{}},
    cd: {:string, nil},
    stderr: {:stderr, :inherit},
    framing: {{:in, [:packet4]}, :packet4},
    executor: {:executor, Pipeline.DSPy.Executor.Reference},
    request_timeout: {:pos_integer, 30_000},
    execute_timeout: {:pos_integer, 60_000},
    init_timeout: {:pos_integer, 10_000},
    restart_backoff: {:backoff, {100, 5_000}},
    telemetry: {:boolean, true},
    telemetry_buffer: {:pos_integer, 10_000},
    telemetry_batch: {:pos_integer, 1_000},
    telemetry_flush_ms: {:pos_integer, 5},
    client_info: {:map, nil},
    data_dir: {:string, nil},
    learning: {:learning, nil}
  ]

  @doc "The sidecar script used when none is given: `dist/cli.js` at this repository's root."
  def default_script, do: Application.get_env(:pipeline_dspy, :script, @default_script)

  @doc "Validates `opts`, fills defaults, returns a map. Raises `ArgumentError` on bad input."
  @spec validate!(keyword) :: map
  def validate!(opts) when is_list(opts) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "Pipeline.DSPy options must be a keyword list, got: #{inspect(opts)}"
    end

    known = Keyword.keys(@schema)

    for {k, _} <- opts, k not in known do
      raise ArgumentError,
            "unknown option #{inspect(k)} for Pipeline.DSPy; known options: #{inspect(known)}"
    end

    app_env = Application.get_all_env(:pipeline_dspy)

    map =
      Map.new(@schema, fn {key, {type, default}} ->
        value = Keyword.get(opts, key, Keyword.get(app_env, key, default))
        if value != nil, do: check!(key, type, value)
        {key, value}
      end)

    map
    |> Map.update!(:script, &(&1 || default_script()))
    |> Map.update!(:env, &Map.new(&1, fn {k, v} -> {to_string(k), to_string(v)} end))
    |> Map.update!(:client_info, &(&1 || %{name: "pipeline_dspy", version: version()}))
    |> Map.update!(:data_dir, &(&1 && Path.expand(&1)))
    |> Map.update!(:learning, &(&1 && learning!(&1)))
  end

  def validate!(other),
    do:
      raise(ArgumentError, "Pipeline.DSPy options must be a keyword list, got: #{inspect(other)}")

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
    do: raise(ArgumentError, "invalid value for option :#{where} of Pipeline.DSPy: #{what}")

  @doc false
  # Keyword lists and maps to string-keyed maps, atom keys snake_case -> camelCase; lists of
  # other terms and scalars as they are.
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

  defp check!(key, type, value) do
    unless valid?(type, value) do
      raise ArgumentError,
            "invalid value for option #{inspect(key)} of Pipeline.DSPy: expected #{describe(type)}, got: #{inspect(value)}"
    end
  end

  defp valid?(:atom, v), do: is_atom(v) and v not in [nil, true, false]
  defp valid?(:string, v), do: is_binary(v) and v != ""
  defp valid?(:boolean, v), do: is_boolean(v)
  defp valid?(:map, v), do: is_map(v)
  defp valid?(:pos_integer, v), do: is_integer(v) and v > 0
  defp valid?({:list, t}, v), do: is_list(v) and Enum.all?(v, &valid?(t, &1))
  defp valid?({:in, list}, v), do: v in list
  defp valid?(:env, v) when is_map(v), do: Enum.all?(v, &env_pair?/1)
  defp valid?(:env, v) when is_list(v), do: Enum.all?(v, &env_pair?/1)
  defp valid?(:env, _), do: false
  defp valid?(:stderr, :inherit), do: true
  defp valid?(:stderr, {:file, p}), do: is_binary(p)
  defp valid?(:stderr, _), do: false

  defp valid?(:backoff, {a, b}), do: is_integer(a) and is_integer(b) and a > 0 and b >= a
  defp valid?(:backoff, _), do: false
  defp valid?(:learning, v) when is_map(v), do: true
  defp valid?(:learning, v), do: is_list(v) and Keyword.keyword?(v)

  defp valid?(:executor, f) when is_function(f, 3), do: true
  defp valid?(:executor, {m, _opts}) when is_atom(m), do: executor_module?(m)
  defp valid?(:executor, m) when is_atom(m), do: executor_module?(m)
  defp valid?(:executor, _), do: false

  defp executor_module?(m),
    do: Code.ensure_loaded?(m) and function_exported?(m, :execute, 3)

  defp env_pair?({k, v}),
    do: (is_binary(k) or is_atom(k)) and (is_binary(v) or is_atom(v) or is_number(v))

  defp env_pair?(_), do: false

  defp describe(:atom), do: "an atom"
  defp describe(:string), do: "a non-empty string"
  defp describe(:boolean), do: "a boolean"
  defp describe(:map), do: "a map"
  defp describe(:pos_integer), do: "a positive integer"
  defp describe({:list, t}), do: "a list of #{describe(t)}s"
  defp describe({:in, l}), do: "one of #{inspect(l)}"
  defp describe(:env), do: "a map or keyword list of name => string value"
  defp describe(:stderr), do: ":inherit or {:file, path}"
  defp describe(:learning), do: "a keyword list or map (see the :learning section)"
  defp describe(:backoff), do: "{min_ms, max_ms} with 0 < min_ms <= max_ms"

  defp describe(:executor),
    do:
      "a module implementing Pipeline.DSPy.Executor (execute/3), {module, opts} or a 3-arity function"
end
