defmodule Pipeline.DSPy.OptionsTest do
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.Options

  test "defaults: this repository's dist/cli.js, node serve, packet4" do
    o = Options.validate!([])
    assert o.script == Path.expand("../dist/cli.js", File.cwd!())
    assert o.args == ["serve"]
    assert o.framing == :packet4
    assert o.name == Pipeline.DSPy
    assert o.executor == Pipeline.DSPy.Executor.Reference
  end

  test "bad options raise with the option name and what was expected" do
    bad = [
      {[bogus: 1], "unknown option :bogus"},
      {[request_timeout: 0], "request_timeout must be a positive integer, got 0"},
      {[executor: String], "executor must be a module implementing"},
      {[executor: fn x -> x end], "3-arity"},
      {[restart_backoff: {10, 5}], "min_ms <= max_ms"},
      {[stderr: :devnull], ":inherit or {:file, path}"},
      {[framing: :content_length], "framing must be one of :packet4"},
      {[env: [{"A", self()}]], "env must be a map or keyword list"},
      {[name: "x"], ~s(name must be an atom, got "x")},
      {[requst_timeout: 1], "did you mean request_timeout?"}
    ]

    for {opts, msg} <- bad do
      e = assert_raise ArgumentError, fn -> Options.validate!(opts) end
      assert e.message =~ msg, "#{inspect(opts)}: #{e.message}"
    end

    assert_raise ArgumentError, ~r/keyword list/, fn -> Options.validate!(%{}) end
  end

  test "env normalised to strings; executor forms accepted" do
    o =
      Options.validate!(
        env: [FOO: 1],
        executor: {Pipeline.DSPy.Executor.Reference, base_dir: "/"}
      )

    assert o.env == %{"FOO" => "1"}
    assert Options.validate!(executor: fn _, _, _ -> {:ok, %{}} end).executor
  end

  test "a missing sidecar script fails the start with a clear message" do
    assert {:error, {{:shutdown, {:failed_to_start_child, :connection, msg}}, _}} =
             start_supervised(
               {Pipeline.DSPy, name: :dspy_no_script, script: "/nonexistent/cli.js"}
             )

    assert msg =~ "/nonexistent/cli.js"
    assert msg =~ "npm run build"
  end

  test "a sidecar that never becomes ready: requests fail with :sidecar_unavailable at their timeout" do
    name = :"dspy_false_#{System.unique_integer([:positive])}"

    start_supervised!(
      {Pipeline.DSPy,
       name: name, command: [System.find_executable("false")], restart_backoff: {50, 100}}
    )

    assert {:error, %Pipeline.DSPy.Error{reason: :sidecar_unavailable}} =
             Pipeline.DSPy.request(name, "ping", %{}, timeout: 200)
  end

  test "a node executable that does not exist: requests fail with :sidecar_unavailable, the instance stays up" do
    name = :"dspy_nonode_#{System.unique_integer([:positive])}"

    {:ok, sup} =
      start_supervised(
        {Pipeline.DSPy, name: name, node: "no-such-node-binary", restart_backoff: {50, 100}}
      )

    assert {:error, %Pipeline.DSPy.Error{reason: :sidecar_unavailable}} =
             Pipeline.DSPy.request(name, "ping", %{}, timeout: 300)

    assert Process.alive?(sup)
  end

  describe ":learning and :data_dir" do
    @yaml Path.expand("../../../../examples/code_analysis/pipeline.yaml", __DIR__)
    @data Path.expand("../../../../examples/code_analysis/training_data", __DIR__)

    test "the wire form: camelCase keys, absolute paths, data_dir made absolute" do
      rel_yaml = Path.relative_to(@yaml, File.cwd!())
      rel_data = Path.relative_to(@data, File.cwd!())

      o =
        Options.validate!(
          data_dir: "tmp/dd",
          learning: [
            enabled: true,
            lm: "offline",
            example_threshold: 7.5,
            pipelines: %{
              "code_analysis" => [path: rel_yaml, training_data: rel_data, val_fraction: 0.3]
            },
            schedule: [time_zone: "Europe/Paris", daily: "0 2 * * *", weekly: nil],
            policy: %{baseline_success_rate: 0.9, min_new_examples: 5},
            guard: [margin: 0.01]
          ]
        )

      assert o.data_dir == Path.join(File.cwd!(), "tmp/dd")

      assert o.learning == %{
               "enabled" => true,
               "lm" => "offline",
               "exampleThreshold" => 7.5,
               "pipelines" => %{
                 "code_analysis" => %{
                   "path" => @yaml,
                   "trainingData" => @data,
                   "valFraction" => 0.3
                 }
               },
               "schedule" => %{
                 "timeZone" => "Europe/Paris",
                 "daily" => "0 2 * * *",
                 "weekly" => nil
               },
               "policy" => %{"baselineSuccessRate" => 0.9, "minNewExamples" => 5},
               "guard" => %{"margin" => 0.01}
             }

      assert Options.validate!([]).learning == nil
      assert Options.validate!(learning: []).learning == %{}
    end

    test "bad learning options name the field" do
      bad = [
        {[learning: :on], "learning must be a keyword list or map"},
        {[learning: [enabeld: true]], ~s("enabeld" is not a learning option)},
        {[learning: [enabled: "yes"]], "learning.enabled: expected a boolean"},
        {[learning: [pipelines: [:x]]], "learning.pipelines: expected a map"},
        {[learning: [pipelines: %{"p" => [training_data: @data]}]],
         "learning.pipelines.p.path: expected the pipeline YAML path"},
        {[learning: [pipelines: %{"p" => [path: "/nope.yaml"]}]], "no such file: /nope.yaml"},
        {[learning: [pipelines: %{"p" => [path: @yaml, training_data: "/nope"]}]],
         "learning.pipelines.p.training_data: no such directory"},
        {[learning: [schedule: "daily"]], "learning.schedule: expected a keyword list"},
        {[learning: [example_threshold: "8"]], "learning.example_threshold: expected a number"},
        {[data_dir: ""], ~s(data_dir must be a non-empty string, got "")}
      ]

      for {opts, msg} <- bad do
        e = assert_raise ArgumentError, fn -> Options.validate!(opts) end
        assert e.message =~ msg, "#{inspect(opts)}: #{e.message}"
      end
    end
  end
end
