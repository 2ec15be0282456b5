defmodule Pipeline.DSPy.ReferenceTemplateTest do
  # The template engine and condition engine of the Reference executor against
  # pipeline_ex's own (state/variable_engine.ex, condition/engine.ex at ff625ec).
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.Executor.Reference.Conditions
  alias Pipeline.DSPy.Template

  defp ctx(extra \\ %{}) do
    state =
      Template.set_variables(
        Template.new_state(),
        %{"i" => 4, "name" => "n", "nested" => %{"k" => "v"}},
        :global
      )

    Map.merge(
      %{
        results: %{
          "a" => %{"text" => "hello", "score" => 8, "tags" => ["x", "y"], "meta" => %{}},
          "p" => %{"result" => %{"out" => "inner"}}
        },
        variable_state: state,
        global_vars: %{"lang" => "ex", "deep" => %{"x" => 1}}
      },
      extra
    )
  end

  describe "Template (variable_engine.ex)" do
    test "state, bare names, arithmetic and functions (298-330, 412-558, 676-721)" do
      c = ctx()

      assert Template.interpolate_string(
               "{{state.i - 1}}/{{i * 2}}/{{state.missing + 1}}/{{state.nested.k}}/{{name}}",
               c
             ) == "3/8/1/v/n"

      assert Template.interpolate_string(
               "{{divide(i, 0)}}|{{add(state.i, 2.5)}}|{{round(3.6)}}",
               c
             ) == "0|6.5|4"
    end

    test "global_vars take one flat key; steps paths fall back into result (661-674, 332-399)" do
      c = ctx()

      assert Template.interpolate_string("{{global_vars.lang}}|{{global_vars.deep.x}}", c) ==
               "ex|{{global_vars.deep.x}}"

      assert Template.interpolate_string("{{steps.p.out}}|{{steps.a.text}}|{{steps.a.nope}}", c) ==
               "inner|hello|{{steps.a.nope}}"
    end

    test "with :inputs a whole template keeps its type; without, inputs are kept as written (144-162, 632-659)" do
      assert Template.interpolate_data(
               %{"n" => "{{inputs.n}}", "s" => "n={{inputs.n}}"},
               ctx(%{inputs: %{"n" => 3}})
             ) == %{"n" => 3, "s" => "n=3"}

      assert Template.interpolate_data(%{"n" => "{{inputs.n}}"}, ctx()) == %{
               "n" => "{{inputs.n}}"
             }

      assert Template.interpolate_data(%{"t" => "{{steps.a.tags}}"}, ctx(%{inputs: %{}})) == %{
               "t" => ["x", "y"]
             }

      # a list of strings interpolated into text is run together (to_string/1)
      assert Template.interpolate_string("{{steps.a.tags}}", ctx()) == "xy"
    end
  end

  describe "Conditions (condition/engine.ex)" do
    test "comparisons over step results, literals and .length (209-272, 512-560)" do
      c = ctx()
      assert Conditions.evaluate("a.score >= 8", c)
      refute Conditions.evaluate("a.score > 8", c)
      assert Conditions.evaluate("a.text == 'hello'", c)
      assert Conditions.evaluate("a.text contains 'ell'", c)
      assert Conditions.evaluate("a.text matches '^hel'", c)
      # a `*` makes it arithmetic first (68-87): the pattern becomes a type error, no match
      refute Conditions.evaluate("a.text matches '^h.*o$'", c)
      assert Conditions.evaluate("a.score between 1 and 9", c)
      assert Conditions.evaluate("a.tags.length == 2", c)
      # strings with numbers never order (compare_values/3, 567-583)
      refute Conditions.evaluate("a.text > 1", c)
    end

    test "truthiness, maps, lists and arithmetic with precedence (49-119, 341-368, 618-625)" do
      c = ctx()
      refute Conditions.evaluate("a.meta", c)
      assert Conditions.evaluate("a.text", c)
      assert Conditions.evaluate(["a.text", %{"not" => "a.meta"}], c)
      assert Conditions.evaluate("a.score * 2 - 6 == 10", c)
      assert Conditions.evaluate("length(a.tags) > 1", c)
      refute Conditions.evaluate(%{"or" => ["a.meta", "a.nope"]}, c)
    end

    test "a string has no and/or: the right side is a path (121-165)" do
      refute Conditions.evaluate("a.score > 1 and a.score < 100", ctx())
    end

    test "unsupported condition functions are named; templates are ignored" do
      assert Conditions.unsupported_functions(%{
               "and" => ["any(a.tags) == 1", "length(a.tags) > 0", "{{max(1, 2)}} > 1"]
             }) == ["any"]
    end
  end
end
