defmodule Pipeline.DSPy.Test.SilentLM do
  @moduledoc false
  # An OpenAI-compatible endpoint on loopback that accepts every request and never answers:
  # a run whose LM is `spec/1` stays in flight (its first LM call pending) until cancelled,
  # whatever the machine's speed.

  def start do
    {:ok, listen} =
      :gen_tcp.listen(0, [:binary, active: false, reuseaddr: true, ip: {127, 0, 0, 1}])

    {:ok, port} = :inet.port(listen)
    pid = spawn(fn -> hold(listen, []) end)
    :ok = :gen_tcp.controlling_process(listen, pid)
    %{pid: pid, port: port}
  end

  def spec(%{port: port}), do: "openai:http://127.0.0.1:#{port}/v1#silent"

  def stop(%{pid: pid}), do: Process.exit(pid, :kill)

  defp hold(listen, held) do
    case :gen_tcp.accept(listen) do
      {:ok, socket} -> hold(listen, [socket | held])
      {:error, _} -> :ok
    end
  end
end
