defmodule Pipeline.DSPy.Options.Evaluate do
  use Pipeline.DSPy.Options.Schema,
    context: "evaluate/2",
    intro: """
    Options of `Pipeline.DSPy.evaluate/2` and `Pipeline.DSPy.evaluate_async/2`: those of
    `optimize/2` that apply to scoring the pipeline as written (the table is generated from
    the schema they are validated with). A bad one returns
    `{:error, %Pipeline.DSPy.Error{reason: :invalid_option}}` naming it, before anything is sent.
    """,
    schema:
      Keyword.drop(Pipeline.DSPy.Options.Optimize.schema(), [
        :optimizer,
        :optimizer_options,
        :dry_run,
        :out,
        :name,
        :write_anyway,
        :report
      ])
end
