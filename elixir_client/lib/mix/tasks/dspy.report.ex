defmodule Mix.Tasks.Dspy.Report do
  @shortdoc "Writes the self-contained HTML report of an optimization run"
  @moduledoc """
  Writes one HTML file that needs no server and fetches nothing when opened: the run's score
  per trial against its baseline, LM calls and cost over the run by phase, the quality/cost
  front (GEPA), the held-out examples that flipped, each prompt's diff and demos as written
  into the config, and the run's settings.

      mix dspy.report RUN_ID [--out DIR] [--file FILE]
      mix dspy.report --learning [--data-dir DIR] [--file FILE]

  `RUN_ID` is the id `mix dspy.optimize` printed; its directory is `DIR/.elexirion/runs/RUN_ID`
  where `DIR` is the `--out` the run was given (default: the current directory). The report is
  written atomically to `--file` (default: `report.html` in the run directory) and its path is
  printed.

  `--learning` writes the continuous-learning view of a data directory instead (the ledger's
  promotions and rejections with their intervals and cost, and the success rate per pipeline
  per day): `--data-dir`, else `ELEXIRION_DATA_DIR`, else `./.elexirion`; default file
  `DATA_DIR/learning-report.html`. It only reads, so it works while the app runs.
  """

  use Mix.Task

  alias Pipeline.DSPy.Options

  @switches [out: :string, file: :string, learning: :boolean, data_dir: :string, help: :boolean]

  @impl true
  def run(args) do
    {opts, rest, invalid} = OptionParser.parse(args, strict: @switches)

    cond do
      opts[:help] ->
        Mix.shell().info(@moduledoc)

      invalid != [] ->
        Mix.raise(
          "mix dspy.report: invalid option(s): #{Enum.map_join(invalid, ", ", &elem(&1, 0))}"
        )

      opts[:learning] && rest != [] ->
        Mix.raise("mix dspy.report: give either RUN_ID or --learning, not both")

      opts[:learning] ->
        dir = opts[:data_dir] || System.get_env("ELEXIRION_DATA_DIR") || ".elexirion"
        report!(["--learning", Path.expand(dir)] ++ file_args(opts))

      match?([_], rest) ->
        [run_id] = rest

        unless run_id =~ ~r/\A[A-Za-z0-9._-]{1,128}\z/ and run_id not in [".", ".."],
          do: Mix.raise("mix dspy.report: #{inspect(run_id)} is not a run id")

        run_dir = Path.expand(Path.join([opts[:out] || ".", ".elexirion", "runs", run_id]))

        unless File.dir?(run_dir),
          do: Mix.raise("mix dspy.report: no run #{run_id} under #{Path.dirname(run_dir)}")

        report!([run_dir] ++ file_args(opts))

      true ->
        Mix.raise(
          "mix dspy.report: expected one RUN_ID (or --learning); see mix help dspy.report"
        )
    end
  end

  defp file_args(opts), do: if(f = opts[:file], do: ["--out", Path.expand(f)], else: [])

  defp report!(args) do
    node = System.find_executable("node") || Mix.raise("mix dspy.report: node not found on PATH")
    script = Application.get_env(:pipeline_dspy, :script) || Options.default_script()

    unless File.regular?(script),
      do:
        Mix.raise(
          "mix dspy.report: #{script} is missing: run `npm run build` at the repository root"
        )

    case System.cmd(node, [script, "report" | args], stderr_to_stdout: true) do
      {out, 0} -> Mix.shell().info("report: " <> String.trim(out))
      {out, _} -> Mix.raise("mix dspy.report: " <> String.trim(out))
    end
  end
end
