defmodule Pipeline.DSPy.CorpusTest do
  # Every workflow pipeline_ex ships (its YAML files, and the Markdown `yaml` blocks that are
  # whole workflows), read in place from ../shared/pipeline_ex/corpus (or $PIPELINE_EX_CORPUS):
  # loaded through the real sidecar (pipeline/load), and each accepted one run on the Reference
  # executor with a scripted LM (the sidecar's deterministic `dummy` LM, through lm/generate),
  # with the files its prompts read stubbed in a temporary workspace. Prints the counts.
  use Pipeline.DSPy.SidecarCase, async: true

  alias Pipeline.DSPy.Executor.Reference

  @moduletag timeout: 300_000

  defp corpus_dir do
    System.get_env("PIPELINE_EX_CORPUS") ||
      Path.expand("../shared/pipeline_ex/corpus", repo_root())
  end

  test "every accepted corpus workflow runs on the Reference executor or is refused before any work" do
    corpus = corpus_dir()

    if File.dir?(corpus) do
      run_corpus(corpus)
    else
      IO.puts("corpus suite skipped: no pipeline_ex corpus at #{corpus} (set PIPELINE_EX_CORPUS)")
    end
  end

  defp run_corpus(corpus) do
    {server, _} = start_instance()
    tmp = tmp_dir("corpus")
    File.mkdir_p!(tmp)
    on_exit(fn -> File.rm_rf(tmp) end)

    docs = documents(corpus, tmp)

    outcomes =
      Enum.map(docs, fn {label, path} -> {label, outcome(label, path, corpus, tmp, server)} end)

    report(outcomes)

    for {label, o} <- outcomes do
      case o do
        {:loader_refused, r} ->
          assert r["path"] != "" and r["type"] != "" and r["reason"] != "", label

        {:not_a_workflow, _} ->
          :ok

        {:refused, r} ->
          assert r.path =~ ~r/^workflow\.steps\[\d+\]/ and r.type != "" and r.reason != "", label

        {:ran, wire} ->
          assert wire["status"] in ["ok", "error"], label

          if wire["status"] == "error",
            do: assert(is_binary(wire["error"]) and wire["error"] != "", label)

          # every prompt sent is attributed to a predictor path
          assert Enum.all?(wire["calls"], &(is_binary(&1["path"]) and &1["path"] != "")), label
      end
    end

    yaml = for {label, o} <- outcomes, not String.contains?(label, "#yaml-"), do: o
    # pipeline_ex's own loader on its 58 YAML files (shared/NOTES.md §1): 5 without a
    # workflow root, 6 test_echo, 1 claude_session without a prompt, 6 plain-string prompts
    assert length(yaml) == 58
    assert Enum.count(yaml, &match?({:loader_refused, _}, &1)) == 18
  end

  # {label, yaml file}: the YAML files as they are, each Markdown yaml block written to tmp
  defp documents(corpus, tmp) do
    files =
      Path.wildcard(Path.join(corpus, "**/*")) |> Enum.filter(&File.regular?/1) |> Enum.sort()

    Enum.flat_map(files, fn f ->
      rel = Path.relative_to(f, corpus)

      cond do
        String.ends_with?(f, [".yaml", ".yml"]) ->
          [{rel, f}]

        String.ends_with?(f, ".md") ->
          ~r/^[ \t]*```ya?ml[^\n]*\n(.*?)^[ \t]*```/ms
          |> Regex.scan(File.read!(f), capture: :all_but_first)
          |> Enum.with_index(1)
          |> Enum.map(fn {[block], n} ->
            path = Path.join(tmp, "md_#{:erlang.phash2(rel)}_#{n}.yaml")
            File.write!(path, block)
            {"#{rel}#yaml-#{n}", path}
          end)

        true ->
          []
      end
    end)
  end

  defp outcome(label, path, corpus, tmp, server) do
    case Pipeline.DSPy.request(server, "pipeline/load", %{path: path}, timeout: 30_000) do
      {:ok, %{"accepted" => true, "config" => config}} ->
        run(label, config, corpus, tmp, server)

      {:ok, %{"config" => %{"workflow" => %{"steps" => steps}}, "refusal" => r}}
      when is_list(steps) ->
        {:loader_refused, r}

      {:ok, %{"refusal" => r}} ->
        if String.contains?(label, "#yaml-"), do: {:not_a_workflow, r}, else: {:loader_refused, r}

      {:error, e} ->
        if String.contains?(label, "#yaml-"),
          do: {:not_a_workflow, e.message},
          else: flunk("#{label}: pipeline/load failed: #{Exception.message(e)}")
    end
  end

  defp run(label, config, corpus, tmp, server) do
    # the workflow runs two levels down its workspace, so `../x` paths stay inside it
    root = Path.join(tmp, "ws_#{:erlang.phash2(label)}")
    ws = Path.join(root, "a/b")
    File.mkdir_p!(ws)
    stub_files(config, ws, root)

    # pipeline_file paths are relative to pipeline_ex's root, which the corpus mirrors
    load = fn abs ->
      in_corpus = Path.join(corpus, Path.relative_to(abs, ws))

      Pipeline.DSPy.load_workflow(if(File.exists?(in_corpus), do: in_corpus, else: abs),
        server: server
      )
    end

    fs = Path.join(root, "file_ops")
    File.mkdir_p!(fs)
    stub_file_ops(config, fs)

    ctx = %{
      server: server,
      lm: "dummy",
      run_id: nil,
      executor_opts: [base_dir: ws, load: load, workspace: fs]
    }

    case Reference.check(config, ctx) do
      {:refused, r} ->
        {:refused, r}

      :ok ->
        {:ok, wire} = Reference.execute(config, %{}, ctx)
        {:ran, wire}
    end
  end

  # Every relative `file` prompt part (at any depth, batch task files too) gets a stub file in
  # the workspace: the corpus ships its workflows, not the files they read.
  defp stub_files(data, ws, root) do
    for rel <- file_paths(data),
        rel != "",
        Path.type(rel) == :relative,
        not String.contains?(rel, "{{") do
      full = Path.expand(rel, ws)

      if String.starts_with?(full, root <> "/") and not File.exists?(full) do
        File.mkdir_p!(Path.dirname(full))
        File.write!(full, "(stub content of #{rel})\n")
      end
    end
  end

  # What file_ops steps read, stubbed in their workspace (a directory for `list`)
  defp stub_file_ops(%{"type" => "file_ops"} = s, fs) do
    reads =
      [s["source"] | if(s["operation"] in ["delete", "list"], do: [s["path"]], else: [])] ++
        for(%{"path" => p} = f <- List.wrap(s["files"]), Map.get(f, "must_exist", true), do: p)

    for p <- reads,
        is_binary(p),
        p != "",
        not String.contains?(p, "{{"),
        Path.type(p) == :relative do
      full = Path.expand(p, fs)

      cond do
        not String.starts_with?(full, fs <> "/") or File.exists?(full) ->
          :ok

        s["operation"] == "list" ->
          File.mkdir_p!(full)

        true ->
          File.mkdir_p!(Path.dirname(full)) && File.write!(full, "stub line 1\nstub line 2\n")
      end
    end
  end

  defp stub_file_ops(m, fs) when is_map(m),
    do: Enum.each(m, fn {_, v} -> stub_file_ops(v, fs) end)

  defp stub_file_ops(l, fs) when is_list(l), do: Enum.each(l, &stub_file_ops(&1, fs))
  defp stub_file_ops(_, _), do: :ok

  defp file_paths(%{"type" => "file", "path" => p} = m) when is_binary(p),
    do: [p | file_paths(Map.delete(m, "path"))]

  defp file_paths(%{"file" => p} = m) when is_binary(p),
    do: [p | file_paths(Map.delete(m, "file"))]

  defp file_paths(m) when is_map(m), do: Enum.flat_map(m, fn {_, v} -> file_paths(v) end)
  defp file_paths(l) when is_list(l), do: Enum.flat_map(l, &file_paths/1)
  defp file_paths(_), do: []

  defp report(outcomes) do
    by = Enum.group_by(outcomes, fn {_, o} -> elem(o, 0) end)
    count = fn k -> length(by[k] || []) end
    ran = by[:ran] || []
    {ok, failed} = Enum.split_with(ran, fn {_, {:ran, w}} -> w["status"] == "ok" end)
    calls = ran |> Enum.map(fn {_, {:ran, w}} -> length(w["calls"]) end) |> Enum.sum()

    lines =
      [
        "pipeline_ex corpus on the Reference executor (scripted LM):",
        "  workflows: #{length(outcomes) - count.(:not_a_workflow)} (#{count.(:not_a_workflow)} Markdown yaml blocks are not whole workflows)",
        "  refused by the loader (pipeline/load): #{count.(:loader_refused)}"
      ] ++
        categories(by[:loader_refused], fn {_, {_, r}} -> loader_category(r["reason"]) end) ++
        [
          "  accepted: #{count.(:refused) + length(ran)}",
          "  refused by the Reference executor before any work: #{count.(:refused)}"
        ] ++
        categories(by[:refused], fn {_, {_, r}} ->
          "#{r.type}: #{String.slice(r.reason, 0, 70)}"
        end) ++
        [
          "  ran: #{length(ran)} (#{length(ok)} ok, #{length(failed)} ended with status error, at the step where pipeline_ex fails; #{calls} LM calls)"
        ] ++
        categories(failed, fn {_, {:ran, w}} -> run_category(w["error"]) end)

    IO.puts(Enum.join(lines, "\n"))

    for {label, {:ran, w}} <- failed,
        System.get_env("CORPUS_VERBOSE"),
        do: IO.puts("    #{label}: #{String.slice(w["error"], 0, 200)}")
  end

  defp categories(nil, _), do: []

  defp categories(items, f) do
    items
    |> Enum.frequencies_by(f)
    |> Enum.sort_by(fn {k, n} -> {-n, k} end)
    |> Enum.map(fn {k, n} -> "      #{n} x #{k}" end)
  end

  defp loader_category(reason) do
    cond do
      reason =~ "missing required 'workflow'" ->
        "no workflow root"

      reason =~ ~r/invalid type '([^']*)'/ ->
        "step type pipeline_ex does not dispatch: " <>
          (Regex.run(~r/invalid type '([^']*)'/, reason) |> List.last())

      reason =~ "array of prompt parts" ->
        "plain-string prompt (config.ex:380-382)"

      reason =~ "missing required 'prompt'" ->
        "LLM step without a prompt"

      reason =~ "session_id" ->
        "session_context/claude_continue part without session_id"

      reason =~ "non-existent steps" ->
        "previous_response of an unknown step"

      reason =~ "this project's model" ->
        "accepted by pipeline_ex, not by our model: " <> String.slice(reason, 0, 60)

      true ->
        String.slice(reason, 0, 80)
    end
  end

  defp run_category(error) do
    error
    |> String.split("\n")
    |> Enum.take(2)
    |> Enum.join(" / ")
    |> String.replace(~r/'[^']*'/, "'…'")
    |> String.replace(~r/File not found: \S+/, "File not found: …")
    |> String.replace(~r/cannot read workflow .*/, "not in the corpus")
    |> String.replace(~r/Workflow: .*/, "")
    |> String.slice(0, 110)
  end
end
