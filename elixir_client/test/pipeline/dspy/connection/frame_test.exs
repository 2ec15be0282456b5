defmodule Pipeline.DSPy.Connection.FrameTest do
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.JSON
  alias Pipeline.DSPy.Connection.Frame

  defp decode(io), do: JSON.decode!(IO.iodata_to_binary(io))

  test "a request wraps already-encoded params; nil params are left out" do
    assert decode(Frame.request(3, "optimize", ~s({"seed":1}))) ==
             %{"jsonrpc" => "2.0", "id" => 3, "method" => "optimize", "params" => %{"seed" => 1}}

    assert decode(Frame.request(4, "ping", nil)) == %{
             "jsonrpc" => "2.0",
             "id" => 4,
             "method" => "ping"
           }
  end

  test "a notification has no id; the method is JSON-escaped" do
    assert decode(Frame.notification(~s(we"ird), ~s({"a":[1]}))) ==
             %{"jsonrpc" => "2.0", "method" => ~s(we"ird), "params" => %{"a" => [1]}}

    assert decode(Frame.notification("exit", nil)) == %{"jsonrpc" => "2.0", "method" => "exit"}
  end

  test "replies to the sidecar's requests keep its id as received (number or string)" do
    assert decode(Frame.result("7", ~s({"status":"ok"}))) ==
             %{"jsonrpc" => "2.0", "id" => 7, "result" => %{"status" => "ok"}}

    assert decode(Frame.error(~s("r-1"), -32000, "timed out", %{reason: "timeout"})) ==
             %{
               "jsonrpc" => "2.0",
               "id" => "r-1",
               "error" => %{
                 "code" => -32000,
                 "message" => "timed out",
                 "data" => %{"reason" => "timeout"}
               }
             }

    # no data: no "data" member
    assert decode(Frame.error("null", -32700, "Parse error", nil)) ==
             %{
               "jsonrpc" => "2.0",
               "id" => nil,
               "error" => %{"code" => -32700, "message" => "Parse error"}
             }
  end

  test "a progress token is spliced into an object, or makes one" do
    assert decode(Frame.put_progress_token(~s({"a":1}), "p1")) == %{
             "a" => 1,
             "progressToken" => "p1"
           }

    assert decode(Frame.put_progress_token([?{, ?}], "p2")) == %{"progressToken" => "p2"}
    assert decode(Frame.put_progress_token(nil, "p3")) == %{"progressToken" => "p3"}
    # not an object: left as it is (the sidecar refuses it, naming the params)
    assert decode(Frame.put_progress_token("[1]", "p4")) == [1]
  end
end
