defmodule Pipeline.DSPy.Executor.Reference.ClaudeExtract do
  @moduledoc """
  What `claude_extract` does to the LM's text before it becomes the step's result
  (step/claude_extract.ex at ff625ec, `extract_content/2`, 114-153): `extraction_config.format`
  processing (`json` wraps text that is not JSON as `{"content", "format"}`, `structured`,
  `summary` with `max_summary_length`, `markdown`; 232-278), then each `post_processing`
  operation (`extract_code_blocks`, `extract_recommendations`, `extract_links`,
  `extract_key_points`, `format_markdown`, `generate_summary`; 280-423), then the result: the
  provider's map with `text` replaced, `success: true`, `extraction_applied: true`, and with
  `include_metadata` an `extraction_metadata` map (431-468; its timestamp left out for
  determinism). `use_content_extractor` leaves the text as is, as pipeline_ex's live mode does
  (162-171).
  """

  alias Pipeline.DSPy.Executor.Reference.Engine
  alias Pipeline.DSPy.JSON

  @doc "The step's result (`result`: the provider's map, with `text`) after extraction."
  @spec apply(map, Engine.step()) :: map
  def apply(result, step) do
    config = step["extraction_config"] || %{}
    raw = result["text"]
    format = config["format"] || "text"
    processed = raw |> format(format, config) |> post(config["post_processing"] || [])
    base = %{"text" => processed, "success" => true, "extraction_applied" => true}

    base =
      if config["include_metadata"] do
        Map.put(base, "extraction_metadata", %{
          "format" => format,
          "use_content_extractor" => config["use_content_extractor"] || false,
          "post_processing_applied" => config["post_processing"] || [],
          "original_length" => String.length(raw),
          "processed_length" => String.length(processed),
          "step_name" => step["name"]
        })
      else
        base
      end

    Map.merge(result, base)
  end

  defp format(c, "json", _),
    do:
      if(match?({:ok, _}, JSON.decode(c)),
        do: c,
        else: JSON.encode!(%{"content" => c, "format" => "json"})
      )

  defp format(c, "structured", _),
    do: if(String.contains?(c, "##"), do: c, else: "## Extracted Content\n\n#{c}\n")

  defp format(c, "summary", config) do
    max = config["max_summary_length"] || 500
    if String.length(c) <= max, do: c, else: String.slice(c, 0, max - 3) <> "..."
  end

  defp format(c, "markdown", _),
    do: if(String.contains?(c, "#"), do: c, else: "# Extracted Content\n\n#{c}\n")

  defp format(c, _, _), do: c

  defp post(c, ops), do: Enum.reduce(ops, c, &op(&2, &1))

  defp op(c, "extract_code_blocks"),
    do:
      section(
        c,
        "Code Blocks Extracted",
        ~r/```[\s\S]*?```/ |> Regex.scan(c) |> Enum.map(&hd/1),
        "\n\n"
      )

  defp op(c, "extract_recommendations"),
    do:
      section(
        c,
        "Recommendations Extracted",
        c |> String.split("\n") |> Enum.filter(&(&1 =~ "recommend" or &1 =~ "suggest")),
        "\n"
      )

  defp op(c, "extract_links"),
    do:
      section(
        c,
        "Links Extracted",
        ~r/https?:\/\/[^\s]+/ |> Regex.scan(c) |> Enum.map(&"- #{hd(&1)}"),
        "\n"
      )

  defp op(c, "extract_key_points") do
    points =
      c
      |> String.split("\n")
      |> Enum.filter(&(String.starts_with?(&1, ["- ", "* "]) or Regex.match?(~r/^\d+\./, &1)))

    section(c, "Key Points Extracted", points, "\n")
  end

  defp op(c, "format_markdown"),
    do: if(String.contains?(c, "#"), do: c, else: "# Content\n\n#{c}\n")

  defp op(c, "generate_summary") do
    summary = c |> String.split(". ") |> Enum.take(3) |> Enum.join(". ") |> String.slice(0, 200)
    c <> "\n## Generated Summary\n#{summary}...\n"
  end

  defp op(c, _), do: c

  defp section(c, _title, [], _sep), do: c
  defp section(c, title, items, sep), do: c <> "\n## #{title}\n#{Enum.join(items, sep)}\n"
end
