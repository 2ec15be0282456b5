defmodule Pipeline.DSPy.MixProject do
  use Mix.Project

  def project do
    [
      app: :pipeline_dspy,
      version: "0.1.0",
      elixir: "~> 1.14",
      elixirc_paths: elixirc_paths(Mix.env()),
      start_permanent: Mix.env() == :prod,
      deps: [],
      docs: [main: "Pipeline.DSPy"]
    ]
  end

  # No application callback: the library starts nothing by itself; the host app adds
  # `{Pipeline.DSPy, opts}` to its own supervision tree.
  def application do
    [extra_applications: [:logger]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]
end
