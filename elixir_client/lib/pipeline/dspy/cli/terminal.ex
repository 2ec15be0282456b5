defmodule Pipeline.DSPy.CLI.Terminal do
  @moduledoc false
  # What the command-line tasks need to know about the terminal. Under `-noshell` (how mix
  # runs) `:io.columns/0` and friends cannot tell; the device behind the BEAM's own file
  # descriptors can (Linux: /proc). stty runs through a port, whose child has no controlling
  # terminal (erl_child_setup calls setsid, so no /dev/tty): it is pointed at the device.

  @doc "The terminal device behind the BEAM's file descriptor `fd` (0 stdin, 1 stdout), or nil."
  @spec device(non_neg_integer) :: String.t() | nil
  def device(fd) do
    case File.read_link("/proc/self/fd/#{fd}") do
      {:ok, "/dev/pts/" <> _ = device} -> device
      {:ok, "/dev/tty" <> _ = device} -> device
      _ -> nil
    end
  end

  @doc "Whether stdout is a terminal."
  @spec stdout?() :: boolean
  def stdout?, do: device(1) != nil

  @doc "The width of the terminal stdout is (else `COLUMNS`, else 100)."
  @spec columns() :: pos_integer
  def columns do
    from_tty =
      with device when is_binary(device) <- device(1),
           {size, 0} <- stty(device, ["size"]),
           [_rows, cols] <- String.split(size),
           {n, ""} when n > 0 <- Integer.parse(cols),
           do: n,
           else: (_ -> nil)

    from_tty || env_columns() || 100
  end

  defp env_columns do
    with c when is_binary(c) <- System.get_env("COLUMNS"),
         {n, ""} when n > 0 <- Integer.parse(c),
         do: n,
         else: (_ -> nil)
  end

  @doc "Runs `stty ARGS` on `device`: `{output, exit_status}`."
  @spec stty(String.t(), [String.t()]) :: {String.t(), non_neg_integer}
  def stty(device, args) do
    command = Enum.map_join(["stty" | args], " ", &shell_quote/1) <> " < " <> shell_quote(device)
    System.cmd("/bin/sh", ["-c", command], stderr_to_stdout: true)
  rescue
    _ -> {"", 1}
  end

  defp shell_quote(arg), do: "'" <> String.replace(arg, "'", "'\\''") <> "'"
end
