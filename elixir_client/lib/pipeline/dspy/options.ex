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
    client_info: {:map, nil}
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
  end

  def validate!(other),
    do:
      raise(ArgumentError, "Pipeline.DSPy options must be a keyword list, got: #{inspect(other)}")

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
  defp describe(:backoff), do: "{min_ms, max_ms} with 0 < min_ms <= max_ms"

  defp describe(:executor),
    do:
      "a module implementing Pipeline.DSPy.Executor (execute/3), {module, opts} or a 3-arity function"
end
