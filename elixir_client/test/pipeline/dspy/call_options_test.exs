defmodule Pipeline.DSPy.CallOptionsTest do
  # Each function's options are validated against its own schema before anything is sent;
  # errors name the option as the caller wrote it, sidecar errors included.
  use Pipeline.DSPy.SidecarCase, async: true

  alias Pipeline.DSPy.Options
  alias Pipeline.DSPy.Options.{Optimize, Run, Schema}

  # No instance is running under this name: a validation error must come first (anything
  # sent would fail with :sidecar_exited / :sidecar_unavailable instead).
  @nobody :no_such_dspy_instance

  defp invalid(fun, args) do
    assert {:error, %Error{reason: :invalid_option, message: message}} =
             apply(Pipeline.DSPy, fun, args)

    message
  end

  describe "per-call validation" do
    test "a wrong type names the option as written, the expectation and the value" do
      assert invalid(:optimize, ["p.yaml", [budget_usd: "2", server: @nobody]]) ==
               ~s(budget_usd must be a positive number, got "2")

      assert invalid(:optimize_async, ["p.yaml", [budget_usd: 0, server: @nobody]]) ==
               "budget_usd must be a positive number, got 0"

      assert invalid(:optimize, ["p.yaml", [concurrency: 0, server: @nobody]]) =~
               "concurrency must be a positive integer, got 0"

      assert invalid(:optimize, ["p.yaml", [val_fraction: 1.0, server: @nobody]]) =~
               "val_fraction must be a number between 0 and 1"

      assert invalid(:optimize, ["p.yaml", [write_anyway: "yes", server: @nobody]]) ==
               ~s(write_anyway must be a boolean, got "yes")

      assert invalid(:evaluate, ["p.yaml", [seed: 1.5, server: @nobody]]) ==
               "seed must be an integer, got 1.5"

      assert invalid(:evaluate_async, ["p.yaml", [on_progress: fn -> :ok end, server: @nobody]]) =~
               "on_progress must be a function of arity 1"

      assert invalid(:generate, ["hi", [temperature: "hot", server: @nobody]]) ==
               ~s(temperature must be a non-negative number, got "hot")

      assert invalid(:generate, ["hi", [stop: "END", server: @nobody]]) ==
               ~s(stop must be a list of non-empty strings, got "END")

      assert invalid(:optimize_now, ["p", [mode: :heavy, server: @nobody]]) =~
               "mode must be one of :light, :full"

      assert invalid(:current_config, ["p", [timeout: -1, server: @nobody]]) =~
               "timeout must be a positive integer (ms) or :infinity, got -1"

      assert invalid(:request, [@nobody, "ping", %{}, [timeout: "soon"]]) =~ "timeout must be"
    end

    test "nested budget keys are checked and named parent.child" do
      assert invalid(:optimize, ["p.yaml", [budget: [max_calls: -2], server: @nobody]]) ==
               "budget.max_calls must be a non-negative integer, got -2"

      assert invalid(:optimize, ["p.yaml", [budget: %{max_calsl: 2}, server: @nobody]]) =~
               "unknown option :max_calsl in budget for optimize/2 (did you mean max_calls?)"

      assert invalid(:optimize, ["p.yaml", [budget: 5, server: @nobody]]) =~
               "budget must be a keyword list or map, got 5"
    end

    test "an unknown key is refused, naming the closest known option" do
      assert invalid(:optimize, ["p.yaml", [budjet_usd: 2, server: @nobody]]) ==
               "unknown option :budjet_usd for optimize/2 (did you mean budget_usd?)"

      assert invalid(:generate, ["hi", [max_token: 5, server: @nobody]]) =~
               "(did you mean max_tokens?)"

      # options of another call are not options of this one
      assert invalid(:evaluate, ["p.yaml", [optimizer: "MIPROv2", server: @nobody]]) =~
               "unknown option :optimizer for evaluate/2"

      # nothing close: the known options are listed
      msg = invalid(:optimize, ["p.yaml", [zzz: 1, server: @nobody]])
      assert msg =~ "unknown option :zzz for optimize/2; known: training_data, optimizer"
      assert msg =~ "write_anyway"

      assert invalid(:optimize, ["p.yaml", [:not_a_keyword]]) =~ "must be a keyword list"
    end

    test "valid options reach the connection (the error is then about the instance)" do
      assert {:error, %Error{reason: reason}} =
               Pipeline.DSPy.optimize(%{"workflow" => %{}},
                 budget_usd: 2,
                 write_anyway: true,
                 server: @nobody,
                 lm: nil
               )

      assert reason != :invalid_option
    end
  end

  describe "wire params" do
    test "write_anyway, dry_run, budget and the run options map to the wire's fields" do
      {:ok, opts} =
        Optimize.validate(
          training_data: [%{input: %{"a" => 1}, expected_output: %{"b" => 2}}],
          optimizer: :mipro_v2,
          optimizer_options: [max_rounds: 2],
          dry_run: true,
          budget: [max_calls: 10],
          budget_usd: 1.5,
          write_anyway: true,
          val_fraction: 0.3,
          execution_timeout_ms: 5_000,
          run_id: "r1",
          out: "rel/out"
        )

      {:ok, p} = Run.to_params(%{"workflow" => %{}}, opts)
      assert p["writeAnyway"] == true

      assert p["optimizer"] == %{
               "name" => "mipro_v2",
               "options" => %{"maxRounds" => 2, "dryRun" => true}
             }

      assert p["budget"] == %{"maxCalls" => 10, "maxUsd" => 1.5}
      assert p["valFraction"] == 0.3
      assert p["executionTimeoutMs"] == 5_000
      assert p["runId"] == "r1"
      assert p["outDir"] == Path.expand("rel/out")

      assert p["trainingData"] == %{
               "examples" => [%{"input" => %{"a" => 1}, "expected_output" => %{"b" => 2}}]
             }

      # defaults send nothing the caller did not ask for
      {:ok, opts} = Optimize.validate([])
      assert {:ok, %{"pipeline" => _} = bare} = Run.to_params(%{"workflow" => %{}}, opts)
      assert map_size(bare) == 1
    end

    test "every param of the optimize wire schema has an option" do
      schema =
        Path.join(repo_root(), "protocol/schemas/optimize.params.json")
        |> File.read!()
        |> Pipeline.DSPy.JSON.decode!()

      dir = System.tmp_dir!()

      {:ok, opts} =
        Optimize.validate(
          training_data: dir,
          optimizer: "MIPROv2",
          metric: "exact_match",
          lm: "offline",
          reflection_lm: "dummy",
          budget: [max_calls: 1, max_tokens: 2, max_usd: 3, max_wall_ms: 4],
          seed: 1,
          out: dir,
          run_id: "r",
          concurrency: 2,
          val_fraction: 0.5,
          steps: ["a"],
          signatures: %{"a" => "x -> y"},
          name: "n",
          execution_timeout_ms: 1,
          write_anyway: true,
          report: false
        )

      {:ok, params} = Run.to_params(%{"workflow" => %{}}, opts)

      # progressToken is the connection's; writeAnyway is the seam fixed in CONTRACTS.md
      wire = Map.keys(schema["properties"]) -- ["progressToken"]
      assert wire -- Map.keys(params) == []
      assert Map.has_key?(params, "writeAnyway")
      assert params["reflectionLm"] == "dummy"
      budget_wire = Map.keys(schema["properties"]["budget"]["properties"])
      assert Enum.sort(budget_wire) == Enum.sort(Map.keys(params["budget"]))
    end

    test "training_data: a directory that does not exist is named" do
      {:ok, opts} = Optimize.validate(training_data: "/no/such/dir")

      assert {:error,
              %Error{
                reason: :invalid_option,
                message: "training_data: no such directory: /no/such/dir"
              }} = Run.to_params(%{"workflow" => %{}}, opts)
    end
  end

  describe "sidecar errors name the options" do
    test "wire paths are translated back to the options the caller wrote" do
      for {path, name} <- [
            {["budget", "maxUsd"], "budget_usd"},
            {["budget", "maxCalls"], "budget.max_calls"},
            {["trainingData"], "training_data"},
            {["trainingData", "examples", 0, "expected_output"],
             "training_data.examples.0.expected_output"},
            {["outDir"], "out"},
            {["optimizer", "name"], "optimizer"},
            {["optimizer", "options", "maxRounds"], "optimizer_options.max_rounds"},
            {["optimizer", "options", "dryRun"], "dry_run"},
            {["metric", "options", "threshold"], "metric_options.threshold"},
            {["valFraction"], "val_fraction"},
            {["writeAnyway"], "write_anyway"},
            {["reflectionLm"], "reflection_lm"},
            {["options", "maxTokens"], "max_tokens"}
          ] do
        assert Run.option_name(path) == name, inspect(path)
      end

      e =
        Error.from_jsonrpc(%{
          "code" => -32602,
          "message" => "Invalid params: budget.maxUsd: Too small; trainingData: Invalid input",
          "data" => %{
            "issues" => [
              %{"path" => ["budget", "maxUsd"], "message" => "Too small"},
              %{"path" => ["trainingData"], "message" => "Invalid input"}
            ]
          }
        })

      assert e.reason == :invalid_params
      assert e.message == "Invalid params: budget_usd: Too small; training_data: Invalid input"
      # the wire paths stay available to code
      assert [%{"path" => ["budget", "maxUsd"]} | _] = e.data["issues"]
    end

    test "from the real sidecar" do
      {name, _} = start_instance()

      # valid here (params is the escape hatch), refused by the sidecar's schema
      assert {:error, %Error{reason: :invalid_params, message: msg}} =
               Pipeline.DSPy.optimize(%{"workflow" => %{"name" => "w", "steps" => []}},
                 params: %{"trainingData" => %{"nope" => 1}, "valFraction" => 7},
                 server: name,
                 timeout: 10_000
               )

      assert msg =~ "training_data"
      assert msg =~ "val_fraction"
      refute msg =~ "trainingData"
      refute msg =~ "valFraction"
    end
  end

  describe "documentation generated from the schemas" do
    test "each option set's moduledoc has a row for each of its options, with its type" do
      for mod <- [
            Options,
            Options.Optimize,
            Options.Evaluate,
            Options.Generate,
            Options.OptimizeNow,
            Options.Request
          ] do
        {:docs_v1, _, _, _, %{"en" => doc}, _, _} = Code.fetch_docs(mod)

        for {key, spec} <- mod.schema() do
          assert doc =~
                   "| `:#{key}` | #{String.replace(Schema.describe(spec[:type]), "|", "\\|")} |",
                 "#{inspect(mod)} lacks #{key}"
        end

        assert doc =~ "| option | type | default | meaning |"
      end

      {:docs_v1, _, _, _, %{"en" => doc}, _, _} = Code.fetch_docs(Options)
      assert doc =~ "| `:request_timeout` | a positive integer | `30000` |"

      {:docs_v1, _, _, _, %{"en" => doc}, _, _} = Code.fetch_docs(Options.Optimize)
      assert doc =~ "| `:budget.max_usd` | a non-negative number |"
    end
  end
end
