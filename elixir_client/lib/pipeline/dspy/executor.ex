defmodule Pipeline.DSPy.Executor do
  @moduledoc """
  The behaviour of whatever runs one candidate pipeline when the sidecar asks
  (`pipeline/execute`), and the runner that wraps it.

      @callback execute(config :: map, input :: map, context :: map) ::
                  {:ok, result :: map} | {:error, reason :: term}

  `config` is the workflow map as sent by the sidecar (string keys, the `workflow` root
  included when the file has one), `input` the example's inputs (string keys). `context`:

    * `:server` - the `Pipeline.DSPy` instance name (to call `Pipeline.DSPy.generate/2` back)
    * `:run_id`, `:candidate_id`, `:example_id`, `:lm` - from `params.context` (may be `nil`)
    * `:rollout_id`, `:temperature` - set when the optimizer asks for a fresh sample on purpose
      (BootstrapFewShot's later rounds): pass them to every LM call of the execution
    * `:timeout_ms` - the execution's deadline
    * `:executor_opts` - the `opts` of an `{module, opts}` executor
    * `:request` - `params.context` as received

  The result may use atom or string keys, camelCase or snake_case; it is normalised to the
  wire shape of `pipeline/execute` (docs/CONTRACTS.md):

      %{"status" => "ok" | "error",
        "steps" => %{STEP => %{"text" => ..., "output" => ..., "success" => bool,
                              "skipped" => bool, "reason" => ..., "metadata" => %{...},
                              "durationMs" => ..., "usage" => ...}},
        "output" => any, "durationMs" => ms, "usage" => %{...}, "externalUsage" => %{...},
        "order" => [STEP], "calls" => [%{"path" => ..., ...}], "error" => "..."}

  A step's keys other than these (cost, model, session_id, ...) are engine metadata: they go
  to `metadata`, never to `output`.

  A result that is not the wire shape (decided by shape: see `normalize/3`) is taken as
  pipeline_ex's own shape (a map of step name => step result) and read as
  `Pipeline.DSPy.Executor.PipelineEx.Result` describes. `{:error, reason}` becomes `status: "error"` (a failed
  candidate, scored as such), while a raise/exit/throw becomes a JSON-RPC error `-32603`.

  Executions emit telemetry (see `Pipeline.DSPy.Telemetry`):
  `[:pipeline, :execution, :start]`, `[:pipeline, :execution, :stop]` and
  `[:pipeline, :execution, :exception]`.
  """

  alias Pipeline.DSPy.{JSON, Telemetry}

  @typedoc "A workflow map as the sidecar sends it: string keys, the `workflow` root included when the file has one."
  @type workflow :: map

  @typedoc "An example's inputs (string keys)."
  @type inputs :: map

  @typedoc "What an execution is told about itself (the keys are listed above)."
  @type context :: map

  @typedoc "What an executor returns: a result in any of the accepted shapes, or a failed candidate."
  @type result :: {:ok, map} | {:error, term}

  @typedoc "The wire result of `pipeline/execute` (docs/CONTRACTS.md): string keys, JSON values."
  @type wire_result :: %{optional(String.t()) => term}

  @typedoc "A request's answer: the encoded result, or a JSON-RPC error (code, message, data)."
  @type reply :: {:result, iodata} | {:error, integer, String.t(), term}

  @typedoc """
  Where a reply goes: the sidecar's port, the request's encoded id, the claim word and the
  job number it holds while nobody has answered.
  """
  @type reply_to :: {port, iodata, :atomics.atomics_ref(), non_neg_integer}

  @callback execute(config :: workflow, input :: inputs, context :: context) :: result

  @doc """
  Optional. For an executor given to one run as `{module, opts}` (the `executor:` option of
  `Pipeline.DSPy.optimize/2` and `evaluate/2`): `:as_is` to use it as it is, `{:start,
  child_spec, to_executor}` when the run needs a process of its own (started under the
  instance for the run's duration, stopped when the run ends; `to_executor.(pid)` is the
  executor its executions use), or `{:error, message}` for `opts` it refuses (the run is
  not started; the caller gets `:invalid_option` naming `executor`).
  """
  @callback for_run(opts :: term) ::
              :as_is | {:start, Supervisor.child_spec(), (pid -> t)} | {:error, String.t()}

  @optional_callbacks for_run: 1

  @type t :: module | {module, term} | (workflow, inputs, context -> result)

  @doc """
  Runs `executor` on the params of a `pipeline/execute` request (called in a task by the
  connection). Returns `{:result, iodata}` (the encoded result) or
  `{:error, code, message, data}`.
  """
  @spec run_request(t, map, map) :: reply
  def run_request(executor, params, base_ctx) do
    config = params["config"] || %{}
    inputs = params["inputs"] || %{}
    req_ctx = if is_map(params["context"]), do: params["context"], else: %{}

    context = %{
      server: base_ctx[:server],
      run_id: req_ctx["runId"],
      candidate_id: req_ctx["candidateId"],
      example_id: req_ctx["exampleId"],
      lm: req_ctx["lm"],
      rollout_id: req_ctx["rolloutId"],
      temperature: req_ctx["temperature"],
      timeout_ms: params["timeoutMs"],
      request: req_ctx
    }

    case execute(executor, config, inputs, context) do
      {:ok, wire} ->
        case JSON.encode_to_iodata(wire) do
          {:ok, io} ->
            {:result, io}

          {:error, e} ->
            {:error, -32603, "executor result is not JSON-encodable: #{Exception.message(e)}",
             nil}
        end

      {:crash, message} ->
        {:error, -32603, message, nil}
    end
  end

  @doc false
  # Runs the request (in a worker or task) and writes its reply frame straight to the
  # sidecar's port, which saves the reply a hop through the connection process. `claim` is
  # an :atomics word holding `job` while nobody has answered: the connection swaps it on
  # timeout or cancel, this swaps it here; only the winner writes, so a request still gets
  # exactly one reply. Returns `:replied` or `:too_late` (the connection answered).
  @spec run_and_reply(t, map, map, reply_to) :: :replied | :too_late
  def run_and_reply(executor, params, ctx, {port, key, claim, job}) do
    reply = run_request(executor, params, ctx)

    if :atomics.compare_exchange(claim, 1, job, 0) == :ok do
      frame =
        case reply do
          {:result, io} -> Pipeline.DSPy.Connection.result_frame(key, io)
          {:error, code, msg, data} -> Pipeline.DSPy.Connection.error_frame(key, code, msg, data)
        end

      try do
        Port.command(port, frame)
      rescue
        # the sidecar is gone: the connection fails everything and restarts it
        ArgumentError -> false
      end

      :replied
    else
      :too_late
    end
  end

  @doc """
  Runs an executor with telemetry and normalisation. Returns `{:ok, wire_result}` (also for
  an executor's `{:error, reason}`, as `status: "error"`) or `{:crash, message}`.
  """
  @spec execute(t, workflow, inputs, context) :: {:ok, wire_result} | {:crash, String.t()}
  def execute(executor, config, inputs, context) do
    meta = %{
      pipeline_name: pipeline_name(config),
      run_id: context[:run_id],
      candidate_id: context[:candidate_id],
      example_id: context[:example_id],
      executor: describe(executor),
      input: inputs
    }

    start = System.monotonic_time()
    Telemetry.emit([:pipeline, :execution, :start], %{system_time: System.system_time()}, meta)

    try do
      call(executor, config, inputs, context)
    catch
      kind, reason ->
        duration = System.monotonic_time() - start
        stack = __STACKTRACE__

        Telemetry.emit(
          [:pipeline, :execution, :exception],
          %{duration: duration, duration_ms: ms(duration)},
          Map.merge(meta, %{kind: kind, reason: Exception.format_banner(kind, reason, stack)})
        )

        {:crash, "executor crashed: " <> Exception.format_banner(kind, reason, stack)}
    else
      result ->
        duration = System.monotonic_time() - start
        wire = normalize(result, ms(duration), config)

        Telemetry.emit(
          [:pipeline, :execution, :stop],
          %{duration: duration, duration_ms: ms(duration)},
          Map.merge(meta, %{status: wire["status"], result: wire, success: wire["status"] == "ok"})
        )

        {:ok, wire}
    end
  end

  defp call(fun, config, inputs, context) when is_function(fun, 3),
    do: fun.(config, inputs, context)

  defp call({mod, opts}, config, inputs, context),
    do: mod.execute(config, inputs, Map.put(context, :executor_opts, opts))

  defp call(mod, config, inputs, context) when is_atom(mod),
    do: mod.execute(config, inputs, context)

  defp describe(f) when is_function(f), do: "function"
  defp describe({m, _}), do: describe(m)
  # what inspect/1 prints for a module, without the Inspect protocol (a few µs per execution)
  defp describe(m) when is_atom(m) do
    case Atom.to_string(m) do
      "Elixir." <> alias -> alias
      _erlang_module -> inspect(m)
    end
  end

  defp describe(m), do: inspect(m)

  defp ms(native), do: System.convert_time_unit(native, :native, :microsecond) / 1000

  @doc false
  @spec pipeline_name(workflow | term) :: term
  def pipeline_name(config) do
    case config do
      %{"workflow" => %{"name" => n}} -> n
      %{"name" => n} -> n
      %{workflow: %{name: n}} -> n
      _ -> nil
    end
  end

  @wire_keys ~w(status steps output durationMs duration_ms usage error order calls externalUsage state)
  @statuses [
    "ok",
    "success",
    :ok,
    :success,
    "completed",
    "error",
    "failed",
    "failure",
    :error,
    "partial"
  ]

  @doc """
  Normalises an executor's return value to the wire result of `pipeline/execute`. `config` (the
  workflow map) tells a pipeline_ex step map how its steps ran (see
  `Pipeline.DSPy.Executor.PipelineEx.Result`).

  Which shape a map is gets decided by its shape, not by a key being present: it is the wire
  shape when `status` holds a status (`"ok"`, `"error"`, ...; a pipeline_ex step named
  `status` holds a result map), or when every key is a wire key and none holds a step result
  (a map with `success`, `text` or `skipped`). Otherwise it is pipeline_ex's step map, so a
  workflow whose steps are named `output`, `status` or `steps` keeps its steps. Executors
  that know what they return should say so: the PipelineEx executor returns the wire shape
  with `status`. A step map is taken as pipeline_ex's results, so the cost it reports is
  `externalUsage` (charged to the run): an executor whose LM calls went through
  `Pipeline.DSPy.generate/2` must return the wire shape instead.
  """
  @spec normalize(term, number, workflow | nil) :: wire_result
  def normalize(result, duration_ms, config \\ nil)

  def normalize({:ok, result}, duration_ms, config) when is_map(result) do
    r = stringify_keys(result)

    if wire_shape?(r) do
      normalize_wire(r, duration_ms)
    else
      r
      |> Pipeline.DSPy.Executor.PipelineEx.Result.to_wire(config)
      |> Map.put("durationMs", duration_ms)
    end
  end

  def normalize({:ok, other}, duration_ms, _config),
    do: %{
      "status" => "ok",
      "steps" => %{},
      "output" => jsonable(other),
      "durationMs" => duration_ms
    }

  def normalize({:error, reason}, duration_ms, _config),
    do: %{
      "status" => "error",
      "steps" => %{},
      "output" => nil,
      "durationMs" => duration_ms,
      "error" => to_string_error(reason)
    }

  def normalize(other, duration_ms, _config),
    do: %{
      "status" => "error",
      "steps" => %{},
      "output" => nil,
      "durationMs" => duration_ms,
      "error" =>
        "executor returned #{inspect(other, limit: 10)} instead of {:ok, result} | {:error, reason}"
    }

  defp wire_shape?(r) do
    cond do
      r["status"] in @statuses -> true
      Map.has_key?(r, "status") -> false
      map_size(r) == 0 -> true
      true -> Enum.all?(r, fn {k, v} -> k in @wire_keys and not step_result?(v) end)
    end
  end

  defp step_result?(v) when is_map(v) and not is_struct(v) do
    s = stringify_keys(v)
    Map.has_key?(s, "success") or Map.has_key?(s, "text") or Map.has_key?(s, "skipped")
  end

  defp step_result?(_), do: false

  defp normalize_wire(r, duration_ms) do
    steps = Map.new(r["steps"] || %{}, fn {name, s} -> {to_string(name), step(s)} end)
    order = order(r["order"], steps)

    %{
      "status" => status(r["status"], steps),
      "steps" => steps,
      "output" =>
        if(Map.has_key?(r, "output"), do: jsonable(r["output"]), else: last_output(order, steps)),
      "durationMs" => r["durationMs"] || r["duration_ms"] || duration_ms
    }
    |> maybe_put("usage", usage(r["usage"]) || sum_usage(steps))
    |> maybe_put("externalUsage", usage(r["externalUsage"]))
    |> maybe_put("order", order)
    |> maybe_put("calls", if(is_list(r["calls"]), do: Enum.map(r["calls"], &call/1)))
    |> maybe_put("error", r["error"] && to_string_error(r["error"]))
  end

  defp order(list, steps) when is_list(list) do
    names = Enum.map(list, &to_string/1)
    if Enum.all?(names, &Map.has_key?(steps, &1)), do: names, else: nil
  end

  defp order(_, _), do: nil

  defp call(c) when is_map(c) do
    c = stringify_keys(c)

    c
    |> Map.take(["path", "prompt", "iteration"])
    |> Map.merge(step(Map.drop(c, ["path", "prompt", "iteration"])))
    |> Map.update("path", "", &to_string/1)
    |> jsonable()
  end

  defp status(s, _steps) when s in ["ok", "success", :ok, :success, "completed"], do: "ok"
  defp status(s, _steps) when s in ["error", "failed", "failure", :error, "partial"], do: "error"

  defp status(_, steps),
    do: if(Enum.any?(steps, fn {_, s} -> s["success"] == false end), do: "error", else: "ok")

  # keys of a step result that are part of the wire step; anything else an executor returns
  # (cost, model, session_id, ...) is engine metadata, never the output
  @step_keys ~w(text content response output success skipped reason metadata durationMs
                duration_ms usage)

  defp step(s) when is_map(s) do
    s = stringify_keys(s)

    if s["skipped"] == true do
      maybe_put(
        %{"success" => true, "skipped" => true},
        "reason",
        s["reason"] && to_string_error(s["reason"])
      )
    else
      text = Enum.find([s["text"], s["content"], s["response"]], &is_binary/1)
      extra = Map.drop(s, @step_keys)

      meta =
        Map.merge(extra, if(is_map(s["metadata"]), do: stringify_keys(s["metadata"]), else: %{}))

      %{"success" => Map.get(s, "success", true) != false}
      |> maybe_put("text", text)
      |> maybe_put("output", if(Map.has_key?(s, "output"), do: jsonable(s["output"])))
      |> maybe_put("reason", (is_binary(s["reason"]) && s["reason"]) || nil)
      |> maybe_put("metadata", if(meta == %{}, do: nil, else: jsonable(meta)))
      |> maybe_put("durationMs", s["durationMs"] || s["duration_ms"])
      |> maybe_put("usage", usage(s["usage"]) || cost_usage(s["cost"]))
    end
  end

  defp step(s) when is_binary(s), do: %{"success" => true, "text" => s}
  defp step(s), do: %{"success" => true, "output" => jsonable(s)}

  defp usage(u) when is_map(u) do
    u = stringify_keys(u)

    %{
      "inputTokens" => u["inputTokens"] || u["input_tokens"] || 0,
      "outputTokens" => u["outputTokens"] || u["output_tokens"] || 0,
      "costUsd" => u["costUsd"] || u["cost_usd"] || u["cost"] || 0
    }
  end

  defp usage(_), do: nil

  defp cost_usage(c) when is_number(c),
    do: %{"inputTokens" => 0, "outputTokens" => 0, "costUsd" => c}

  defp cost_usage(_), do: nil

  defp sum_usage(steps) do
    us = for {_, %{"usage" => u}} <- steps, do: u

    if us == [],
      do: nil,
      else:
        Enum.reduce(us, %{"inputTokens" => 0, "outputTokens" => 0, "costUsd" => 0}, fn u, acc ->
          Map.merge(acc, u, fn _k, a, b -> a + b end)
        end)
  end

  # Without `output` the answer is the last step run: known from `order`, or when there is
  # only one step. Step maps are unordered, so nothing else is guessed.
  defp last_output(order, steps) do
    names = order || if(map_size(steps) == 1, do: Map.keys(steps), else: [])
    Pipeline.DSPy.Executor.PipelineEx.Result.output_of(names, steps)
  end

  defp maybe_put(m, _k, nil), do: m
  defp maybe_put(m, k, v), do: Map.put(m, k, v)

  defp to_string_error(e) when is_binary(e), do: e
  defp to_string_error(e) when is_exception(e), do: Exception.message(e)
  defp to_string_error(e), do: inspect(e)

  @doc false
  @spec stringify_keys(map) :: %{optional(String.t()) => term}
  def stringify_keys(%_{} = s), do: s |> Map.from_struct() |> stringify_keys()
  def stringify_keys(m) when is_map(m), do: Map.new(m, fn {k, v} -> {to_string(k), v} end)

  @doc "Makes any term JSON-encodable: atom keys to strings, tuples to lists, others inspected."
  @spec jsonable(term) :: JSON.value()
  def jsonable(v) when is_binary(v) or is_number(v) or is_boolean(v) or is_nil(v), do: v
  def jsonable(v) when is_atom(v), do: Atom.to_string(v)
  def jsonable(v) when is_list(v), do: Enum.map(v, &jsonable/1)

  def jsonable(%mod{} = v) when mod in [Date, Time, NaiveDateTime, DateTime],
    do: mod.to_iso8601(v)

  def jsonable(%_{} = v), do: v |> Map.from_struct() |> jsonable()
  def jsonable(v) when is_map(v), do: Map.new(v, fn {k, val} -> {key(k), jsonable(val)} end)
  def jsonable(v) when is_tuple(v), do: v |> Tuple.to_list() |> jsonable()
  def jsonable(v), do: inspect(v)

  defp key(k) when is_binary(k), do: k
  defp key(k) when is_atom(k) or is_number(k), do: to_string(k)
  defp key(k), do: inspect(k)
end
