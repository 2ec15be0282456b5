defmodule Pipeline.DSPy.VectorReplayer do
  @moduledoc false
  # Replays a golden vector (docs/CONTRACTS.md) against a fresh real sidecar over a raw Port
  # with {:packet, 4} framing: the bytes go exactly as the vector says (sendRaw/sendBase64
  # included), which the client API would never produce.
  alias Pipeline.DSPy.JSON

  @recv_timeout 5_000

  def vectors_dir, do: Path.join(Pipeline.DSPy.SidecarCase.repo_root(), "protocol/vectors")

  def vector_files, do: vectors_dir() |> Path.join("*.json") |> Path.wildcard() |> Enum.sort()

  def protocol_version do
    case File.read(Path.join(Pipeline.DSPy.SidecarCase.repo_root(), "protocol/VERSION")) do
      {:ok, v} -> String.trim(v)
      _ -> "1.0"
    end
  end

  @doc "Returns :ok or {:error, description}."
  def replay(file) do
    vector = file |> File.read!() |> JSON.decode!()

    port =
      Port.open({:spawn_executable, Pipeline.DSPy.SidecarCase.node_exe()}, [
        :binary,
        {:packet, 4},
        :exit_status,
        :use_stdio,
        args: [Pipeline.DSPy.SidecarCase.cli_path(), "serve", "--log-level", "silent"]
      ])

    try do
      init =
        if vector["initialize"] do
          send_frame(port, %{
            jsonrpc: "2.0",
            id: "vector-init",
            method: "initialize",
            params: %{
              protocolVersion: protocol_version(),
              clientInfo: %{name: "vectors", version: "1"}
            }
          })

          case recv(port) do
            {:ok, %{"id" => "vector-init", "result" => _}} -> :ok
            other -> {:error, "#{vector["name"]}: handshake failed: #{inspect(other)}"}
          end
        else
          :ok
        end

      with :ok <- init do
        vector["steps"]
        |> Enum.with_index()
        |> Enum.reduce_while(:ok, fn {step, i}, :ok ->
          case run_step(port, step, i) do
            :ok -> {:cont, :ok}
            {:error, why} -> {:halt, {:error, "#{vector["name"]} step #{i}: #{why}"}}
          end
        end)
      end
    after
      try do
        Port.close(port)
      rescue
        _ -> :ok
      end
    end
  end

  defp run_step(port, step, i) do
    cond do
      Map.has_key?(step, "send") -> send_frame(port, step["send"])
      Map.has_key?(step, "sendRaw") -> Port.command(port, step["sendRaw"])
      Map.has_key?(step, "sendBase64") -> Port.command(port, Base.decode64!(step["sendBase64"]))
    end

    case step["expect"] do
      nil ->
        ping_id = "vector-ping-#{i}"
        send_frame(port, %{jsonrpc: "2.0", id: ping_id, method: "ping"})

        case recv(port) do
          {:ok, %{"id" => ^ping_id}} -> :ok
          {:ok, other} -> {:error, "expected no reply, got #{JSON.encode!(other)}"}
          {:error, why} -> {:error, why}
        end

      expect ->
        case recv(port) do
          {:ok, actual} ->
            if match?(expect, actual, step["unordered"] == true),
              do: :ok,
              else: {:error, "expected #{JSON.encode!(expect)}, got #{JSON.encode!(actual)}"}

          {:error, why} ->
            {:error, why}
        end
    end
  end

  defp send_frame(port, term), do: Port.command(port, JSON.encode!(term))

  # Skips notifications the sidecar may send on its own (log, $/progress).
  defp recv(port) do
    receive do
      {^port, {:data, bin}} ->
        case JSON.decode(bin) do
          {:ok, %{"method" => _} = m} when not is_map_key(m, "id") -> recv(port)
          {:ok, v} -> {:ok, v}
          {:error, e} -> {:error, "sidecar sent invalid JSON: #{Exception.message(e)}"}
        end

      {^port, {:exit_status, s}} ->
        {:error, "sidecar exited with status #{s}"}
    after
      @recv_timeout -> {:error, "no reply within #{@recv_timeout} ms"}
    end
  end

  @doc "The vector matching rule: \"$any\" matches any present value; extra keys fail except error.data."
  def match?(expect, actual, unordered \\ false)

  def match?(expect, actual, true) when is_list(expect) and is_list(actual) do
    length(expect) == length(actual) and multiset(expect, actual)
  end

  def match?(expect, actual, _), do: m(expect, actual, nil)

  defp multiset([], []), do: true

  defp multiset([e | rest], actual) do
    case Enum.find_index(actual, &m(e, &1, nil)) do
      nil -> false
      i -> multiset(rest, List.delete_at(actual, i))
    end
  end

  defp m("$any", _actual, _key), do: true

  defp m(e, a, key) when is_map(e) and is_map(a) do
    extra = Map.keys(a) -- Map.keys(e)
    extra = if key == "error", do: extra -- ["data"], else: extra
    extra == [] and Enum.all?(e, fn {k, v} -> Map.has_key?(a, k) and m(v, a[k], k) end)
  end

  defp m(e, a, _) when is_list(e) and is_list(a),
    do: length(e) == length(a) and Enum.all?(Enum.zip(e, a), fn {x, y} -> m(x, y, nil) end)

  defp m(e, a, _) when is_number(e) and is_number(a), do: e == a
  defp m(e, a, _), do: e === a
end
