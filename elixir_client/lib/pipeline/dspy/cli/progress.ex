defmodule Pipeline.DSPy.CLI.Progress do
  @moduledoc false
  # The live display of a run's `$/progress`: on a terminal one line rewritten in place; when
  # not (a pipe, a log file, CI) or with --verbose (logs on the same terminal) plain lines,
  # one per phase step, so nothing is overwritten and nothing interleaves mid-line.

  defstruct mode: :lines, last: nil, columns: 100, dirty: false

  @typedoc """
  A display: `mode`, the key of the last plain line printed (`:lines`), the terminal's width
  and whether a live line is on screen (`:tty`).
  """
  @type t :: %__MODULE__{
          mode: :tty | :lines,
          last: {term, non_neg_integer | nil, term} | nil,
          columns: pos_integer,
          dirty: boolean
        }

  @width 24

  @doc "A display for `mode` (`:tty` or `:lines`)."
  @spec new(:tty | :lines) :: t
  def new(:tty), do: %__MODULE__{mode: :tty, columns: Pipeline.DSPy.CLI.Terminal.columns()}
  def new(:lines), do: %__MODULE__{mode: :lines}

  @doc "Shows one progress value (a map from the sidecar)."
  @spec update(t, term) :: t
  def update(%__MODULE__{} = d, p) when is_map(p) do
    case p do
      %{"phase" => phase, "message" => message}
      when phase in ["resume", "cut_short", "warning"] and is_binary(message) ->
        note(d, message)

      %{"phase" => "dry_run"} ->
        d

      _ ->
        show(d, p)
    end
  end

  def update(d, _other), do: d

  defp show(%{mode: :tty} = d, p) do
    text = String.slice(line(p), 0, d.columns - 1)
    IO.write(:stdio, "\r\e[2K" <> text)
    %{d | dirty: true}
  end

  defp show(%{mode: :lines} = d, p) do
    key = line_key(p)

    if key == d.last do
      d
    else
      IO.write(:stdio, line(p) <> "\n")
      %{d | last: key}
    end
  end

  # A plain line per phase, per quarter of its count and per message: enough to follow a run
  # in a log without one line per example.
  defp line_key(p) do
    quarter =
      case {p["trial"], p["totalTrials"]} do
        {t, n} when is_integer(t) and is_integer(n) and n > 0 -> div(min(t, n) * 4, n)
        _ -> nil
      end

    {p["phase"], quarter, p["message"]}
  end

  @doc "Prints a line that stays (clearing the live line first on a terminal)."
  @spec note(t, String.t()) :: t
  def note(%__MODULE__{} = d, text) do
    d = finish(d)
    IO.write(:stdio, text <> "\n")
    d
  end

  @doc "Ends the live line so what follows starts on a clean line."
  @spec finish(t) :: t
  def finish(%__MODULE__{mode: :tty, dirty: true} = d) do
    IO.write(:stdio, "\r\e[2K")
    %{d | dirty: false}
  end

  def finish(d), do: d

  # What the count of each phase counts (`trial`/`totalTrials` are the optimizer's generic
  # counter: examples for bootstrap and scoring, candidates for random search, trials only
  # for MIPROv2's search).
  @units %{
    "bootstrap" => "examples",
    "baseline" => "scored",
    "final" => "scored",
    "evaluate" => "scored",
    "full_eval" => "scored",
    "candidate" => "candidates",
    "demos" => "demo sets",
    "propose" => "proposals",
    "trial" => "trials"
  }

  @doc "The progress line of one value."
  @spec line(map) :: String.t()
  def line(p) when is_map(p) do
    phase = p["phase"] || "running"
    trial = p["trial"]
    total = p["totalTrials"]

    count =
      if is_integer(trial) and is_integer(total) and total > 0 do
        filled = min(@width, div(min(trial, total) * @width, total))

        "[" <>
          String.duplicate("#", filled) <>
          String.duplicate(" ", @width - filled) <>
          "] #{trial}/#{total} #{@units[phase] || "done"}"
      end

    [
      String.pad_trailing(phase, 9),
      count,
      is_number(p["bestScore"]) && "best #{score(p["bestScore"])}",
      is_number(p["score"]) && "score #{score(p["score"])}",
      "LM calls #{p["calls"] || 0}",
      "$#{usd(p["costUsd"] || 0)}"
    ]
    |> Enum.filter(&is_binary/1)
    |> Enum.join("  ")
  end

  @doc false
  @spec score(number | term) :: String.t()
  def score(x) when is_number(x), do: :erlang.float_to_binary(x / 1, decimals: 1)
  def score(_), do: "-"

  @doc false
  @spec usd(number) :: String.t()
  def usd(x) when is_number(x), do: :erlang.float_to_binary(x / 1, decimals: 4)
end
