defmodule Pipeline.DSPy.Options.Request do
  use Pipeline.DSPy.Options.Schema,
    context: "request/4",
    intro: """
    Options of the plain requests: `Pipeline.DSPy.request/4`, `request_async/4`,
    `current_config/2` and `flush_telemetry/2` (the table is generated from the schema they
    are validated with). A bad one returns
    `{:error, %Pipeline.DSPy.Error{reason: :invalid_option}}`.
    """,
    schema: [
      timeout: [
        type: :timeout,
        doc_default: "the instance's `:request_timeout`",
        doc: "how long to wait for the answer"
      ],
      progress: [
        type: :boolean,
        default: false,
        doc: "`request_async/4` only: also send `{:dspy_progress, ref, value}` messages"
      ],
      server: [
        type: :atom,
        doc_default: "`Pipeline.DSPy`",
        doc: "the instance (where the function takes it as an option)"
      ]
    ]
end
