defmodule Pipeline.DSPy.CLI.Report do
  @moduledoc false
  # What a finished run says to a person: the scores with their metric and scale, the lift
  # with its interval, whether the config was written and why, and what was spent. Reads the
  # result's `verdict` (src/protocol/run.ts) and falls back to the bare scores without it.

  import Pipeline.DSPy.CLI.Progress, only: [score: 1, usd: 1]

  @doc "The end table of an optimize result."
  @spec table(map) :: String.t()
  def table(r) when is_map(r) do
    v = if is_map(r["verdict"]), do: r["verdict"]

    [
      resumed(r),
      heading(v),
      row("baseline", score(field(v, r, "baselineScore"))),
      row("best", score(field(v, r, "bestScore"))),
      lift(v, r),
      verdict(v),
      cut_short(r),
      "",
      usage(r["usage"] || %{}),
      trials(r["trials"]),
      pareto(r["pareto"]),
      r["optimizedYamlPath"] && "  optimized pipeline: #{r["optimizedYamlPath"]}",
      r["programPath"] && "  program: #{r["programPath"]}",
      r["reportPath"] && "  report: #{r["reportPath"]}"
    ]
    |> Enum.filter(&is_binary/1)
    |> Enum.join("\n")
  end

  defp field(nil, r, key), do: r[key]
  defp field(v, r, key), do: if(is_number(v[key]), do: v[key], else: r[key])

  defp resumed(%{"resumed" => %{"done" => done, "total" => total}} = r),
    do: "resumed run #{r["runId"]}: #{done} of #{total} units of work were already done\n"

  defp resumed(_), do: nil

  defp heading(nil), do: "Result (scores 0-100)"

  defp heading(v) do
    held_out = if is_integer(v["heldOut"]), do: "; #{v["heldOut"]} held-out examples", else: ""
    "Result: metric #{v["metric"]} (scale #{v["scale"]}#{held_out})"
  end

  defp row(label, value), do: "  #{String.pad_trailing(label, 9)} #{String.pad_leading(value, 7)}"

  defp lift(v, r) do
    base = field(v, r, "baselineScore")
    best = field(v, r, "bestScore")
    lift = (v && v["lift"]) || (is_number(base) and is_number(best) and best - base)

    if is_number(lift) do
      interval =
        case v && v["ci95"] do
          [lo, hi] when is_number(lo) and is_number(hi) ->
            "   95% interval [#{signed(lo)}, #{signed(hi)}]"

          _ ->
            ""
        end

      row("lift", signed(lift)) <> interval
    end
  end

  defp signed(x) when x >= 0, do: "+" <> score(x)
  defp signed(x), do: score(x)

  defp verdict(nil), do: nil

  defp verdict(v) do
    improved =
      if v["improved"], do: "better than the baseline beyond noise", else: "no lift beyond noise"

    written = if v["written"], do: "config written", else: "nothing written"
    "  verdict   #{improved}; #{written}#{if is_binary(v["reason"]), do: ": #{v["reason"]}"}"
  end

  defp cut_short(%{"cutShort" => true} = r),
    do: "  cut short: #{r["cutShortReason"] || "budget or cancellation"}"

  defp cut_short(_), do: nil

  defp usage(u) do
    sent =
      if is_integer(u["sent"]),
        do: "#{u["sent"]} sent to the LM",
        else: "#{u["calls"] || 0} (cache hits included)"

    aborted = if is_integer(u["aborted"]), do: ", #{u["aborted"]} of them aborted", else: ""
    hits = if is_integer(u["cacheHits"]), do: "; #{u["cacheHits"]} cache hits", else: ""
    "  LM calls: #{sent}#{aborted}#{hits}   cost: $#{usd(u["costUsd"] || 0)}"
  end

  # Only optimizers with trials (random search candidates, MIPROv2 trials) report any.
  defp trials([_ | _] = trials), do: "  trials: #{length(trials)}"
  defp trials(_), do: nil

  # GEPA: the quality/cost Pareto front (cheapest first), the candidate chosen and by what rule.
  defp pareto(%{"front" => [_ | _] = front} = p) do
    calls = p["metricCalls"] || %{}

    head =
      "  Pareto front (quality vs cost per execution; #{p["accepted"] || 0} of #{p["iterations"] || 0} proposals accepted, " <>
        "#{calls["used"] || 0} of #{calls["max"] || 0} metric calls):"

    rows =
      Enum.map(front, fn c ->
        mark = if c["candidate"] == p["selected"], do: "  <- selected (#{p["rule"]})", else: ""

        "    candidate #{String.pad_leading(to_string(c["candidate"]), 3)}  score #{String.pad_leading(score(c["score"]), 6)}" <>
          "  cost $#{usd(c["costUsd"] || 0)}  #{round(c["tokens"] || 0)} tokens#{mark}"
      end)

    notes = Enum.map(p["warnings"] || [], &"    warning: #{&1}")
    Enum.join([head | rows] ++ notes, "\n")
  end

  defp pareto(_), do: nil

  @doc "What a dry run would spend."
  @spec dry_run_table(map) :: String.t()
  def dry_run_table(e) do
    c = e["calls"]
    cost = e["costUsd"]

    [
      "dry run: nothing was executed or spent",
      "  LM calls   scoring before #{c["baseline"]}, optimizer #{c["optimizer"]["expected"]} (at most #{c["optimizer"]["max"]}), scoring after #{c["final"]}",
      "  total      #{c["total"]["expected"]} expected, #{c["total"]["max"]} at most",
      "  tokens     ~#{e["tokens"]["input"]} in, ~#{e["tokens"]["output"]} out (optimizer part)",
      if(cost,
        do:
          "  cost       ~$#{usd(cost["expected"])} expected, $#{usd(cost["max"])} at most (optimizer part)",
        else: "  cost       unknown: the LM is not priced"
      )
    ]
    |> Enum.join("\n")
  end
end
