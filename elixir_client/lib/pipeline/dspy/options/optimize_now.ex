defmodule Pipeline.DSPy.Options.OptimizeNow do
  use Pipeline.DSPy.Options.Schema,
    context: "optimize_now/2",
    intro: """
    Options of `Pipeline.DSPy.optimize_now/2` and `Pipeline.DSPy.optimize_now_async/2` (the
    table is generated from the schema they are validated with). A bad one returns
    `{:error, %Pipeline.DSPy.Error{reason: :invalid_option}}` naming it.
    """,
    schema: [
      mode: [
        type: {:in, [:light, :full, "light", "full"]},
        doc_default: "`\"light\"`",
        doc: "how thorough the re-optimization is"
      ],
      on_progress: [
        type: {:fun, 1},
        doc: "called in the caller with each progress map (blocking form only)"
      ],
      timeout: [
        type: :timeout,
        doc_default: "30 minutes",
        doc: "how long to wait for the decision"
      ],
      server: [type: :atom, doc_default: "`Pipeline.DSPy`", doc: "the instance"]
    ]
end
