defmodule Pipeline.DSPy.Options.Optimize do
  use Pipeline.DSPy.Options.Schema,
    context: "optimize/2",
    intro: """
    Options of `Pipeline.DSPy.optimize/2` and `Pipeline.DSPy.optimize_async/2` (the table is
    generated from the schema they are validated with). A bad one returns
    `{:error, %Pipeline.DSPy.Error{reason: :invalid_option}}` naming it, before anything is sent.
    """,
    schema:
      Pipeline.DSPy.Options.Run.specs([
        :training_data,
        :optimizer,
        :optimizer_options,
        :dry_run,
        :metric,
        :metric_options,
        :lm,
        :reflection_lm,
        :seed,
        :budget_usd,
        :budget,
        :out,
        :run_id,
        :concurrency,
        :val_fraction,
        :steps,
        :signatures,
        :name,
        :execution_timeout_ms,
        :write_anyway,
        :report,
        :params,
        :executor,
        :on_progress,
        :timeout,
        :server
      ])
end
