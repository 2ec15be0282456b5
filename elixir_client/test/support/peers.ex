defmodule Pipeline.DSPy.Test.Peers do
  @moduledoc false
  # Real BEAM nodes on this machine for the cluster tests, started with OTP's :peer and this
  # test run's code path (so they can run our executors).

  @doc "Makes this node distributed (starting epmd if needed)."
  def ensure_distributed! do
    unless Node.alive?() do
      {_, 0} = System.cmd("epmd", ["-daemon"])

      {:ok, _} =
        Node.start(:"dspy_test_#{System.unique_integer([:positive])}@127.0.0.1", :longnames)
    end

    :ok
  end

  @doc "Starts a peer named `name` (not linked to the caller); returns `{pid, node}`."
  def start!(name) do
    paths = Enum.flat_map(:code.get_path(), fn p -> [~c"-pa", p] end)

    {:ok, pid, node} =
      :peer.start(%{
        name: name,
        host: ~c"127.0.0.1",
        longnames: true,
        args: [~c"-setcookie", Atom.to_charlist(Node.get_cookie()) | paths]
      })

    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:elixir])
    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:logger])
    {pid, node}
  end

  def stop(pid) do
    :peer.stop(pid)
  catch
    :exit, _ -> :ok
  end
end
