defmodule Pipeline.DSPy.Connection.SidecarTest do
  # How the sidecar's command line is made (starting and reaping run in connection_test.exs
  # and sidecar_test.exs against real processes).
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.Connection.Sidecar

  defp opts(over),
    do:
      Map.merge(
        %{
          command: nil,
          node: "node",
          script: "/x/dist/cli.js",
          args: ["serve"],
          stderr: :inherit
        },
        Map.new(over)
      )

  test "node, script and args by default, node found on PATH" do
    assert {node, ["/x/dist/cli.js", "serve"]} = Sidecar.command(opts([]))
    assert node == System.find_executable("node")
  end

  test ":command replaces node and script" do
    assert Sidecar.command(opts(command: ["/bin/echo", "a"])) == {"/bin/echo", ["a"]}
  end

  test "stderr to a file goes through /bin/sh with exec (same OS pid), the path in the environment" do
    assert {"/bin/sh", ["-c", script, "/bin/echo", "a"]} =
             Sidecar.command(opts(command: ["/bin/echo", "a"], stderr: {:file, "/tmp/x.log"}))

    assert script == ~s(exec "$0" "$@" 2>>"$PIPELINE_DSPY_STDERR")
  end

  test "an executable not on PATH is refused, naming it" do
    assert_raise ArgumentError, ~r/no-such-exe-123/, fn ->
      Sidecar.command(opts(command: ["no-such-exe-123"]))
    end
  end
end
