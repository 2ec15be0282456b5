defmodule Pipeline.DSPy.ClusterTest do
  # Candidate executions spread over real BEAM nodes (OTP's :peer on this machine) while the
  # sidecar stays on this node; a node stopped mid-run and a node joining mid-run.
  use Pipeline.DSPy.SidecarCase, async: false

  alias Pipeline.DSPy.Executor.Cluster
  alias Pipeline.DSPy.Executor.Cluster.Pool
  alias Pipeline.DSPy.Test.Peers

  @moduletag timeout: 240_000

  describe "Pool (pure)" do
    test "least loaded first, ties to the least dispatched, then the first to join; a per-node cap" do
      p = Pool.new(2) |> Pool.add_node(:a) |> Pool.add_node(:b)
      {:ok, :a, p} = Pool.checkout(p)
      {:ok, :b, p} = Pool.checkout(p)
      {:ok, :a, p} = Pool.checkout(p)
      {:ok, :b, p} = Pool.checkout(p)
      assert Pool.checkout(p) == :full
      p = Pool.checkin(p, :b)
      assert {:ok, :b, p} = Pool.checkout(p)
      # a node that joins is the least loaded: it gets the next executions
      p = Pool.add_node(p, :c)
      assert {:ok, :c, p} = Pool.checkout(p)
      assert {:ok, :c, p} = Pool.checkout(p)
      assert Pool.checkout(p) == :full
      # exclusion (a retry never goes back to the node it lost)
      p = p |> Pool.checkin(:a) |> Pool.checkin(:c)
      assert {:ok, :c, _} = Pool.checkout(p, [:a])
    end

    test "removing a node counts what was running there; checkin of a removed node is ignored" do
      p = Pool.new(4) |> Pool.add_node(:a) |> Pool.add_node(:b)
      {:ok, n1, p} = Pool.checkout(p)
      {:ok, n2, p} = Pool.checkout(p)
      assert Enum.sort([n1, n2]) == [:a, :b]
      {p, 1} = Pool.remove_node(p, :a)
      assert Pool.nodes(p) == [:b]
      p = Pool.checkin(p, :a)
      assert Pool.stats(p).lost == 1
      assert Pool.stats(p).nodes == %{b: %{running: 1, dispatched: 1}}
      assert Pool.remove_node(p, :zz) == {p, 0}
    end

    test "side effects are found at any depth" do
      refute Cluster.side_effects?(%{"workflow" => %{"steps" => [%{"type" => "claude"}]}})

      assert Cluster.side_effects?(%{
               "workflow" => %{
                 "steps" => [%{"type" => "for_loop", "steps" => [%{"type" => "file_ops"}]}]
               }
             })

      assert Cluster.side_effects?(%{
               "workflow" => %{"steps" => [%{"type" => "claude", "output_to_file" => "x.md"}]}
             })
    end

    test "options are validated and documented from one schema" do
      assert_raise ArgumentError, ~r/:name is required/, fn -> Cluster.child_spec([]) end

      assert_raise ArgumentError, ~r/unknown option/, fn ->
        Cluster.child_spec(name: :x, per_nod: 3)
      end

      assert_raise ArgumentError, ~r/:per_node got 0/, fn ->
        Cluster.child_spec(name: :x, per_node: 0)
      end

      {:docs_v1, _, _, _, %{"en" => doc}, _, _} = Code.fetch_docs(Cluster)
      assert doc =~ "| `:per_node` | pos_integer | `8` |"
    end
  end

  describe "over real nodes" do
    setup do
      Peers.ensure_distributed!()
      out = tmp_dir("dspy_cluster")
      on_exit(fn -> File.rm_rf(out) end)
      {:ok, out: out}
    end

    defp peers(names) do
      for name <- names do
        {pid, node} = Peers.start!(:"#{name}_#{System.unique_integer([:positive])}")
        on_exit(fn -> Peers.stop(pid) end)
        {pid, node}
      end
    end

    defp optimize(name, out, extra \\ []) do
      ex = Path.join(repo_root(), "examples/code_analysis")

      Pipeline.DSPy.optimize(
        Path.join(ex, "pipeline.yaml"),
        [
          server: name,
          training_data: Path.join(ex, "training_data"),
          lm: "offline",
          seed: 3,
          out: out,
          optimizer: "BootstrapFewShot",
          concurrency: 8,
          timeout: 200_000
        ] ++ extra
      )
    end

    defp start_cluster(nodes, per_node, sleep_ms \\ 20, executor_opts \\ []) do
      cname = :"cluster_#{System.unique_integer([:positive])}"
      inner = {Pipeline.DSPy.Test.SlowReference, [sleep_ms: sleep_ms] ++ executor_opts}

      start_supervised!(
        {Cluster, name: cname, nodes: nodes, per_node: per_node, executor: inner},
        id: cname
      )

      {name, _} = start_instance(executor: {Cluster, cname})
      {cname, name}
    end

    defp program(r), do: Map.delete(r["program"], "metadata")

    # run id => node => executions, from the SlowReference notices received so far
    defp where_ran(acc \\ %{}) do
      receive do
        {:executing_run, run_id, node} ->
          where_ran(update_in(acc, [Access.key(run_id, %{}), Access.key(node, 0)], &(&1 + 1)))
      after
        0 -> acc
      end
    end

    # [:pipeline, :step, :stop] events of run `run_id` received so far (counted, kept for later calls)
    defp step_events(run_id) do
      n = Process.get({:step_events, run_id}, 0)

      n =
        Enum.reduce(Stream.repeatedly(fn -> nil end), n, fn _, acc ->
          receive do
            {:telemetry_event, [:pipeline, :step, :stop], _, %{run_id: id}, _} ->
              if id == run_id, do: acc + 1, else: bump_other(id) && acc
          after
            0 -> throw({:done, acc})
          end
        end)

      n
    catch
      {:done, acc} ->
        Process.put({:step_events, run_id}, acc)
        acc
    end

    defp bump_other(id) do
      Process.put({:step_events, id}, Process.get({:step_events, id}, 0) + 1)
      true
    end

    defp eventually(fun, tries \\ 100) do
      cond do
        fun.() -> true
        tries == 0 -> false
        true -> Process.sleep(20) && eventually(fun, tries - 1)
      end
    end

    test "a node stopped mid-run: its executions are retried elsewhere, the program is the one-node program",
         %{out: out} do
      [{_, w1}, {p2, w2}, {_, w3}] = peers([:w1, :w2, :w3])

      {c1, s1} = start_cluster([w1], 8)
      assert {:ok, one} = optimize(s1, Path.join(out, "one"))
      assert Map.keys(Cluster.stats(c1).nodes) == [w1]

      # Telemetry of remote executions reaches this node (a target registered like a forwarder).
      counter = :atomics.new(4, signed: true)
      target = {self(), counter, 1_000_000}
      :ok = Pipeline.DSPy.Telemetry.Forwarder.register_target(target)
      on_exit(fn -> Pipeline.DSPy.Telemetry.Forwarder.unregister_target(target) end)

      # w2 is stopped the moment an execution starts running there (it then sleeps 200 ms), so
      # an execution is certainly in flight on the node that dies.
      me = self()

      killer =
        spawn(fn ->
          receive do
            {:executing, ^w2, _} ->
              Peers.stop(p2)
              send(me, :stopped)
          end
        end)

      {c3, s3} = start_cluster([w1, w2, w3], 2, 200, notify: killer)

      assert {:ok, three} = optimize(s3, Path.join(out, "three"))
      assert_received :stopped
      stats = Cluster.stats(c3)

      assert stats.retries >= 1,
             "no execution was in flight on the stopped node: #{inspect(stats)}"

      assert stats.not_retried == 0
      refute Map.has_key?(stats.nodes, w2)
      assert program(three) == program(one)
      assert three["bestScore"] == one["bestScore"]
      assert three["baselineScore"] == one["baselineScore"]

      # Step events were emitted on the worker nodes only (the executor runs there).
      assert stats.telemetry_relayed > 0
      assert_receive {:telemetry_event, [:pipeline, :step, :stop], _, _, _}, 5_000
    end

    test "a node that joins mid-run receives work at once", %{out: out} do
      [{_, w1}] = peers([:j1])
      late_name = :"j2_#{System.unique_integer([:positive])}"
      late = :"#{late_name}@127.0.0.1"
      # Slow executions (one node, two at a time) keep the run going for seconds after the
      # late node is up; it is started by the first progress event, in its own process.
      {cname, name} = start_cluster([w1, late], 2, 150)
      me = self()
      counter = :atomics.new(1, signed: true)

      starter = fn _ ->
        if :atomics.add_get(counter, 1, 1) == 1 do
          spawn(fn ->
            {pid, ^late} = Peers.start!(late_name)
            send(me, {:late_peer, pid})
          end)
        end
      end

      assert {:ok, _} = optimize(name, out, on_progress: starter)
      assert_receive {:late_peer, pid}, 10_000
      on_exit(fn -> Peers.stop(pid) end)
      stats = Cluster.stats(cname)
      assert stats.nodes[late].dispatched > 0, "the late node got nothing: #{inspect(stats)}"
    end

    # Runs a mix task with the cluster flags over `w`; returns what it printed.
    defp mix_cluster_task(task, w, extra) do
      ex = Path.join(repo_root(), "examples/code_analysis")
      Mix.shell(Mix.Shell.Process)
      on_exit(fn -> Mix.shell(Mix.Shell.IO) end)

      on_exit(fn ->
        case Process.whereis(Pipeline.DSPy.CLI.Cluster) do
          nil -> :ok
          pid -> GenServer.stop(pid)
        end
      end)

      ExUnit.CaptureIO.capture_io(fn ->
        Mix.Task.rerun(
          task,
          [
            "--pipeline",
            Path.join(ex, "pipeline.yaml"),
            "--training-data",
            Path.join(ex, "training_data"),
            "--lm",
            "offline",
            "--cluster-nodes",
            Atom.to_string(w),
            "--cluster-per-node",
            "4"
          ] ++ extra
        )
      end)

      # the task stops its cluster when the run ends
      refute Process.whereis(Pipeline.DSPy.CLI.Cluster)
      printed(Mix.Shell.Process)
    end

    defp printed(_shell) do
      receive do
        {:mix_shell, :info, [line]} -> line <> "\n" <> printed(nil)
      after
        0 -> ""
      end
    end

    test "mix dspy.optimize --cluster-nodes runs the executions on those nodes", %{out: out} do
      [{_, w}] = peers([:m1])
      text = mix_cluster_task("dspy.optimize", w, ["--out", out])

      [_, n] =
        Regex.run(
          ~r/cluster: executions per node: #{Regex.escape(Atom.to_string(w))} (\d+);/,
          text
        )

      assert String.to_integer(n) > 0
      assert text =~ "retried after a node loss: 0"
    end

    test "mix dspy.evaluate --cluster-nodes scores on those nodes", %{out: _} do
      [{_, w}] = peers([:e1])
      text = mix_cluster_task("dspy.evaluate", w, [])

      [_, n] =
        Regex.run(
          ~r/cluster: executions per node: #{Regex.escape(Atom.to_string(w))} (\d+);/,
          text
        )

      [_, examples] = Regex.run(~r/score: [\d.]+ \(0-100\) on (\d+) examples, 0 failed/, text)
      # every example ran on the node, once
      assert String.to_integer(n) == String.to_integer(examples)
    end

    test "executor: per run: a run's executions go to its own cluster, the instance's other runs stay local",
         %{out: out} do
      [{_, w1}, {_, w2}] = peers([:r1, :r2])
      me = self()
      local = {Pipeline.DSPy.Test.SlowReference, sleep_ms: 20, notify_run: me}

      # the instance's executor: the Reference executor (behind a 20 ms delay that says where it ran)
      {name, _} = start_instance(executor: local)

      cluster = {Cluster, nodes: [w1, w2], per_node: 4, executor: local}

      # run A on the cluster while run B (no option) runs at the same time on this node
      {:ok, ref_b} =
        Pipeline.DSPy.optimize_async(
          Path.join(repo_root(), "examples/code_analysis/pipeline.yaml"),
          server: name,
          training_data: Path.join(repo_root(), "examples/code_analysis/training_data"),
          lm: "offline",
          seed: 3,
          out: Path.join(out, "b"),
          run_id: "run-b",
          concurrency: 4
        )

      assert {:ok, a} = optimize(name, Path.join(out, "a"), executor: cluster, concurrency: 8)
      assert_receive {:dspy_result, ^ref_b, {:ok, b}}, 120_000
      where = where_ran()

      # A was given no run id: one was made for it, and every execution of A ran on the peers
      assert a["runId"] =~ ~r/^run-\d{8}T\d{6}-[0-9a-f]{6}$/
      assert Map.keys(where[a["runId"]]) |> Enum.sort() == Enum.sort([w1, w2])
      assert where["run-b"] |> Map.keys() == [node()]
      # the same program either way (executions are deterministic)
      assert program(a) == program(b)

      # the cluster started for A was stopped with it
      sup = Pipeline.DSPy.run_executors(name)
      assert eventually(fn -> DynamicSupervisor.count_children(sup).active == 0 end)

      # a following run without the option runs here again
      assert {:ok, c} = optimize(name, Path.join(out, "c"))
      assert where_ran()[c["runId"]] |> Map.keys() == [node()]

      # a running cluster can be given to one run by name; it keeps running after
      cname = :"per_run_named_#{System.unique_integer([:positive])}"
      start_supervised!({Cluster, name: cname, nodes: [w2], per_node: 4, executor: local})
      assert {:ok, d} = optimize(name, Path.join(out, "d"), executor: {Cluster, cname})
      assert where_ran()[d["runId"]] |> Map.keys() == [w2]
      assert Cluster.stats(cname).nodes[w2].dispatched > 0
    end

    test "a run's cluster is stopped when the run is cancelled; a run id already running with its own executor is refused" do
      [{_, w}] = peers([:c1])
      me = self()
      slow = {Pipeline.DSPy.Test.SlowReference, sleep_ms: 2_000, notify_run: me}
      {name, _} = start_instance()
      sup = Pipeline.DSPy.run_executors(name)
      ex = Path.join(repo_root(), "examples/code_analysis")

      run = fn run_id ->
        Pipeline.DSPy.evaluate_async(Path.join(ex, "pipeline.yaml"),
          server: name,
          training_data: Path.join(ex, "training_data"),
          lm: "offline",
          run_id: run_id,
          executor: {Cluster, nodes: [w], per_node: 2, executor: slow}
        )
      end

      {:ok, ref} = run.("run-cancelled")
      assert_receive {:executing_run, "run-cancelled", ^w}, 20_000
      assert DynamicSupervisor.count_children(sup).active == 1
      [{_, cluster, _, _}] = DynamicSupervisor.which_children(sup)
      mon = Process.monitor(cluster)

      assert {:error, %Pipeline.DSPy.Error{reason: :invalid_option, message: msg}} =
               run.("run-cancelled")

      assert msg =~ "executor: run run-cancelled is already running"
      # the refused run started nothing that outlives it
      assert eventually(fn -> DynamicSupervisor.count_children(sup).active == 1 end)

      :ok = Pipeline.DSPy.cancel(name, ref)
      assert_receive {:dspy_result, ^ref, {:error, %{reason: :cancelled}}}
      assert_receive {:DOWN, ^mon, :process, ^cluster, :shutdown}, 5_000
      assert eventually(fn -> DynamicSupervisor.count_children(sup).active == 0 end)

      # the same id can run again (with its own executor) once the first has ended
      {:ok, ref2} = run.("run-cancelled")
      assert_receive {:executing_run, "run-cancelled", ^w}, 20_000
      :ok = Pipeline.DSPy.cancel(name, ref2)
    end

    test "step telemetry of a run's executions on worker nodes reaches this node's forwarders, each event once, the last ones too" do
      [{_, w1}, {_, w2}] = peers([:t1, :t2])
      {name, _} = start_instance()
      ex = Path.join(repo_root(), "examples/code_analysis")
      counter = :atomics.new(4, signed: true)
      target = {self(), counter, 1_000_000}
      :ok = Pipeline.DSPy.Telemetry.Forwarder.register_target(target)
      on_exit(fn -> Pipeline.DSPy.Telemetry.Forwarder.unregister_target(target) end)

      evaluate = fn run_id, extra ->
        Pipeline.DSPy.evaluate(
          Path.join(ex, "pipeline.yaml"),
          [
            server: name,
            training_data: Path.join(ex, "training_data"),
            lm: "offline",
            run_id: run_id,
            concurrency: 8
          ] ++ extra
        )
      end

      # the same run on this node, then on two worker nodes (a cluster started for the run)
      assert {:ok, _} = evaluate.("run-local", [])

      assert {:ok, _} =
               evaluate.("run-cluster", executor: {Cluster, nodes: [w1, w2], per_node: 4})

      steps = fn run_id -> step_events(run_id) end
      local = steps.("run-local")
      assert local > 0
      # the run's dispatcher stops with the run; what the relays still held arrives after
      assert eventually(fn -> steps.("run-cluster") >= local end, 250)
      Process.sleep(300)
      assert steps.("run-cluster") == local

      # two runs at once, each with its own cluster over the same workers: the workers' relays
      # serve both dispatchers, and still every event is re-emitted here once
      both = [executor: {Cluster, nodes: [w1, w2], per_node: 4}]
      task = Task.async(fn -> evaluate.("run-c2", both) end)
      assert {:ok, _} = evaluate.("run-c3", both)
      assert {:ok, _} = Task.await(task, 120_000)
      assert eventually(fn -> steps.("run-c2") >= local and steps.("run-c3") >= local end, 250)
      Process.sleep(300)
      assert {steps.("run-c2"), steps.("run-c3")} == {local, local}

      # nothing was dropped on the way (the emitters count their drops in slot 2)
      assert :atomics.get(counter, 2) == 0
    end

    test "node loss: a second loss of the same execution fails it; side_effects: :at_most_once never retries a workflow that writes files" do
      cases = [
        {:retry,
         %{
           "workflow" => %{
             "name" => "w",
             "steps" => [%{"name" => "a", "type" => "claude", "prompt" => []}]
           }
         }, "already retried once", %{retries: 1, not_retried: 1}},
        {:at_most_once,
         %{
           "workflow" => %{
             "name" => "w",
             "steps" => [%{"name" => "f", "type" => "file_ops", "operation" => "copy"}]
           }
         }, "side effects", %{retries: 0, not_retried: 1}}
      ]

      for {side_effects, config, why, counts} <- cases do
        peers = peers([:l1, :l2])
        by_node = Map.new(peers, fn {pid, node} -> {node, pid} end)

        # stops whichever node an execution starts running on
        killer =
          spawn(fn ->
            Stream.repeatedly(fn ->
              receive do
                {:executing, node, _} -> Peers.stop(by_node[node])
              end
            end)
            |> Stream.run()
          end)

        on_exit(fn -> Process.exit(killer, :kill) end)
        cname = :"loss_#{System.unique_integer([:positive])}"
        inner = {Pipeline.DSPy.Test.SlowReference, sleep_ms: 5_000, notify: killer}

        start_supervised!(
          {Cluster,
           name: cname,
           nodes: Map.keys(by_node),
           per_node: 1,
           executor: inner,
           side_effects: side_effects},
          id: cname
        )

        assert eventually(fn -> map_size(Cluster.stats(cname).nodes) == 2 end)
        ctx = %{executor_opts: cname, timeout_ms: 30_000, server: nil}
        assert {:error, msg} = Cluster.execute(config, %{}, ctx)
        assert msg =~ "was lost during the execution"
        assert msg =~ why
        stats = Cluster.stats(cname)
        assert Map.take(stats, [:retries, :not_retried]) == counts, inspect(stats)
      end
    end

    test "nodes: :connected: every connected node is a worker, from the moment it connects until it goes" do
      cname = :"connected_#{System.unique_integer([:positive])}"
      start_supervised!({Cluster, name: cname, nodes: :connected}, id: cname)
      [{pid, w}] = peers([:n1])
      assert eventually(fn -> w in Map.keys(Cluster.stats(cname).nodes) end)
      Peers.stop(pid)
      assert eventually(fn -> w not in Map.keys(Cluster.stats(cname).nodes) end)
    end

    test "nodes: {:pg, scope, group}: a node is a worker while a process of it is in the group" do
      [{_, w}] = peers([:g1])
      scope = :"dspy_pg_#{System.unique_integer([:positive])}"
      start_supervised!(%{id: scope, start: {:pg, :start_link, [scope]}})
      {:ok, _} = :erpc.call(w, :pg, :start, [scope])
      cname = :"pg_cluster_#{System.unique_integer([:positive])}"
      start_supervised!({Cluster, name: cname, nodes: {:pg, scope, :workers}}, id: cname)
      Process.sleep(300)
      assert Cluster.stats(cname).nodes == %{}

      member = :erpc.call(w, :erlang, :spawn, [:timer, :sleep, [:infinity]])
      :ok = :erpc.call(w, :pg, :join, [scope, :workers, member])
      assert eventually(fn -> Map.keys(Cluster.stats(cname).nodes) == [w] end)

      # executions go there
      {name, _} = start_instance()
      ex = Path.join(repo_root(), "examples/code_analysis")

      assert {:ok, _} =
               Pipeline.DSPy.evaluate(Path.join(ex, "pipeline.yaml"),
                 server: name,
                 training_data: Path.join(ex, "training_data"),
                 lm: "offline",
                 executor: {Cluster, cname}
               )

      assert Cluster.stats(cname).nodes[w].dispatched > 0

      # the member leaves: the node is no worker any more
      :erpc.call(w, :erlang, :exit, [member, :kill])
      assert eventually(fn -> Cluster.stats(cname).nodes == %{} end)
    end

    test "a bad executor: option is refused naming it, nothing is started", %{out: out} do
      {name, _} = start_instance()
      sup = Pipeline.DSPy.run_executors(name)

      for bad <- [
            :not_an_executor_module,
            {Cluster, per_node: 0},
            {Cluster, nodez: [:a@b]},
            {Cluster, :no_such_cluster_running},
            "Cluster"
          ] do
        assert {:error, %Pipeline.DSPy.Error{reason: :invalid_option, message: msg}} =
                 optimize(name, out, executor: bad)

        assert msg =~ "executor", "#{inspect(bad)}: #{msg}"

        assert {:error, %Pipeline.DSPy.Error{reason: :invalid_option}} =
                 Pipeline.DSPy.evaluate_async(%{"workflow" => %{"name" => "x", "steps" => []}},
                   server: name,
                   training_data: [],
                   executor: bad
                 )
      end

      assert DynamicSupervisor.count_children(sup).active == 0
    end
  end
end
