defmodule Pipeline.DSPy.Options.Generate do
  use Pipeline.DSPy.Options.Schema,
    context: "generate/2",
    intro: """
    Options of `Pipeline.DSPy.generate/2` (the table is generated from the schema they are
    validated with). A bad one returns `{:error, %Pipeline.DSPy.Error{reason: :invalid_option}}`
    naming it.
    """,
    schema: [
      lm: [type: :string, doc_default: "the sidecar's default", doc: "LM spec"],
      run_id: [
        type: :string,
        doc: "attributes the call to a running optimization's meter and budget"
      ],
      temperature: [type: :non_neg_number, doc: "sampling temperature"],
      max_tokens: [type: :pos_integer, doc: "cap on the answer's tokens"],
      stop: [type: {:list, :string}, doc: "stop sequences"],
      rollout_id: [
        type: {:or, [:string, :integer]},
        doc: "part of the cache key: a new id gives a fresh sample"
      ],
      timeout: [
        type: :timeout,
        doc_default: "the instance's `:request_timeout`",
        doc: "how long to wait"
      ],
      server: [type: :atom, doc_default: "`Pipeline.DSPy`", doc: "the instance"]
    ]
end
